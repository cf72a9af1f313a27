using System.Text;
using Unikernel.Protocols.Http;
using static Unikernel.Protocols.Tests.Http.HttpTestKit;

namespace Unikernel.Protocols.Tests.Http;

/// <summary>Static serving: path normalisation, content types, negotiation, conditionals and ranges.</summary>
public sealed class StaticSiteTests
{
    private static string? Normalise(string target)
    {
        var bytes = Encoding.Latin1.GetBytes(target);
        var scratch = new byte[bytes.Length + 1];
        var chars = new char[bytes.Length + 2];
        return StaticSite.NormalisePath(bytes, scratch, chars, out var length) ? new string(chars, 0, length) : null;
    }

    [Theory]
    [InlineData("/", "/")]
    [InlineData("/a", "/a")]
    [InlineData("/a/", "/a/")]
    [InlineData("/a/b.html?x=1&y=/..", "/a/b.html")]
    [InlineData("//a///b", "/a/b")]
    [InlineData("/a/./b", "/a/b")]
    [InlineData("/a/b/../c", "/a/c")]
    [InlineData("/a/..", "/")]
    [InlineData("/a/.", "/a/")]
    [InlineData("/a/b/..", "/a/")]
    [InlineData("/%61%62", "/ab")]
    [InlineData("/a%2Fb", "/a/b")]
    [InlineData("/a%20b.txt", "/a b.txt")]
    [InlineData("/caf%C3%A9.txt", "/caf\u00e9.txt")]
    [InlineData("/a/%2e%2e/b", "/b")]
    [InlineData("/.hidden", "/.hidden")]
    [InlineData("/a..b", "/a..b")]
    [InlineData("http://example.org/x/y", "/x/y")]
    [InlineData("HTTPS://example.org", "/")]
    [InlineData("http://example.org?q", "/")]
    public void Normalises(string target, string expected) => Assert.Equal(expected, Normalise(target));

    [Theory]
    [InlineData("/..")]
    [InlineData("/../etc/passwd")]
    [InlineData("/a/../../etc/passwd")]
    [InlineData("/%2e%2e/etc/passwd")]
    [InlineData("/%2E%2E%2Fetc%2Fpasswd")]
    [InlineData("/a/%2e%2e/%2e%2e/x")]
    [InlineData("/..%2f..%2fetc")]
    [InlineData("/a%00.html")]
    [InlineData("/a\\..\\..\\x")]
    [InlineData("/a%5c..%5cx")]
    [InlineData("/a%0d%0aSet-Cookie:x")]
    [InlineData("/a%7f")]
    [InlineData("/a%")]
    [InlineData("/a%4")]
    [InlineData("/a%zz")]
    [InlineData("/a%C3")] // truncated UTF-8
    [InlineData("/a%C0%AF")] // overlong UTF-8 for '/'
    [InlineData("/a%ED%A0%80")] // a UTF-16 surrogate in UTF-8
    [InlineData("/a#frag")]
    [InlineData("a/b")]
    [InlineData("*")]
    [InlineData("")]
    public void Rejects_paths_that_could_escape_or_are_not_paths(string target) => Assert.Null(Normalise(target));

    [Theory]
    [InlineData("index.html", "text/html; charset=utf-8")]
    [InlineData("a/b.CSS", "text/css; charset=utf-8")]
    [InlineData("app.js", "text/javascript; charset=utf-8")]
    [InlineData("logo.png", "image/png")]
    [InlineData("favicon.ico", "image/x-icon")]
    [InlineData("font.woff2", "font/woff2")]
    [InlineData("image.svg", "image/svg+xml")]
    [InlineData("data.json", "application/json")]
    [InlineData("README", "application/octet-stream")]
    [InlineData(".hidden", "application/octet-stream")]
    [InlineData("dir.d/file", "application/octet-stream")]
    public void Content_types_by_extension(string path, string type) => Assert.Equal(type, MediaTypes.ForPath(path));

