using System.Text;
using Unikernel.Protocols.Http;
using static Unikernel.Protocols.Tests.Http.HttpTestKit;

namespace Unikernel.Protocols.Tests.Http;

/// <summary>
/// Random and mutated requests (fixed seeds, bounded counts) never throw, never hang, stay within the memory limits
/// and always get well-formed responses; a rejected request always ends its connection.
/// </summary>
public sealed class FuzzTests
{
    private static readonly string[] Seeds =
    [
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /digits.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1,3-4,-2\r\nIf-None-Match: \"x\", W/\"y\"\r\n\r\n",
        "HEAD /style.css HTTP/1.0\r\nConnection: keep-alive\r\nAccept-Encoding: gzip;q=0.5, br\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
        "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n3;x=1\r\nabc\r\n0\r\nT: v\r\n\r\n",
        "GET /docs/a%20b.txt?q=1 HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n",
        "GET /headers HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-B: 2\r\n\r\n",
    ];

    private static readonly byte[] Interesting = "\r\n \t:;,=\"%/.\\-0123456789abcdefABCDEF\0\u007f\u00ff"u8.ToArray();

    private static byte[] Mutate(Random random, byte[] input)
    {
        var bytes = new List<byte>(input);
        var edits = random.Next(1, 6);
        for (var e = 0; e < edits; e++)
        {
            var at = bytes.Count == 0 ? 0 : random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0 when bytes.Count > 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 1:
                    bytes.Insert(at, Interesting[random.Next(Interesting.Length)]);
                    break;
                case 2 when bytes.Count > 0:
                    bytes.RemoveAt(at);
                    break;
                case 3 when bytes.Count > 0:
                    var length = Math.Min(random.Next(1, 40), bytes.Count - at);
                    bytes.InsertRange(random.Next(bytes.Count), bytes.GetRange(at, length));
                    break;
                case 4:
                    bytes.InsertRange(at, Encoding.ASCII.GetBytes(Seeds[random.Next(Seeds.Length)]));
                    break;
                default:
                    bytes[at == bytes.Count ? 0 : at] = Interesting[random.Next(Interesting.Length)];
                    break;
            }
        }
        return [.. bytes];
    }

    [Fact]
    public void Mutated_requests_through_a_whole_connection()
    {
        var random = new Random(14);
        var server = Server(new HttpServerOptions { Clock = new FixedClock(Now), Limits = new HttpLimits { MaxBodyBytes = 4096, MaxRequestLine = 512, MaxHeaderBytes = 1024, MaxHeaderCount = 16 } }, EchoRoutes());
        int ok = 0, rejected = 0;
        for (var i = 0; i < 3000; i++)
        {
            var seed = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, random.Next(1, 4)).Select(_ => Seeds[random.Next(Seeds.Length)])));
            var input = Mutate(random, seed);
            // Split into random reads, as a network would.
            var reads = new List<byte[]>();
            for (var at = 0; at < input.Length;)
            {
                var n = Math.Min(random.Next(1, 64), input.Length - at);
                reads.Add(input[at..(at + n)]);
                at += n;
            }
            var connection = RunBytes(server, [.. reads]);
            AssertWellFormed(connection, Convert.ToHexString(input));
            var text = connection.WrittenText;
            ok += text.StartsWith("HTTP/1.1 2", StringComparison.Ordinal) ? 1 : 0;
            rejected += text.Contains("Connection: close", StringComparison.Ordinal) ? 1 : 0;
        }
        // Both paths were exercised, not only one.
        Assert.True(ok > 300 && rejected > 300, $"{ok} answered, {rejected} rejected");
    }

    [Fact]
    public void Random_bytes_through_the_parser_and_the_chunked_decoder()
    {
        var random = new Random(9112);
        var limits = new HttpLimits { MaxBodyBytes = 1 << 20, MaxRequestLine = 256, MaxHeaderBytes = 512, MaxHeaderCount = 8 };
        var head = new HttpRequestHead(limits);
        for (var i = 0; i < 20000; i++)
        {
            var input = i % 2 == 0 ? new byte[random.Next(0, 600)] : Mutate(random, Encoding.ASCII.GetBytes(Seeds[random.Next(Seeds.Length)]));
            if (i % 2 == 0)
            {
                for (var j = 0; j < input.Length; j++)
                {
                    input[j] = random.Next(4) == 0 ? Interesting[random.Next(Interesting.Length)] : (byte)random.Next(32, 127);
                }
            }
            var status = HttpRequestParser.Parse(input, head);
            switch (status)
            {
                case HttpParseStatus.Complete:
                    Assert.InRange(head.HeadLength, 1, input.Length);
                    Assert.InRange(head.FieldCount, 0, limits.MaxHeaderCount);
                    Assert.False(head.Chunked && head.ContentLength >= 0);
                    foreach (var field in head.Fields)
                    {
                        Assert.InRange(field.ValueStart + field.ValueLength, 0, head.HeadLength);
                    }
                    break;
                case HttpParseStatus.Error:
                    Assert.Contains(head.ErrorStatus, new[] { 400, 413, 414, 417, 431, 501, 505 });
                    break;
                default:
                    Assert.True(input.Length <= limits.HeadBufferSize);
                    break;
            }
            var decoder = default(ChunkedDecoder);
            var offset = 0;
            for (var steps = 0; steps < 10000; steps++)
            {
                var result = decoder.Decode(input.AsSpan(offset), limits, out var consumed, out var start, out var length);
                Assert.InRange(consumed, 0, input.Length - offset);
                if (result == ChunkedStatus.Data)
                {
                    Assert.InRange(start + length, 0, consumed);
                    Assert.True(consumed > 0);
                }
                offset += consumed;
                if (result is ChunkedStatus.Error or ChunkedStatus.Done || (result == ChunkedStatus.NeedMore))
                {
                    break;
                }
            }
        }
    }

    private static void AssertWellFormed(ScriptedConnection connection, string input)
    {
        var text = connection.WrittenText;
        var position = 0;
        var sawError = false;
        while (position < text.Length)
        {
            Assert.False(sawError, "a response after a rejection; input " + input);
            var end = text.IndexOf("\r\n\r\n", position, StringComparison.Ordinal);
            Assert.True(end > position, "a truncated response; input " + input);
            var head = text[position..(end + 4)];
            Assert.Matches("^HTTP/1.1 [1-5][0-9][0-9] [A-Za-z -]+\r\n", head);
            var status = int.Parse(head.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
            var lengthLine = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length: ", StringComparison.Ordinal));
            Assert.True(status is 100 or 304 || lengthLine is not null, "no Content-Length: " + head);
            position = end + 4;
            if (status >= 400 && head.Contains("Connection: close", StringComparison.Ordinal))
            {
                sawError = true;
            }
            var isHead = false;
            if (lengthLine is not null && status is not (100 or 304))
            {
                // HEAD responses carry the length of what GET would send; the next response starts right after the head.
                var length = int.Parse(lengthLine.AsSpan(16), System.Globalization.CultureInfo.InvariantCulture);
                isHead = position + length > text.Length || !(position + length == text.Length || text.AsSpan(position + length).StartsWith("HTTP/1.1 "));
                if (!isHead)
                {
                    position += length;
                }
            }
        }
        if (sawError)
        {
            Assert.True(connection.SendShutdown, "a rejection must close the connection; input " + input);
        }
    }
}
