using Unikernel.Devices.Unix;

namespace Unikernel.Devices.Tests;

/// <summary>Crunch's store: values, and the digests and Last-Modified the generator emitted at build time.</summary>
public sealed class CrunchStoreTests
{
    [Theory]
    [InlineData("", "cbf29ce484222325")] // FNV-1a 64 offset basis, xor length 0
    [InlineData("a", "af63dc4c8601ec8d")] // FNV-1a 64 of "a" is af63dc4c8601ec8c, xor length 1
    public void Content_digest_is_fnv1a_64_xor_the_length_in_lower_case_hex(string text, string expected)
    {
        var digest = ContentDigest.Compute(System.Text.Encoding.ASCII.GetBytes(text));
        Assert.Equal(expected, digest);
        Assert.True(ContentDigest.IsWellFormed(digest));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("cbf29ce48422232")]
    [InlineData("cbf29ce4842223255")]
    [InlineData("CBF29CE484222325")]
    [InlineData("cbf29ce48422232g")]
    [InlineData("cbf29ce4842223\r\n")]
    public void Malformed_digests_are_refused(string? digest)
    {
        Assert.False(ContentDigest.IsWellFormed(digest));
        if (digest is not null)
        {
            Assert.Throws<ArgumentException>(() => new CrunchEntry("k", [], digest));
        }
    }

    [Fact]
    public void The_store_offers_the_digests_it_was_given_and_no_others()
    {
        var store = new CrunchKeyValueStore(
        [
            new("b.txt", "b"u8.ToArray(), ContentDigest.Compute("b"u8)),
            new("a.txt", "a"u8.ToArray()),
            new("c.txt", "c1"u8.ToArray(), "0000000000000001"),
            new("c.txt", "c2"u8.ToArray()), // a later entry replaces an earlier one, digest and all
        ]);
        Assert.Equal(["a.txt", "b.txt", "c.txt"], store.Keys);
        Assert.True(store.TryGetDigest("b.txt", out var b));
        Assert.Equal(ContentDigest.Compute("b"u8), b);
        Assert.False(store.TryGetDigest("a.txt", out _));
        Assert.False(store.TryGetDigest("c.txt", out _));
        Assert.False(store.TryGetDigest("missing", out _));
        Assert.True(store.TryGet("c.txt", out var c));
        Assert.Equal("c2"u8.ToArray(), c.ToArray());
        Assert.False(store.TryGet("missing", out _));
        Assert.False(store.TryGetLastModified("b.txt", out _));
    }

    [Fact]
    public void The_store_offers_the_builds_last_modified_of_the_entries_that_have_one()
    {
        var built = DateTimeOffset.FromUnixTimeSeconds(1767225600);
        var store = new CrunchKeyValueStore([new("a", [1], ContentDigest.Compute([1]), built), new("b", [2])]);
        Assert.True(store.TryGetLastModified("a", out var a));
        Assert.Equal(built, a);
        Assert.False(store.TryGetLastModified("b", out _));
        Assert.False(store.TryGetLastModified("missing", out _));
    }
}