    [Fact]
    public void Site_lists_files_without_their_encoded_twins_and_answers_directories()
    {
        var site = Site();
        Assert.Equal(9, site.FileCount); // index.html.gz and .br are representations, not files
        var bytes = new byte[64];
        var chars = new char[64];
        Assert.Equal(StaticLookup.Found, site.Resolve("/"u8, bytes, chars, out var index));
        Assert.NotNull(index!.Gzip);
        Assert.NotNull(index.Brotli);
        Assert.Equal(StaticLookup.Found, site.Resolve("/docs/"u8, bytes, chars, out _));
        Assert.Equal(StaticLookup.Redirect, site.Resolve("/docs"u8, bytes, chars, out var redirect));
        Assert.Equal("/docs/", redirect!.RedirectTo);
        Assert.Equal(StaticLookup.NotFound, site.Resolve("/index.html.gz"u8, bytes, chars, out _));
        Assert.Equal(StaticLookup.Found, site.Resolve("/docs/a%20b.txt"u8, bytes, chars, out _));
        Assert.Equal(StaticLookup.Found, site.Resolve("/caf%c3%a9.txt"u8, bytes, chars, out _));
        Assert.Equal(StaticLookup.BadRequest, site.Resolve("/../index.html"u8, bytes, chars, out _));
    }

    [Theory]
    [InlineData("gzip", "gzip")]
    [InlineData("br", "br")]
    [InlineData("gzip, br", "br")]
    [InlineData("deflate, gzip, br, zstd", "br")]
    [InlineData("br;q=0.5, gzip", "gzip")]
    [InlineData("br;q=0, gzip;q=0", null)]
    [InlineData("*", "br")]
    [InlineData("*;q=0", null)]
    [InlineData("identity", null)]
    [InlineData("gzip;q=0.5, identity;q=0.9", null)]
    [InlineData("gzip;q=0.5, identity;q=0", "gzip")]
    [InlineData("GZIP", "gzip")]
    [InlineData("x-gzip", "gzip")]
    [InlineData("gzip;q=bad", null)]
    [InlineData("gzip;q=0.001", "gzip")]
    [InlineData("", null)]
    [InlineData("compress", null)]
    public void Negotiates_the_encoding(string acceptEncoding, string? expected)
    {
        var site = Site();
        site.Resolve("/"u8, new byte[8], new char[8], out var file);
        Assert.Equal(expected, StaticResponder.Negotiate(file!, Encoding.ASCII.GetBytes(acceptEncoding)).Encoding);
    }

