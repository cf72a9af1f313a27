using System.Text;
using Unikernel.Protocols.Http;
using static Unikernel.Protocols.Tests.Http.HttpTestKit;

namespace Unikernel.Protocols.Tests.Http;

/// <summary>
/// Whole connections over scripted reads: golden response bytes, persistence, pipelining, bodies and their framing,
/// smuggling attempts, errors. (Real sockets and real clients are in SocketTests and the end-to-end tests.)
/// </summary>
public sealed class ServerTests
{
    private const string Get = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";

    [Fact]
    public void Golden_200_for_a_file()
    {
        var output = Run(Server(), "GET /style.css HTTP/1.1\r\nHost: example.org\r\n\r\n").WrittenText;
        Assert.Equal(
            "HTTP/1.1 200 OK\r\n" +
            "Content-Type: text/css; charset=utf-8\r\n" +
            "Content-Length: 6\r\n" +
            "ETag: \"" + ETag("body{}") + "\"\r\n" +
            "Accept-Ranges: bytes\r\n" +
            "Last-Modified: " + LastModified + "\r\n" +
            DateLine +
            "\r\n" +
            "body{}", output);
    }

    [Fact]
    public void Golden_200_for_a_negotiated_representation_and_its_304()
    {
        var server = Server();
        var gzip = Run(server, "GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n").Written;
        var head = "HTTP/1.1 200 OK\r\n" +
            "Content-Type: text/html; charset=utf-8\r\n" +
            "Content-Length: 5\r\n" +
            "ETag: \"" + ETag("<p>hello</p>\n") + "-gz\"\r\n" +
            "Accept-Ranges: bytes\r\n" +
            "Vary: Accept-Encoding\r\n" +
            "Content-Encoding: gzip\r\n" +
            "Last-Modified: " + LastModified + "\r\n" +
            DateLine +
            "Connection: close\r\n" +
            "\r\n";
        Assert.Equal([.. Encoding.ASCII.GetBytes(head), 0x1f, 0x8b, 1, 2, 3], gzip);

        var notModified = Run(server, $"GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nIf-None-Match: \"{ETag("<p>hello</p>\n")}-gz\"\r\n\r\n").WrittenText;
        Assert.Equal(
            "HTTP/1.1 304 Not Modified\r\n" +
            "ETag: \"" + ETag("<p>hello</p>\n") + "-gz\"\r\n" +
            "Accept-Ranges: bytes\r\n" +
            "Vary: Accept-Encoding\r\n" +
            "Content-Encoding: gzip\r\n" +
            "Last-Modified: " + LastModified + "\r\n" +
            DateLine +
            "\r\n", notModified);
    }

