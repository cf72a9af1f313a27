using System.Text;
using Unikernel.Devices.Unix;

namespace Unikernel.Devices.Tests;

/// <summary>DirectoryKeyValueStore (its own small directory walk) against Directory.EnumerateFiles and File.ReadAllBytes.</summary>
public sealed class DirectoryStoreTests
{
    [Fact]
    public void Keys_are_the_files_below_the_root_relative_slash_separated_in_ordinal_order()
    {
        var root = Directory.CreateTempSubdirectory("dirstore-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "b.zone"), "b");
            File.WriteAllText(Path.Combine(root, "A.zone"), "A");
            File.WriteAllText(Path.Combine(root, ".hidden"), "hidden");
            Directory.CreateDirectory(Path.Combine(root, "sub", "deeper"));
            Directory.CreateDirectory(Path.Combine(root, "empty"));
            File.WriteAllText(Path.Combine(root, "sub", "c.zone"), "c");
            File.WriteAllBytes(Path.Combine(root, "sub", "deeper", "d"), [0, 1, 2, 255]);
            File.WriteAllText(Path.Combine(root, "sub", "deeper", "e.zone"), "");

            // What the store was before it walked the directory itself: EnumerateFiles, GetRelativePath, ordinal order.
            var expected = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .Select(path => Path.GetRelativePath(root, path).Replace(Path.DirectorySeparatorChar, '/'))
                .Order(StringComparer.Ordinal)
                .ToArray();
            Assert.Equal([".hidden", "A.zone", "b.zone", "sub/c.zone", "sub/deeper/d", "sub/deeper/e.zone"], expected);

            foreach (var given in new[] { root, root + "/", Path.GetRelativePath(Environment.CurrentDirectory, root) })
            {
                var store = new DirectoryKeyValueStore(given);
                Assert.Equal(given, store.Root);
                Assert.Equal(expected, store.Keys);
                foreach (var key in expected)
                {
                    Assert.True(store.TryGet(key, out var value));
                    Assert.Equal(File.ReadAllBytes(Path.Combine(root, key)), value.ToArray());
                }
                Assert.False(store.TryGet("sub", out _));
                Assert.False(store.TryGet("missing", out _));
            }
            Assert.Equal("c", Encoding.UTF8.GetString(new DirectoryKeyValueStore(root).TryGet("sub/c.zone", out var c) ? c.Span : default));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void An_empty_root_is_an_empty_store_and_a_missing_directory_throws()
    {
        var empty = new DirectoryKeyValueStore("");
        Assert.Empty(empty.Keys);
        Assert.False(empty.TryGet("x", out _));
        Assert.Throws<DirectoryNotFoundException>(() => new DirectoryKeyValueStore("/nonexistent-" + Guid.NewGuid().ToString("N")));
    }
}
