using System.Text;
using Unikernel.Protocols.Http;

namespace Unikernel.Protocols.Tests.Http;

/// <summary>The chunked transfer coding (RFC 9112 7.1): decoding in any split, and every rejection.</summary>
public sealed class ChunkedTests
{
    /// <summary>Decodes <paramref name="text"/> fed in pieces of <paramref name="step"/> bytes; the body, or the error status.</summary>
    internal static (string? Body, int Status, int Consumed) Decode(string text, int step, HttpLimits? limits = null)
    {
        limits ??= HttpLimits.Default;
        var input = Encoding.Latin1.GetBytes(text);
        var decoder = default(ChunkedDecoder);
        var body = new StringBuilder();
        var buffered = new List<byte>();
        var fed = 0;
        var total = 0;
        while (true)
        {
            var status = decoder.Decode(buffered.ToArray(), limits, out var consumed, out var start, out var length);
            if (status == ChunkedStatus.Data)
            {
                body.Append(Encoding.Latin1.GetString(buffered.ToArray(), start, length));
            }
            buffered.RemoveRange(0, consumed);
            total += consumed;
            switch (status)
            {
                case ChunkedStatus.Done:
                    return (body.ToString(), 0, total);
                case ChunkedStatus.Error:
                    return (null, decoder.ErrorStatus, total);
                case ChunkedStatus.NeedMore:
                    if (fed == input.Length)
                    {
                        return (null, -1, total); // incomplete
                    }
                    var n = Math.Min(step, input.Length - fed);
                    buffered.AddRange(input.AsSpan(fed, n).ToArray());
                    fed += n;
                    break;
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(1000)]
    public void Decodes_in_any_split(int step)
    {
        const string body = "5\r\nhello\r\n1;name=value\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
        var (decoded, status, consumed) = Decode(body + "GET / HTTP/1.1\r\n", step);
        Assert.Equal(0, status);
        Assert.Equal("hello 0123456789", decoded);
        Assert.Equal(body.Length, consumed); // what follows the body is left for the next request
    }

    [Theory]
    [InlineData("0\r\n\r\n", "")]
    [InlineData("000\r\n\r\n", "")]
    [InlineData("3\r\nabc\r\n0\r\n\r\n", "abc")]
    [InlineData("3 \r\nabc\r\n0\r\n\r\n", "abc")]
    [InlineData("3;a=1;b=\"x y\"\r\nabc\r\n0;last\r\n\r\n", "abc")]
    [InlineData("1\r\na\r\n0\r\nA: 1\r\nB: 2\r\n\r\n", "a")]
    [InlineData("0000000000000003\r\nabc\r\n0\r\n\r\n", "abc")]
    public void Accepts(string text, string expected)
    {
        var (body, status, _) = Decode(text, 1000);
        Assert.Equal(0, status);
        Assert.Equal(expected, body);
    }

    [Theory]
    [InlineData("x\r\n", 400)] // no hex digits
    [InlineData("-1\r\n", 400)]
    [InlineData("3\nabc\r\n0\r\n\r\n", 400)] // bare LF after the size
    [InlineData("3\r\nabcX\r\n0\r\n\r\n", 400)] // data longer than its size
    [InlineData("3\r\nabc\n0\r\n\r\n", 400)]
    [InlineData("3\r\nabc\r\n0\r\n\n", 400)]
    [InlineData("3\r\nabc\r\n0\r\nbad trailer\r\n\r\n", 400)]
    [InlineData("3\r\nabc\r\n0\r\nX: a\u0000\r\n\r\n", 400)]
    [InlineData("3x\r\nabc\r\n0\r\n\r\n", 400)] // junk after the size
    [InlineData("3;\u0001\r\nabc\r\n0\r\n\r\n", 400)] // control byte in an extension
    [InlineData("ffffffffffffffffff\r\n", 400)] // overflow
    [InlineData("8000000000000000\r\n", 400)] // overflow into the sign
    [InlineData("100001\r\n", 413)] // above MaxBodyBytes (1 MiB)
    [InlineData("3\r\nab\rc\r\n", 400)] // (the data is opaque; the CRLF after it is not)
    [InlineData("3\ra\r\n", 400)] // bare CR in the size line
    public void Rejects(string text, int expected)
    {
        var (_, status, _) = Decode(text, 1000);
        Assert.Equal(expected, status);
    }

    [Fact]
    public void Chunks_summing_above_the_limit_are_413()
    {
        var limits = new HttpLimits { MaxBodyBytes = 10 };
        Assert.Equal(0, Decode("5\r\naaaaa\r\n5\r\nbbbbb\r\n0\r\n\r\n", 1000, limits).Status);
        Assert.Equal(413, Decode("5\r\naaaaa\r\n5\r\nbbbbb\r\n1\r\nc\r\n0\r\n\r\n", 1000, limits).Status);
    }

    [Fact]
    public void Extensions_and_trailers_are_bounded()
    {
        var limits = new HttpLimits { MaxChunkLine = 32, MaxHeaderBytes = 64 };
        Assert.Equal(400, Decode("1;" + new string('e', 40) + "\r\na\r\n0\r\n\r\n", 1000, limits).Status);
        Assert.Equal(400, Decode("1;" + new string('e', 40), 1000, limits).Status); // before the line ends
        Assert.Equal(431, Decode("1\r\na\r\n0\r\nX: " + new string('t', 80) + "\r\n\r\n", 1000, limits).Status);
        Assert.Equal(431, Decode("1\r\na\r\n0\r\n" + string.Concat(Enumerable.Repeat("X: 1234567\r\n", 8)) + "\r\n", 1000, limits).Status);
    }

    [Fact]
    public void An_unfinished_body_needs_more()
    {
        Assert.Equal(-1, Decode("5\r\nhel", 1000).Status);
        Assert.Equal(-1, Decode("5\r\nhello\r\n0\r\n", 1000).Status);
    }
}
