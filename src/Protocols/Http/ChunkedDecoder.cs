using System;

namespace Unikernel.Protocols.Http;

public enum ChunkedStatus
{
    /// <summary>Everything given was consumed (or a line is still incomplete): give more bytes.</summary>
    NeedMore,

    /// <summary>Body bytes: <c>input[dataStart..(dataStart + dataLength)]</c>.</summary>
    Data,

    /// <summary>The last chunk and the trailer section were read: the body is complete.</summary>
    Done,

    /// <summary>Malformed (400) or too large (413): see <see cref="ChunkedDecoder.ErrorStatus"/>.</summary>
    Error,
}

/// <summary>
/// Incremental decoder of the chunked transfer coding (RFC 9112 7.1): <c>chunk-size [ chunk-ext ] CRLF data CRLF</c>
/// ... <c>0 CRLF trailer-section CRLF</c>. Chunk sizes that overflow, lines (size plus extensions, or trailer
/// fields) longer than the limit, bare CR or LF and a body above <see cref="HttpLimits.MaxBodyBytes"/> are errors.
/// Trailer fields are checked for syntax and dropped.
/// </summary>
public struct ChunkedDecoder
{
    private enum State : byte
    {
        Size,
        Data,
        DataEnd,
        Trailer,
        Done,
    }

    private State _state;
    private long _remaining;
    private long _total;
    private int _trailerBytes;

    public readonly long BodyBytes => _total;

    public int ErrorStatus { get; private set; }

    public readonly bool IsDone => _state == State.Done;

    public void Reset() => this = default;

    /// <summary>One step over <paramref name="input"/>; <paramref name="consumed"/> bytes of it are used up.</summary>
    public ChunkedStatus Decode(ReadOnlySpan<byte> input, HttpLimits limits, out int consumed, out int dataStart, out int dataLength)
    {
        consumed = 0;
        dataStart = 0;
        dataLength = 0;
        while (true)
        {
            var rest = input[consumed..];
            switch (_state)
            {
                case State.Done:
                    return ChunkedStatus.Done;
                case State.Size:
                {
                    var lf = rest.IndexOf((byte)'\n');
                    if (lf < 0)
                    {
                        return rest.Length > limits.MaxChunkLine ? Fail(400) : NeedMoreUnlessBareCr(rest);
                    }
                    if (lf > limits.MaxChunkLine)
                    {
                        return Fail(400);
                    }
                    if (lf == 0 || rest[lf - 1] != '\r')
                    {
                        return Fail(400);
                    }
                    var line = rest[..(lf - 1)];
                    long size = 0;
                    var digits = 0;
                    while (digits < line.Length && char.IsAsciiHexDigit((char)line[digits]))
                    {
                        if (size > (long.MaxValue >> 4))
                        {
                            return Fail(400); // chunk-size overflow
                        }
                        size = (size << 4) | (long)HexValue(line[digits]);
                        digits++;
                    }
                    if (digits == 0 || !ValidExtensions(line[digits..]))
                    {
                        return Fail(400);
                    }
                    consumed += lf + 1;
                    if (size == 0)
                    {
                        _state = State.Trailer;
                        continue;
                    }
                    if (size > limits.MaxBodyBytes - _total)
                    {
                        return Fail(413);
                    }
                    _total += size;
                    _remaining = size;
                    _state = State.Data;
                    continue;
                }
                case State.Data:
                {
                    if (rest.IsEmpty)
                    {
                        return ChunkedStatus.NeedMore;
                    }
                    var n = (int)Math.Min(_remaining, rest.Length);
                    dataStart = consumed;
                    dataLength = n;
                    consumed += n;
                    _remaining -= n;
                    if (_remaining == 0)
                    {
                        _state = State.DataEnd;
                    }
                    return ChunkedStatus.Data;
                }
                case State.DataEnd:
                    if (rest.Length < 2)
                    {
                        return rest.Length == 1 && rest[0] != '\r' ? Fail(400) : ChunkedStatus.NeedMore;
                    }
                    if (rest[0] != '\r' || rest[1] != '\n')
                    {
                        return Fail(400);
                    }
                    consumed += 2;
                    _state = State.Size;
                    continue;
                case State.Trailer:
                {
                    var lf = rest.IndexOf((byte)'\n');
                    if (lf < 0)
                    {
                        return _trailerBytes + rest.Length > limits.MaxHeaderBytes ? Fail(431) : NeedMoreUnlessBareCr(rest);
                    }
                    _trailerBytes += lf + 1;
                    if (_trailerBytes > limits.MaxHeaderBytes + 2)
                    {
                        return Fail(431);
                    }
                    if (lf == 0 || rest[lf - 1] != '\r')
                    {
                        return Fail(400);
                    }
                    var line = rest[..(lf - 1)];
                    consumed += lf + 1;
                    if (line.IsEmpty)
                    {
                        _state = State.Done;
                        return ChunkedStatus.Done;
                    }
                    if (!ValidTrailerField(line))
                    {
                        return Fail(400);
                    }
                    continue;
                }
            }
        }
    }

    private ChunkedStatus NeedMoreUnlessBareCr(ReadOnlySpan<byte> partial)
    {
        var cr = partial.IndexOf((byte)'\r');
        return cr >= 0 && cr + 1 < partial.Length ? Fail(400) : ChunkedStatus.NeedMore;
    }

    private ChunkedStatus Fail(int status)
    {
        ErrorStatus = status;
        return ChunkedStatus.Error;
    }

    private static int HexValue(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;

    /// <summary><c>*( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )</c>, checked loosely: visible bytes only.</summary>
    private static bool ValidExtensions(ReadOnlySpan<byte> extensions)
    {
        var trimmed = Ascii.TrimOws(extensions);
        if (trimmed.IsEmpty)
        {
            return true;
        }
        if (trimmed[0] != ';')
        {
            return false;
        }
        foreach (var b in trimmed)
        {
            if (!Ascii.IsFieldValueChar(b))
            {
                return false;
            }
        }
        return true;
    }

    private static bool ValidTrailerField(ReadOnlySpan<byte> line)
    {
        var colon = 0;
        while (colon < line.Length && Ascii.IsTokenChar(line[colon]))
        {
            colon++;
        }
        if (colon == 0 || colon == line.Length || line[colon] != ':')
        {
            return false;
        }
        foreach (var b in line[(colon + 1)..])
        {
            if (!Ascii.IsFieldValueChar(b))
            {
                return false;
            }
        }
        return true;
    }
}
