using System.Text;
using Unikernel.Protocols.Http;

namespace Unikernel.Protocols.Tests.Http;

/// <summary>The request-head grammar of RFC 9112 (and field syntax of RFC 9110), accepted and rejected forms.</summary>
public sealed class ParserTests
{
    private static HttpRequestHead Parse(string text, out HttpParseStatus status, HttpLimits? limits = null)
    {
        var head = new HttpRequestHead(limits ?? HttpLimits.Default);
        status = HttpRequestParser.Parse(Encoding.Latin1.GetBytes(text), head);
        return head;
    }

    private static string Text(string text, int start, int length) => text.Substring(start, length);

    [Fact]
    public void Parses_a_simple_get()
    {
        const string request = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n\r\n";
        var head = Parse(request, out var status);
        Assert.Equal(HttpParseStatus.Complete, status);
        Assert.Equal(request.Length, head.HeadLength);
        Assert.Equal(RequestMethod.Get, head.Method);
        Assert.Equal("GET", Text(request, head.MethodStart, head.MethodLength));
        Assert.Equal("/index.html?x=1", Text(request, head.TargetStart, head.TargetLength));
        Assert.Equal(1, head.MinorVersion);
        Assert.Equal(2, head.FieldCount);
        Assert.Equal("Host", Text(request, head.Fields[0].NameStart, head.Fields[0].NameLength));
        Assert.Equal("example.org", Text(request, head.Fields[0].ValueStart, head.Fields[0].ValueLength));
        Assert.True(head.KeepAlive);
        Assert.False(head.HasBody);
        Assert.Equal(0, head.ContentLength);
    }

    [Fact]
    public void Trims_optional_whitespace_around_values_and_keeps_inner_spaces()
    {
        const string request = "GET / HTTP/1.1\r\nHost:example.org\r\nX-A: \t a  b \t\r\n\r\n";
        var head = Parse(request, out var status);
        Assert.Equal(HttpParseStatus.Complete, status);
        Assert.Equal("example.org", Text(request, head.Fields[0].ValueStart, head.Fields[0].ValueLength));
        Assert.Equal("a  b", Text(request, head.Fields[1].ValueStart, head.Fields[1].ValueLength));
    }

    [Fact]
    public void Accepts_obs_text_in_values_and_an_empty_value()
    {
        var head = Parse("GET / HTTP/1.1\r\nHost: h\r\nX-Latin: caf\u00e9\r\nX-Empty:\r\n\r\n", out var status);
        Assert.Equal(HttpParseStatus.Complete, status);
        Assert.Equal(0, head.Fields[2].ValueLength);
    }