    [Theory]
    [InlineData("bytes=0-4", 10, "0-4")]
    [InlineData("bytes=5-", 10, "5-9")]
    [InlineData("bytes=-3", 10, "7-9")]
    [InlineData("bytes=-30", 10, "0-9")]
    [InlineData("bytes=8-100", 10, "8-9")]
    [InlineData("bytes=0-0,2-3, 5-", 10, "0-0 2-3 5-9")]
    [InlineData("BYTES=1-1", 10, "1-1")]
    [InlineData("bytes=20-30, 1-2", 10, "1-2")] // unsatisfiable parts are dropped
    [InlineData("bytes=20-30", 10, "416")]
    [InlineData("bytes=10-", 10, "416")]
    [InlineData("bytes=-0", 10, "416")]
    [InlineData("bytes=0-", 0, "416")]
    [InlineData("bytes=5-4", 10, "ignore")]
    [InlineData("bytes=a-b", 10, "ignore")]
    [InlineData("bytes=-", 10, "ignore")]
    [InlineData("bytes=", 10, "ignore")]
    [InlineData("items=0-1", 10, "ignore")]
    [InlineData("bytes=1-2;x", 10, "ignore")]
    [InlineData("bytes=0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1", 10, "ignore")] // too many
    public void Parses_ranges(string header, long length, string expected)
    {
        var ranges = new (long, long)[StaticResponder.MaxRanges];
        var count = StaticResponder.ParseRanges(Encoding.ASCII.GetBytes(header), length, ranges, out var satisfiable);
        var actual = count < 0 ? "ignore" : !satisfiable ? "416" : string.Join(" ", ranges.Take(count).Select(r => $"{r.Item1}-{r.Item2}"));
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Range_responses_single_multipart_and_unsatisfiable()
    {
        var server = Server();
        var single = Responses(Run(server, "GET /digits.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=2-4\r\n\r\n").WrittenText).Single();
        Assert.StartsWith("HTTP/1.1 206 Partial Content\r\n", single.Head, StringComparison.Ordinal);
        Assert.Contains("Content-Range: bytes 2-4/10\r\n", single.Head, StringComparison.Ordinal);
        Assert.Equal("234", single.Body);

        var multi = Responses(Run(server, "GET /digits.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1,-2\r\n\r\n").WrittenText).Single();
        var boundary = multi.Head.Split("\r\n").Single(l => l.StartsWith("Content-Type: ", StringComparison.Ordinal)).Split("boundary=")[1];
        Assert.Equal(
            $"\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/10\r\n\r\n01" +
            $"\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 8-9/10\r\n\r\n89" +
            $"\r\n--{boundary}--\r\n", multi.Body); // the Content-Length computed up front matches the body exactly

        var bad = Responses(Run(server, "GET /digits.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=50-\r\n\r\n").WrittenText).Single();
        Assert.StartsWith("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */10\r\n", bad.Head, StringComparison.Ordinal);

        var big = Responses(Run(server, "GET /big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=1000-70999\r\n\r\n").WrittenText).Single();
        Assert.Equal(Encoding.Latin1.GetString(Big, 1000, 70000), big.Body);
    }

    [Fact]
    public void If_range_with_a_stale_validator_gives_the_whole_file()
    {
        var server = Server();
        var etag = "\"" + ServerTests.ETag("0123456789") + "\"";
        Assert.StartsWith("HTTP/1.1 206 ", Run(server, $"GET /digits.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=0-0\r\nIf-Range: {etag}\r\n\r\n").WrittenText, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 206 ", Run(server, $"GET /digits.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=0-0\r\nIf-Range: {LastModified}\r\n\r\n").WrittenText, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 ", Run(server, "GET /digits.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=0-0\r\nIf-Range: \"stale\"\r\n\r\n").WrittenText, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 ", Run(server, "GET /digits.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=0-0\r\nIf-Range: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n").WrittenText, StringComparison.Ordinal);
        // HEAD ignores Range.
        Assert.StartsWith("HTTP/1.1 200 ", Run(server, "HEAD /digits.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=0-0\r\n\r\n").WrittenText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("If-None-Match: \"{0}\"", 304)]
    [InlineData("If-None-Match: W/\"{0}\"", 304)]
    [InlineData("If-None-Match: \"other\", \"{0}\"", 304)]
    [InlineData("If-None-Match: *", 304)]
    [InlineData("If-None-Match: \"other\"", 200)]
    [InlineData("If-None-Match: \"{0}-gz\"", 200)] // the identity representation was selected
    [InlineData("If-Modified-Since: Thu, 01 Jan 2026 00:00:00 GMT", 304)]
    [InlineData("If-Modified-Since: Fri, 02 Jan 2026 00:00:00 GMT", 304)]
    [InlineData("If-Modified-Since: Wed, 31 Dec 2025 23:59:59 GMT", 200)]
    [InlineData("If-Modified-Since: not a date", 200)]
    [InlineData("If-None-Match: \"other\"\r\nIf-Modified-Since: Fri, 02 Jan 2026 00:00:00 GMT", 200)] // If-None-Match wins
    [InlineData("If-Match: \"{0}\"", 200)]
    [InlineData("If-Match: *", 200)]
    [InlineData("If-Match: \"other\"", 412)]
    [InlineData("If-Match: W/\"{0}\"", 412)] // If-Match compares strongly
    public void Conditional_requests(string field, int status)
    {
        var request = $"GET /digits.txt HTTP/1.1\r\nHost: h\r\n{string.Format(System.Globalization.CultureInfo.InvariantCulture, field, ServerTests.ETag("0123456789"))}\r\n\r\n";
        var response = Responses(Run(Server(), request).WrittenText).Single();
        Assert.StartsWith($"HTTP/1.1 {status} ", response.Head, StringComparison.Ordinal);
        Assert.Equal(status == 200 ? "0123456789" : "", response.Body);
    }

    /// <summary>The test site as crunch builds it: every file with the digest the generator computed at build time.</summary>
    private static Unikernel.Devices.Unix.CrunchKeyValueStore Prepared(Func<string, byte[], string>? digest = null)
    {
        var store = Store();
        return new([.. store.Keys.Select(key =>
        {
            store.TryGet(key, out var value);
            var bytes = value.ToArray();
            return new Unikernel.Devices.Unix.CrunchEntry(key, bytes, (digest ?? ((_, b) => Unikernel.Devices.ContentDigest.Compute(b)))(key, bytes));
        })]);
    }

    [Fact]
    public void Build_time_digests_give_the_same_heads_as_hashing_at_start_up_and_nothing_is_hashed()
    {
        var hashed = Site();
        var prepared = new StaticSite(Prepared(), Built);
        Assert.Equal(hashed.FileCount, hashed.HashedFiles);
        Assert.Equal(0, prepared.HashedFiles);
        foreach (var request in new[]
        {
            "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: br\r\n\r\n",
            "GET /logo.png HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET /big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=0-0,5-9\r\n\r\n",
            "HEAD /empty.txt HTTP/1.1\r\nHost: h\r\n\r\n",
        })
        {
            Assert.Equal(Run(Server(site: hashed), request).WrittenText, Run(Server(site: prepared), request).WrittenText);
        }
    }

    [Theory]
    [InlineData("", "\"{0}\"", "<p>hello</p>\n")]
    [InlineData("Accept-Encoding: gzip\r\n", "\"{0}-gz\"", "\u001f\u008b\u0001\u0002\u0003")]
    [InlineData("Accept-Encoding: br\r\n", "\"{0}-br\"", "\u00b1\u00b2")]
    public void Conditional_requests_use_the_build_time_digest_of_each_representation(string acceptEncoding, string etagFormat, string body)
    {
        // A digest unlike the content's hash proves the site took the store's and hashed nothing itself.
        const string digest = "00112233445566ff";
        var server = Server(site: new StaticSite(Prepared((key, bytes) => key == "index.html" ? digest : Unikernel.Devices.ContentDigest.Compute(bytes)), Built));
        var etag = string.Format(System.Globalization.CultureInfo.InvariantCulture, etagFormat, digest);
        var ok = Responses(Run(server, $"GET / HTTP/1.1\r\nHost: h\r\n{acceptEncoding}\r\n").WrittenText).Single();
        Assert.StartsWith("HTTP/1.1 200 ", ok.Head, StringComparison.Ordinal);
        Assert.Contains($"\r\nETag: {etag}\r\n", ok.Head, StringComparison.Ordinal);
        Assert.Equal(body, ok.Body);
        var notModified = Responses(Run(server, $"GET / HTTP/1.1\r\nHost: h\r\n{acceptEncoding}If-None-Match: {etag}\r\n\r\n").WrittenText).Single();
        Assert.StartsWith("HTTP/1.1 304 ", notModified.Head, StringComparison.Ordinal);
        Assert.Contains($"\r\nETag: {etag}\r\n", notModified.Head, StringComparison.Ordinal);
        Assert.Equal("", notModified.Body);
        // The hash of the content is not this file's validator any more, and another representation's is not either.
        var contentHash = "\"" + ServerTests.ETag("<p>hello</p>\n") + etagFormat[5..];
        Assert.StartsWith("HTTP/1.1 200 ", Run(server, $"GET / HTTP/1.1\r\nHost: h\r\n{acceptEncoding}If-None-Match: {contentHash}\r\n\r\n").WrittenText, StringComparison.Ordinal);
        var other = acceptEncoding.Length == 0 ? $"\"{digest}-gz\"" : $"\"{digest}\"";
        Assert.StartsWith("HTTP/1.1 200 ", Run(server, $"GET / HTTP/1.1\r\nHost: h\r\n{acceptEncoding}If-None-Match: {other}\r\n\r\n").WrittenText, StringComparison.Ordinal);
    }

    /// <summary>
    /// The test site with heads as the generator prepares them (StaticHeads, with <paramref name="edit"/> applied to
    /// each key's), digests and, for keys starting with index.html, <paramref name="built"/> as the build's time.
    /// </summary>
    private static Unikernel.Devices.Unix.CrunchKeyValueStore WithHeads(Func<string, string, string?> edit, DateTimeOffset? built = null)
    {
        var store = Store();
        var keys = new HashSet<string>(store.Keys, StringComparer.Ordinal);
        return new([.. store.Keys.Select(key =>
        {
            var coding = StaticHeads.VariantOf(key, keys.Contains, out var identity);
            store.TryGet(key, out var value);
            store.TryGet(identity, out var identityValue);
            var digest = Unikernel.Devices.ContentDigest.Compute(identityValue.Span);
            var time = identity.StartsWith("index.html", StringComparison.Ordinal) ? built : null;
            var vary = coding is not null || keys.Contains(identity + ".gz") || keys.Contains(identity + ".br");
            var type = StaticHeads.MediaType(identity);
            var heads = StaticHeads.Representation(type, value.Length, digest, coding, vary)
                + (coding is null ? StaticHeads.File(type, digest, vary, time is { } t ? t.ToString("r", System.Globalization.CultureInfo.InvariantCulture) : "") : "");
            var edited = edit(key, heads);
            return new Unikernel.Devices.Unix.CrunchEntry(key, value.ToArray(), Unikernel.Devices.ContentDigest.Compute(value.Span), time, edited is null ? null : Encoding.ASCII.GetBytes(edited));
        })]);
    }

    [Fact]
    public void Heads_from_the_build_are_copied_as_they_are()
    {
        // A field no start-up code writes shows which bytes were sent.
        var site = new StaticSite(WithHeads((_, heads) => heads.Replace("Accept-Ranges: bytes\r\n", "Accept-Ranges: bytes\r\nX-Prepared: 1\r\n", StringComparison.Ordinal)), Built);
        Assert.Equal(site.FileCount, site.HeadsFromBuild);
        var server = Server(site: site);
        foreach (var request in new[]
        {
            "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: br\r\n\r\n",
            "GET /style.css HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"" + ServerTests.ETag("body{}") + "\"\r\n\r\n",
            "GET /big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=0-0\r\n\r\n",
        })
        {
            var response = Run(server, request).WrittenText;
            Assert.Contains("\r\nX-Prepared: 1\r\n", response, StringComparison.Ordinal);
            // Last-Modified is the site's (no build time), after the prepared fields, and Date after it.
            Assert.Contains($"X-Prepared: 1\r\n{(response.Contains("Vary", StringComparison.Ordinal) ? "Vary: Accept-Encoding\r\n" + (response.Contains("Content-Encoding", StringComparison.Ordinal) ? "Content-Encoding: br\r\n" : "") : "")}Last-Modified: {LastModified}\r\n{DateLine}", response, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Heads_from_the_build_equal_the_heads_built_at_start_up()
    {
        var built = new DateTimeOffset(2025, 6, 1, 12, 30, 15, TimeSpan.Zero);
        var prepared = new StaticSite(WithHeads((_, heads) => heads, built), Built);
        var plain = new StaticSite(WithHeads((_, _) => null, built), Built);
        Assert.Equal(prepared.FileCount, prepared.HeadsFromBuild);
        Assert.Equal(0, plain.HeadsFromBuild);
        foreach (var request in new[]
        {
            "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n",
            "HEAD / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: br\r\nIf-Modified-Since: Sun, 01 Jun 2025 12:30:15 GMT\r\n\r\n",
            "GET /logo.png HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET /big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=0-0,5-9\r\n\r\n",
            "GET /big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=999999-\r\n\r\n",
            "GET /digits.txt HTTP/1.1\r\nHost: h\r\nIf-Match: \"x\"\r\n\r\n",
            "HEAD /empty.txt HTTP/1.1\r\nHost: h\r\n\r\n",
        })
        {
            Assert.Equal(Run(Server(site: plain), request).WrittenText, Run(Server(site: prepared), request).WrittenText);
        }
        Assert.Contains("Last-Modified: Sun, 01 Jun 2025 12:30:15 GMT\r\n", Run(Server(site: prepared), "GET / HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText, StringComparison.Ordinal);
    }

    [Fact]
    public void Heads_from_the_build_without_a_last_modified_piece_get_the_stores_time()
    {
        var built = new DateTimeOffset(2025, 6, 1, 12, 30, 15, TimeSpan.Zero);
        var site = new StaticSite(WithHeads((_, heads) => heads.Replace("Last-Modified: Sun, 01 Jun 2025 12:30:15 GMT\r\n", "", StringComparison.Ordinal), built), Built);
        Assert.Equal(site.FileCount, site.HeadsFromBuild);
        var server = Server(site: site);
        Assert.Contains("\r\nLast-Modified: Sun, 01 Jun 2025 12:30:15 GMT\r\n", Run(server, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText, StringComparison.Ordinal);
        Assert.Contains($"\r\nLast-Modified: {LastModified}\r\n", Run(server, "GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("style.css", "Content-Length: 6\r\n", "Content-Length: 7\r\n")] // would break framing
    [InlineData("style.css", "HTTP/1.1 200 OK", "HTTP/1.1 201 Created")]
    [InlineData("style.css", "\0unikernel-", "unikernel-")] // a piece short
    [InlineData("style.css", "HTTP/1.1 304 Not Modified\r\n", "HTTP/1.1 304 Not Modified\r\n\0")] // a piece more
    [InlineData("index.html.br", "Content-Length: 2\r\n", "Content-Length: 3\r\n")] // one representation wrong: the file's heads are all built
    [InlineData("index.html.gz", "HTTP/1.1 200 OK", null)] // one representation missing
    public void Heads_from_the_build_that_do_not_fit_are_built_again(string key, string find, string? replace)
    {
        var site = new StaticSite(WithHeads((k, heads) => k != key ? heads : replace is null ? null : heads.Replace(find, replace, StringComparison.Ordinal)), Built);
        Assert.Equal(site.FileCount - 1, site.HeadsFromBuild);
        var path = "/" + (key.StartsWith("index.html", StringComparison.Ordinal) ? "" : key);
        foreach (var coding in new[] { "identity", "gzip", "br" })
        {
            var request = $"GET {path} HTTP/1.1\r\nHost: h\r\nAccept-Encoding: {coding}\r\n\r\n";
            Assert.Equal(Run(Server(), request).WrittenText, Run(Server(site: site), request).WrittenText);
        }
    }

    [Fact]
    public void The_builds_last_modified_is_each_files_validator_where_the_store_knows_it()
    {
        // index.html has the build's time (UnikernelCrunchLastModified), digits.txt the caller's (its start time).
        var built = new DateTimeOffset(2025, 6, 1, 12, 30, 15, TimeSpan.Zero).AddTicks(1234);
        var store = Store();
        var site = new StaticSite(new Unikernel.Devices.Unix.CrunchKeyValueStore([.. store.Keys.Select(key =>
        {
            store.TryGet(key, out var value);
            return new Unikernel.Devices.Unix.CrunchEntry(key, value.ToArray(), null, key.StartsWith("index.html", StringComparison.Ordinal) ? built : null);
        })]), Built);
        var server = Server(site: site);
        const string builtText = "Sun, 01 Jun 2025 12:30:15 GMT";
        foreach (var coding in new[] { "identity", "gzip", "br" })
        {
            var ok = Run(server, $"GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: {coding}\r\n\r\n").WrittenText;
            Assert.Contains($"\r\nLast-Modified: {builtText}\r\n", ok, StringComparison.Ordinal);
            var notModified = Run(server, $"GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: {coding}\r\nIf-Modified-Since: {builtText}\r\n\r\n").WrittenText;
            Assert.StartsWith("HTTP/1.1 304 ", notModified, StringComparison.Ordinal);
            Assert.Contains($"\r\nLast-Modified: {builtText}\r\n", notModified, StringComparison.Ordinal);
            Assert.StartsWith("HTTP/1.1 200 ", Run(server, $"GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: {coding}\r\nIf-Modified-Since: Sun, 01 Jun 2025 12:30:14 GMT\r\n\r\n").WrittenText, StringComparison.Ordinal);
        }
        Assert.StartsWith("HTTP/1.1 206 ", Run(server, $"GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-0\r\nIf-Range: {builtText}\r\n\r\n").WrittenText, StringComparison.Ordinal);
        Assert.Contains($"\r\nLast-Modified: {LastModified}\r\n", Run(server, "GET /digits.txt HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText, StringComparison.Ordinal);
        Assert.Equal(Built, site.LastModified);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0011223344556677\r\nX-Injected: 1")]
    [InlineData("00112233445566FF")]
    [InlineData("001122334455667")]
    [InlineData("\"0011223344556677\"")]
    public void A_store_digest_that_is_not_16_lower_case_hex_digits_is_not_used(string digest)
    {
        var site = new StaticSite(new BadDigests(digest), Built);
        Assert.Equal(1, site.HashedFiles);
        var response = Run(Server(site: site), "GET /digits.txt HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText;
        Assert.Contains($"\r\nETag: \"{ServerTests.ETag("0123456789")}\"\r\n", response, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Injected", response, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new Unikernel.Devices.Unix.CrunchEntry("digits.txt", [], digest));
    }

    private sealed class BadDigests(string digest) : Unikernel.Devices.IKeyValueStore, Unikernel.Devices.IKeyValueMetadata
    {
        public IReadOnlyList<string> Keys { get; } = ["digits.txt"];

        public bool TryGet(string key, out ReadOnlyMemory<byte> value)
        {
            value = Encoding.ASCII.GetBytes("0123456789");
            return key == "digits.txt";
        }

        public bool TryGetDigest(string key, out string value)
        {
            value = digest;
            return true;
        }

        public bool TryGetLastModified(string key, out DateTimeOffset value)
        {
            value = default;
            return false;
        }
    }

    [Theory]
    [InlineData("Sun, 06 Nov 1994 08:49:37 GMT", true)]
    [InlineData("Sun, 06 Nov 1994 08:49:37 UTC", false)]
    [InlineData("Sunday, 06-Nov-94 08:49:37 GMT", false)] // obsolete RFC 850 form: ignored
    [InlineData("Sun Nov  6 08:49:37 1994", false)] // asctime: ignored
    [InlineData("Sun, 31 Feb 1994 08:49:37 GMT", false)]
    [InlineData("Sun, 06 Nov 1994 25:49:37 GMT", false)]
    [InlineData("", false)]
    public void Parses_imf_fixdate_only(string text, bool valid)
    {
        Assert.Equal(valid, HttpDate.TryParse(Encoding.ASCII.GetBytes(text), out var date));
        if (valid)
        {
            var formatted = new byte[HttpDate.Length];
            HttpDate.Format(date, formatted);
            Assert.Equal(text, Encoding.ASCII.GetString(formatted));
        }
    }

    [Fact]
    public void Empty_and_binary_files_are_served_exactly()
    {
        var server = Server();
        var empty = Responses(Run(server, "GET /empty.txt HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText).Single();
        Assert.Contains("Content-Length: 0\r\n", empty.Head, StringComparison.Ordinal);
        var png = Run(server, "GET /logo.png HTTP/1.1\r\nHost: h\r\n\r\n").Written;
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d }, png[^8..]);
        var big = Run(server, "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n").Written;
        Assert.Equal(Big, big[^Big.Length..]);
    }
}