    [Fact]
    public void Golden_404_and_405_with_allow()
    {
        var server = Server();
        Assert.Equal(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n" + DateLine + "\r\n404 Not Found\n",
            Run(server, "GET /missing HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText);
        Assert.Equal(
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 23\r\nAllow: GET, HEAD\r\n" + DateLine + "\r\n405 Method Not Allowed\n",
            Run(server, "DELETE /style.css HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText);
    }

    [Fact]
    public void Golden_400_closes_the_connection()
    {
        var connection = Run(Server(), "GET / HTTP/1.1\r\nHost : h\r\n\r\n" + Get);
        Assert.Equal(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n" + DateLine + "Connection: close\r\n\r\n400 Bad Request\n",
            connection.WrittenText);
        Assert.True(connection.SendShutdown);
    }

    [Theory]
    [InlineData("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n", 413)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", 417)]
    public void Rejections_answer_with_their_status_and_close(string request, int status)
    {
        var connection = Run(Server(), request + Get);
        var responses = Responses(connection.WrittenText);
        Assert.Single(responses);
        Assert.StartsWith($"HTTP/1.1 {status} ", responses[0].Head, StringComparison.Ordinal);
        Assert.Contains("Connection: close\r\n", responses[0].Head, StringComparison.Ordinal);
        Assert.True(connection.SendShutdown);
    }

    [Fact]
    public void A_long_target_is_414_and_many_fields_431()
    {
        var server = Server(new HttpServerOptions { Clock = new FixedClock(Now), Limits = new HttpLimits { MaxRequestLine = 100, MaxHeaderBytes = 200, MaxHeaderCount = 4 } });
        Assert.StartsWith("HTTP/1.1 414 URI Too Long\r\n", Run(server, "GET /" + new string('a', 200) + " HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 431 ", Run(server, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n").WrittenText, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 431 ", Run(server, "GET / HTTP/1.1\r\nHost: h\r\nA: " + new string('x', 300) + "\r\n\r\n").WrittenText, StringComparison.Ordinal);
    }

    [Fact]
    public void Keeps_the_connection_for_many_requests_and_answers_pipelined_ones_in_order_in_one_write()
    {
        var requests = string.Concat(Enumerable.Range(0, 20).Select(i => $"GET /{(i % 2 == 0 ? "style.css" : "digits.txt")} HTTP/1.1\r\nHost: h\r\n\r\n"));
        var connection = Run(Server(), requests);
        var responses = Responses(connection.WrittenText);
        Assert.Equal(20, responses.Count);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(i % 2 == 0 ? "body{}" : "0123456789", responses[i].Body);
        }
        Assert.Equal(1, connection.Writes);
        Assert.False(connection.SendShutdown); // the client ended the stream; we did not close first
    }

    [Fact]
    public void Pipelined_requests_split_across_reads_at_every_byte_still_come_out_whole_and_in_order()
    {
        var requests = Encoding.ASCII.GetBytes("GET /style.css HTTP/1.1\r\nHost: h\r\n\r\nPOST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /digits.txt HTTP/1.1\r\nHost: h\r\n\r\n");
        var server = Server(routes: EchoRoutes());
        for (var split = 1; split < requests.Length; split++)
        {
            var connection = RunBytes(server, requests[..split], requests[split..]);
            var responses = Responses(connection.WrittenText);
            Assert.Equal(["body{}", "abc", "0123456789"], responses.Select(r => r.Body));
        }
        var byteByByte = RunBytes(server, requests.Select(b => new[] { b }).ToArray());
        Assert.Equal(["body{}", "abc", "0123456789"], Responses(byteByByte.WrittenText).Select(r => r.Body));
    }

    [Fact]
    public void Http_1_0_closes_by_default_and_keeps_alive_when_asked()
    {
        var server = Server();
        var plain = Run(server, "GET /style.css HTTP/1.0\r\n\r\n" + "GET /style.css HTTP/1.0\r\n\r\n");
        Assert.Single(Responses(plain.WrittenText));
        Assert.Contains("Connection: close\r\n", plain.WrittenText, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", plain.WrittenText, StringComparison.Ordinal);
        Assert.True(plain.SendShutdown);

        var keepAlive = Run(server, "GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + "GET /digits.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        var responses = Responses(keepAlive.WrittenText);
        Assert.Equal(2, responses.Count);
        Assert.All(responses, r => Assert.Contains("Connection: keep-alive\r\n", r.Head, StringComparison.Ordinal));
    }

    [Fact]
    public void Connection_close_answers_then_closes_and_ignores_what_follows()
    {
        var connection = Run(Server(), "GET /style.css HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" + Get);
        var responses = Responses(connection.WrittenText);
        Assert.Single(responses);
        Assert.Contains("Connection: close\r\n", responses[0].Head, StringComparison.Ordinal);
        Assert.True(connection.SendShutdown);
    }

    [Fact]
    public void Head_has_the_fields_of_get_and_no_body()
    {
        var server = Server();
        var get = Run(server, "GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText;
        var head = Run(server, "HEAD /style.css HTTP/1.1\r\nHost: h\r\n\r\n" + "GET /digits.txt HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText;
        var getHead = get[..(get.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)];
        Assert.StartsWith(getHead, head, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 OK", head[getHead.Length..], StringComparison.Ordinal); // the next response follows at once
    }

    [Fact]
    public void Head_on_a_handler_route_is_its_get_without_the_body()
    {
        var server = Server(routes: EchoRoutes());
        var get = Responses(Run(server, "GET /headers HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText).Single();
        // HEAD pipelined between two GETs: the same status and fields (Content-Length included) and no content, so the
        // next response starts right after the head; the handler saw the same fields (the HEAD request has the same).
        var text = Run(server, "GET /style.css HTTP/1.1\r\nHost: h\r\n\r\nHEAD /headers HTTP/1.1\r\nHost: h\r\n\r\nGET /digits.txt HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText;
        var head = get.Head;
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", head, StringComparison.Ordinal);
        Assert.Contains($"Content-Length: {get.Body.Length}\r\n", head, StringComparison.Ordinal);
        Assert.True(get.Body.Length > 0);
        var at = text.IndexOf("HTTP/1.1 200 OK\r\n", text.IndexOf("body{}", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Equal(head, text.Substring(at, head.Length));
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", text[(at + head.Length)..], StringComparison.Ordinal);
        Assert.EndsWith("0123456789", text, StringComparison.Ordinal);

        // Pipelined HEADs on their own and with Connection: close.
        var heads = Run(server, "HEAD /headers HTTP/1.1\r\nHost: h\r\n\r\nHEAD /headers HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var split = heads.WrittenText.Split("\r\n\r\n");
        Assert.Equal(3, split.Length);
        Assert.Equal("", split[2]); // no content after the second head
        Assert.Contains("Connection: close\r\n", split[1] + "\r\n", StringComparison.Ordinal);
        Assert.True(heads.SendShutdown);

        // HEAD where there is no GET route is 405 (no content), and every Allow lists HEAD next to GET.
        var routes = new HttpRoutes().Map("POST", "/p", (_, r) => r.Write("x")).Map("GET", "/g", (_, r) => r.Write("abc")).Map("PUT", "/g", (_, r) => r.Write("y"));
        var mixed = Run(Server(routes: routes), "HEAD /p HTTP/1.1\r\nHost: h\r\n\r\nDELETE /g HTTP/1.1\r\nHost: h\r\n\r\nHEAD /g HTTP/1.1\r\nHost: h\r\n\r\n" + Get).WrittenText;
        var parts = mixed.Split("\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 405 ", parts[0], StringComparison.Ordinal);
        Assert.Contains("Allow: POST\r\n", parts[0] + "\r\n", StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 405 ", parts[1], StringComparison.Ordinal); // right after the first head: no content
        Assert.Contains("Allow: GET, HEAD, PUT\r\n", parts[1] + "\r\n", StringComparison.Ordinal);
        Assert.StartsWith("405 Method Not Allowed\nHTTP/1.1 200 OK\r\n", parts[2], StringComparison.Ordinal); // the DELETE's body, then the HEAD's head
        Assert.Contains("Content-Length: 3\r\n", parts[2] + "\r\n", StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 ", parts[3], StringComparison.Ordinal); // right after the HEAD's head
    }

    [Fact]
    public void A_head_route_of_its_own_is_used_for_head()
    {
        var routes = new HttpRoutes().Map("GET", "/x", (_, r) => r.Write("from get")).Map("HEAD", "/x", (_, r) => r.Write("hd"));
        var text = Run(Server(routes: routes), "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n").WrittenText;
        Assert.Contains("Content-Length: 2\r\n", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Echo_reads_content_length_and_chunked_bodies_and_the_next_request_is_parsed_right()
    {
        var server = Server(routes: EchoRoutes());
        var connection = Run(server,
            "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
            "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nT: 1\r\n\r\n",
            "GET /headers HTTP/1.1\r\nHost: h\r\nX-Test: 1\r\n\r\n");
        var responses = Responses(connection.WrittenText);
        Assert.Equal(["hello", "abcdefg", "Host: h\nX-Test: 1\n"], responses.Select(r => r.Body));
        Assert.All(responses, r => Assert.StartsWith("HTTP/1.1 200 OK\r\n", r.Head, StringComparison.Ordinal));
    }

    [Fact]
    public void A_large_body_streams_through_the_fixed_buffer()
    {
        var body = new string('b', 300_000);
        var server = Server(routes: EchoRoutes());
        var reads = new List<string> { "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 300000\r\n\r\n" };
        reads.AddRange(body.Chunk(7000).Select(c => new string(c)));
        reads.Add("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
        reads.AddRange(body.Chunk(5000).Select(c => $"{c.Length:x}\r\n{new string(c)}\r\n"));
        reads.Add("0\r\n\r\n" + Get);
        var responses = Responses(Run(server, [.. reads]).WrittenText);
        Assert.Equal(3, responses.Count);
        Assert.Equal(body, responses[0].Body);
        Assert.Equal(body, responses[1].Body);
        Assert.Equal("<p>hello</p>\n", responses[2].Body);
    }

    [Fact]
    public void A_body_for_a_static_file_is_discarded_by_its_framing()
    {
        var connection = Run(Server(),
            "GET /style.css HTTP/1.1\r\nHost: h\r\nContent-Length: 26\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
            "GET /digits.txt HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\nGET /smuggled HTTP/1.1\r\n\r\n\r\n0\r\n\r\n",
            Get);
        var responses = Responses(connection.WrittenText);
        Assert.Equal(["body{}", "0123456789", "<p>hello</p>\n"], responses.Select(r => r.Body));
    }

    [Theory]
    // CL.TE and TE.CL: both framings at once is rejected, so nothing after it is ever parsed as a request.
    [InlineData("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")]
    [InlineData("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nGET /smu\r\n0\r\n\r\n")]
    // TE.TE: an obfuscated coding.
    [InlineData("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")]
    [InlineData("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")]
    [InlineData("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked\r\n chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")]
    // Two lengths.
    [InlineData("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")]
    // A bad chunk size mid-body.
    [InlineData("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")]
    // A bare LF ending the head.
    [InlineData("GET / HTTP/1.1\r\nHost: h\n\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")]
    public void Smuggling_attempts_get_one_error_and_a_closed_connection(string attack)
    {
        var connection = Run(Server(routes: EchoRoutes()), attack);
        var responses = Responses(connection.WrittenText);
        Assert.Single(responses);
        Assert.Matches("^HTTP/1.1 (400|501) ", responses[0].Head);
        Assert.DoesNotContain("smuggled", connection.WrittenText, StringComparison.Ordinal);
        Assert.True(connection.SendShutdown);
    }

    [Fact]
    public void A_body_cut_short_closes_without_a_response_for_it()
    {
        var connection = Run(Server(routes: EchoRoutes()), "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
        Assert.StartsWith("HTTP/1.1 400 ", connection.WrittenText, StringComparison.Ordinal);
        Assert.True(connection.SendShutdown);
    }

    [Fact]
    public void Expect_100_continue_gets_an_interim_response_before_the_body_is_read()
    {
        var connection = Run(Server(routes: EchoRoutes()), "POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", "ping");
        var text = connection.WrittenText;
        Assert.StartsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\nping", text, StringComparison.Ordinal);

        // A body that came with the head needs no 100; a body too large gets 413 and no 100.
        var eager = Run(Server(routes: EchoRoutes()), "POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nping").WrittenText;
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", eager, StringComparison.Ordinal);
        var large = Run(Server(routes: EchoRoutes()), "POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n").WrittenText;
        Assert.StartsWith("HTTP/1.1 413 Content Too Large\r\n", large, StringComparison.Ordinal);
    }

    [Fact]
    public void Routes_answer_405_with_their_methods_and_a_failing_handler_500()
    {
        var server = Server(routes: EchoRoutes());
        var text = Run(server, "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n", "GET /throws HTTP/1.1\r\nHost: h\r\n\r\n", Get).WrittenText;
        var responses = Responses(text);
        Assert.StartsWith("HTTP/1.1 405 ", responses[0].Head, StringComparison.Ordinal);
        Assert.Contains("Allow: POST\r\n", responses[0].Head, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 500 ", responses[1].Head, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 ", responses[2].Head, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_the_routes_echo_is_just_a_missing_file()
    {
        var text = Run(Server(), "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi").WrittenText;
        Assert.StartsWith("HTTP/1.1 404 ", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("BREW / HTTP/1.1\r\nHost: h\r\n\r\n", 501)]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 501)]
    [InlineData("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 204)]
    [InlineData("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET /docs HTTP/1.1\r\nHost: h\r\n\r\n", 301)]
    [InlineData("GET /docs/ HTTP/1.1\r\nHost: h\r\n\r\n", 200)]
    [InlineData("GET http://h/style.css HTTP/1.1\r\nHost: h\r\n\r\n", 200)]
    [InlineData("GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET /style.css%00.png HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET /docs%5c..%5c..%5cetc HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("PUT /missing HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", 404)]
    public void Status_codes(string request, int status)
    {
        var responses = Responses(Run(Server(), request + Get).WrittenText);
        Assert.StartsWith($"HTTP/1.1 {status} ", responses[0].Head, StringComparison.Ordinal);
        Assert.Equal(2, responses.Count); // none of these closes the connection
        if (status == 301)
        {
            Assert.Contains("Location: /docs/\r\n", responses[0].Head, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_cached_static_response_allocates_nothing_per_request()
    {
        static byte[] Requests(int count) => Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("GET /style.css HTTP/1.1\r\nHost: example.org\r\nAccept-Encoding: gzip, br\r\nUser-Agent: test\r\n\r\n", count)));
        long Measure(int count)
        {
            var server = Server();
            var reads = Requests(count).Chunk(4000).ToArray();
            RunBytes(server, reads); // warm up
            var connection = new ScriptedConnection(reads, capacity: 1 << 20);
            var before = GC.GetAllocatedBytesForCurrentThread();
            Serve(server, connection);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        // The least of three runs: buffers come from the shared pool, which other tests running at once may have
        // drained (that costs once per connection, not per request).
        var few = Enumerable.Range(0, 3).Min(_ => Measure(10));
        var many = Enumerable.Range(0, 3).Min(_ => Measure(1010));
        // Per connection there are buffers and a timer; per request nothing (less than one byte a request on average).
        Assert.True(many - few < 1000, $"10 requests: {few} bytes, 1010 requests: {many} bytes");
    }

    internal static string ETag(string content)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.ASCII.GetBytes(content))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        return (hash ^ (ulong)content.Length).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
    }
}

public sealed class ConnectionDeadlineTests
{
    [Fact]
    public async Task A_later_deadline_is_a_field_write_an_earlier_one_rearms_and_the_last_one_counts()
    {
        using var deadline = new ConnectionDeadline(CancellationToken.None);
        deadline.At(Environment.TickCount64 + 100);
        deadline.After(TimeSpan.FromSeconds(30)); // later: the timer fires at 100 ms, sees 30 s left and re-arms
        await Task.Delay(400);
        Assert.False(deadline.Token.IsCancellationRequested);
        var start = Environment.TickCount64;
        deadline.At(start + 150); // earlier than the armed 30 s: re-armed
        Assert.True(deadline.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(10)), "the deadline did not cancel");
        Assert.True(Environment.TickCount64 - start >= 140, $"cancelled after {Environment.TickCount64 - start} ms, before the deadline");
    }

    [Fact]
    public async Task No_deadline_never_cancels_and_the_outer_token_still_does()
    {
        using var outer = new CancellationTokenSource();
        using var deadline = new ConnectionDeadline(outer.Token);
        deadline.At(Environment.TickCount64 + 50);
        deadline.After(Timeout.InfiniteTimeSpan);
        await Task.Delay(300);
        Assert.False(deadline.Token.IsCancellationRequested);
        await outer.CancelAsync();
        Assert.True(deadline.Token.IsCancellationRequested);
    }
}