    [Fact]
    public void Ignores_leading_empty_lines()
    {
        var head = Parse("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", out var status);
        Assert.Equal(HttpParseStatus.Complete, status);
        Assert.Equal(RequestMethod.Get, head.Method);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n\r")]
    [InlineData("GET / HTTP/1.1\r\nHo")]
    [InlineData("GET / HTTP/1.1\r")]
    [InlineData("GET /")]
    [InlineData("")]
    public void A_partial_head_is_incomplete(string text)
    {
        Parse(text, out var status);
        Assert.Equal(HttpParseStatus.Incomplete, status);
    }

    [Theory]
    [InlineData("HTTP/1.0", 0, false)]
    [InlineData("HTTP/1.1", 1, true)]
    [InlineData("HTTP/1.9", 1, true)]
    public void Versions_and_their_default_persistence(string version, int minor, bool keepAlive)
    {
        var head = Parse($"GET / {version}\r\nHost: h\r\n\r\n", out var status);
        Assert.Equal(HttpParseStatus.Complete, status);
        Assert.Equal(minor, head.MinorVersion);
        Assert.Equal(keepAlive, head.KeepAlive);
    }

    [Theory]
    [InlineData("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true)]
    [InlineData("GET / HTTP/1.0\r\nConnection: Keep-Alive, foo\r\n\r\n", true)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo,  CLOSE\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n", false)]
    public void Connection_options(string text, bool keepAlive)
    {
        var head = Parse(text, out var status);
        Assert.Equal(HttpParseStatus.Complete, status);
        Assert.Equal(keepAlive, head.KeepAlive);
    }

    [Fact]
    public void An_HTTP_1_0_request_needs_no_host()
    {
        Parse("GET / HTTP/1.0\r\n\r\n", out var status);
        Assert.Equal(HttpParseStatus.Complete, status);
    }

    [Theory]
    [InlineData("POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", 5L, false)]
    [InlineData("POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 0L, false)]
    [InlineData("POST /e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", -1L, true)]
    [InlineData("POST /e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n", -1L, true)]
    [InlineData("POST /e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked\r\n\r\n", -1L, true)]
    public void Body_framing(string text, long contentLength, bool chunked)
    {
        var head = Parse(text, out var status);
        Assert.Equal(HttpParseStatus.Complete, status);
        Assert.Equal(contentLength, head.ContentLength);
        Assert.Equal(chunked, head.Chunked);
    }

    [Theory]
    [InlineData("POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", true)]
    [InlineData("POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n", true)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", false)] // no body: nothing to wait for
    [InlineData("POST /e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", false)] // 1.0 clients do not wait
    public void Expect_100_continue(string text, bool expect)
    {
        var head = Parse(text, out var status);
        Assert.Equal(HttpParseStatus.Complete, status);
        Assert.Equal(expect, head.ExpectContinue);
    }

    [Theory]
    // Request line.
    [InlineData("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400)]
    [InlineData(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET /a\u0001b HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET /a\u00e9 HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / http/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET /\r\n\r\n", 400)] // HTTP/0.9
    [InlineData("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505)]
    [InlineData("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505)]
    [InlineData("GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505)]
    // Line endings.
    [InlineData("GET / HTTP/1.1\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400)]
    [InlineData("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\rb", 400)] // a bare CR is rejected before the line ends
    // Field syntax.
    [InlineData("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n X: folded\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tfolded\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX(y): z\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\u0000b\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\u007fb\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\u0001b\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nH\u00e9st: h\r\n\r\n", 400)]
    // Host.
    [InlineData("GET / HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400)]
    // Content-Length.
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", 413)]
    // Transfer-Encoding.
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    // Expect.
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nExpect: something-else\r\nContent-Length: 1\r\n\r\n", 417)]
    public void Rejects(string text, int expected)
    {
        var head = Parse(text, out var status);
        Assert.Equal(HttpParseStatus.Error, status);
        Assert.Equal(expected, head.ErrorStatus);
        Assert.False(head.KeepAlive);
        Assert.NotEmpty(head.ErrorReason);
    }

    [Fact]
    public void A_long_request_line_is_414_complete_or_not()
    {
        var limits = new HttpLimits { MaxRequestLine = 64 };
        var target = "/" + new string('a', 80);
        Assert.Equal(414, Parse($"GET {target} HTTP/1.1\r\nHost: h\r\n\r\n", out var s1, limits).ErrorStatus);
        Assert.Equal(HttpParseStatus.Error, s1);
        Assert.Equal(414, Parse($"GET {target}", out var s2, limits).ErrorStatus);
        Assert.Equal(HttpParseStatus.Error, s2);
        Parse("GET /" + new string('a', 40) + " HTTP/1.1\r\nHost: h\r\n\r\n", out var s3, limits);
        Assert.Equal(HttpParseStatus.Complete, s3);
    }

    [Fact]
    public void A_large_header_section_is_431_complete_or_not()
    {
        var limits = new HttpLimits { MaxHeaderBytes = 100 };
        var big = "X: " + new string('v', 120) + "\r\n";
        Assert.Equal(431, Parse("GET / HTTP/1.1\r\nHost: h\r\n" + big + "\r\n", out var s1, limits).ErrorStatus);
        Assert.Equal(HttpParseStatus.Error, s1);
        Assert.Equal(431, Parse("GET / HTTP/1.1\r\nHost: h\r\nX: " + new string('v', 120), out var s2, limits).ErrorStatus);
        Assert.Equal(HttpParseStatus.Error, s2);
        Parse("GET / HTTP/1.1\r\nHost: h\r\nX: " + new string('v', 60) + "\r\n\r\n", out var s3, limits);
        Assert.Equal(HttpParseStatus.Complete, s3);
    }

    [Fact]
    public void Too_many_fields_is_431()
    {
        var limits = new HttpLimits { MaxHeaderCount = 5 };
        var fields = string.Concat(Enumerable.Range(0, 5).Select(i => $"X-{i}: v\r\n"));
        var fits = Parse("GET / HTTP/1.1\r\nHost: h\r\n" + string.Concat(Enumerable.Range(0, 4).Select(i => $"X-{i}: v\r\n")) + "\r\n", out var fitsStatus, limits);
        Assert.Equal(HttpParseStatus.Complete, fitsStatus);
        Assert.Equal(5, fits.FieldCount);
        var head = Parse("GET / HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n", out var status, limits);
        Assert.Equal(HttpParseStatus.Error, status);
        Assert.Equal(431, head.ErrorStatus);
    }

    [Theory]
    [InlineData("GET", RequestMethod.Get)]
    [InlineData("HEAD", RequestMethod.Head)]
    [InlineData("POST", RequestMethod.Post)]
    [InlineData("PUT", RequestMethod.Put)]
    [InlineData("DELETE", RequestMethod.Delete)]
    [InlineData("OPTIONS", RequestMethod.Options)]
    [InlineData("PATCH", RequestMethod.Patch)]
    [InlineData("TRACE", RequestMethod.Trace)]
    [InlineData("CONNECT", RequestMethod.Connect)]
    [InlineData("get", RequestMethod.Other)] // methods are case-sensitive
    [InlineData("BREW", RequestMethod.Other)]
    public void Methods(string method, RequestMethod expected)
    {
        var head = Parse($"{method} / HTTP/1.1\r\nHost: h\r\n\r\n", out var status);
        Assert.Equal(HttpParseStatus.Complete, status);
        Assert.Equal(expected, head.Method);
    }

    [Fact]
    public void Parsing_does_not_allocate()
    {
        var bytes = Encoding.ASCII.GetBytes("GET /css/site.css HTTP/1.1\r\nHost: example.org\r\nUser-Agent: test\r\nAccept-Encoding: gzip, br\r\nConnection: keep-alive\r\n\r\n");
        var head = new HttpRequestHead(HttpLimits.Default);
        HttpRequestParser.Parse(bytes, head);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            HttpRequestParser.Parse(bytes, head);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
