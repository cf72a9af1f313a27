using System.IO.Compression;
using System.Reflection;
using System.Runtime.Loader;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Http;

namespace Unikernel.Generators.Tests;

/// <summary>
/// The HTTP response heads the generator emits for crunched files (src/Protocols/Http/StaticHeads.cs, compiled into
/// the generator) against the heads StaticSite builds at start-up for a store that has none, byte for byte, for
/// examples/www's site as the build hands it over (binary files and gzip/Brotli twins as .ukcrunch text twins).
/// </summary>
public sealed class GeneratorHeadsTests
{
    private static readonly DateTimeOffset Started = new(2026, 3, 4, 5, 6, 7, TimeSpan.Zero);

    [Theory]
    [InlineData("1767225600")] // the build's time (UnikernelCrunchLastModified)
    [InlineData("")]           // none: the image's start time
    public void The_generators_heads_equal_those_built_at_start_up_for_the_example_site(string lastModified)
    {
        var entries = CrunchedExampleSite(lastModified);
        var store = new CrunchKeyValueStore(entries);
        Assert.Contains(entries, e => e.Key == "index.html.br");
        Assert.All(entries, e => Assert.NotNull(e.Heads));

        var fromBuild = new StaticSite(store, Started);
        var atStartUp = new StaticSite(new WithoutHeads(store), Started);
        Assert.Equal(fromBuild.FileCount, fromBuild.HeadsFromBuild);
        Assert.Equal(0, atStartUp.HeadsFromBuild);
        Assert.Equal(atStartUp.FileCount, fromBuild.FileCount);
        Assert.Equal(0, fromBuild.HashedFiles);
        foreach (var key in store.Keys.Where(k => !k.EndsWith(".gz", StringComparison.Ordinal) && !k.EndsWith(".br", StringComparison.Ordinal)))
        {
            var a = Resolve(fromBuild, "/" + key);
            var b = Resolve(atStartUp, "/" + key);
            Assert.True(a.HeadsFromBuild, key);
            Assert.False(b.HeadsFromBuild, key);
            Same(key, b.ContentTypeField, a.ContentTypeField);
            Same(key, b.RangeFields, a.RangeFields);
            Same(key, b.Boundary, a.Boundary);
            Same(key, b.LastModifiedField, a.LastModifiedField);
            Assert.Equal(b.LastModifiedUtc, a.LastModifiedUtc);
            foreach (var (x, y) in new[] { (a.Identity, b.Identity), (a.Gzip, b.Gzip), (a.Brotli, b.Brotli) })
            {
                Assert.Equal(y is null, x is null);
                if (x is not null && y is not null)
                {
                    Same(key, y.OkHead, x.OkHead);
                    Same(key, y.NotModifiedHead, x.NotModifiedHead);
                    Same(key, y.ETagBytes, x.ETagBytes);
                }
            }
        }
        var index = Resolve(fromBuild, "/index.html");
        Assert.NotNull(index.Brotli);
        Assert.StartsWith("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ", Text(index.Brotli.OkHead), StringComparison.Ordinal);
        Assert.EndsWith("Vary: Accept-Encoding\r\nContent-Encoding: br\r\n", Text(index.Brotli.OkHead), StringComparison.Ordinal);
        Assert.Equal(lastModified.Length > 0 ? "Last-Modified: Thu, 01 Jan 2026 00:00:00 GMT\r\n" : "Last-Modified: Wed, 04 Mar 2026 05:06:07 GMT\r\n", Text(index.LastModifiedField));
    }

    private static void Same(string key, ReadOnlyMemory<byte> expected, ReadOnlyMemory<byte> actual) =>
        Assert.True(expected.Span.SequenceEqual(actual.Span), $"{key}: expected\n{Text(expected)}\ngot\n{Text(actual)}");

    private static string Text(ReadOnlyMemory<byte> bytes) => System.Text.Encoding.ASCII.GetString(bytes.Span);

    private static StaticFile Resolve(StaticSite site, string path)
    {
        var target = System.Text.Encoding.UTF8.GetBytes(path);
        Assert.Equal(StaticLookup.Found, site.Resolve(target, new byte[target.Length + 1], new char[target.Length + 1], out var file));
        return file!;
    }

    /// <summary>
    /// examples/www built as Unikernel.targets builds it (UnikernelCrunchCompress: text files of 256 bytes or more get
    /// .gz and .br twins when smaller; binary files go as twins), its generated crunch table taken from the image.
    /// </summary>
    private static CrunchEntry[] CrunchedExampleSite(string lastModified)
    {
        var root = Path.Combine(Examples.Directory("www"), "site");
        const string obj = "/examples/www/obj/Release/test-socket/net10.0/crunch/";
        var texts = new List<Microsoft.CodeAnalysis.AdditionalText>();
        foreach (var path in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = "site/" + Path.GetRelativePath(root, path).Replace('\\', '/');
            var bytes = File.ReadAllBytes(path);
            var text = Path.GetExtension(path) is ".html" or ".css" or ".txt";
            texts.Add(text
                ? new InMemoryAdditionalText("/examples/www/" + relative, File.ReadAllText(path))
                : Twin(obj + relative, relative, bytes));
            if (bytes.Length < 256 || Path.GetExtension(path) is not (".html" or ".css" or ".txt" or ".ico"))
            {
                continue;
            }
            foreach (var (suffix, compress) in new (string, Func<Stream, Stream>)[]
            {
                (".gz", s => new GZipStream(s, CompressionLevel.Optimal, leaveOpen: true)),
                (".br", s => new BrotliStream(s, CompressionLevel.Optimal, leaveOpen: true)),
            })
            {
                using var buffer = new MemoryStream();
                using (var z = compress(buffer))
                {
                    z.Write(bytes);
                }
                if (buffer.Length < bytes.Length)
                {
                    texts.Add(Twin(obj + relative + suffix, relative + suffix, buffer.ToArray()));
                }
            }
        }
        var image = RunTests.Build(Examples.Compilation("www"), Examples.Properties("www", "test") with { CrunchLastModified = lastModified }, texts);
        var context = new AssemblyLoadContext("www-heads", isCollectible: true);
        try
        {
            var config = context.LoadFromStream(new MemoryStream(image)).GetType("WwwAppliance.WwwConfig", throwOnError: true)!;
            var table = config.GetMethod(Resolver.CrunchMethod("site"), BindingFlags.NonPublic | BindingFlags.Static)!;
            return (CrunchEntry[])table.Invoke(null, null)!;
        }
        finally
        {
            context.Unload();
        }
    }

    private static InMemoryAdditionalText Twin(string path, string relative, byte[] bytes) =>
        new(path + ".ukcrunch", "unikernel-crunch " + relative + "\n" + Convert.ToBase64String(bytes));

    /// <summary>The store with its digests and times but without prepared heads, as a store that has none.</summary>
    private sealed class WithoutHeads(CrunchKeyValueStore store) : IKeyValueStore, IKeyValueMetadata
    {
        public IReadOnlyList<string> Keys => store.Keys;

        public bool TryGet(string key, out ReadOnlyMemory<byte> value) => store.TryGet(key, out value);

        public bool TryGetDigest(string key, out string digest) => store.TryGetDigest(key, out digest);

        public bool TryGetLastModified(string key, out DateTimeOffset lastModified) => store.TryGetLastModified(key, out lastModified);
    }
}
