using System;

namespace Unikernel.Protocols.Http;

/// <summary>
/// Answers GET/HEAD for a file of a <see cref="StaticSite"/>: content negotiation (Accept-Encoding, with Vary),
/// conditionals (If-Match 412, If-None-Match / If-Modified-Since 304, RFC 9110 13.2.2 order), ranges (one range 206,
/// several multipart/byteranges, unsatisfiable 416, If-Range). The common case copies a prepared head and the body.
/// </summary>
internal static class StaticResponder
{
    /// <summary>Most ranges honoured in one request; more is answered with the whole file (a defence against range floods).</summary>
    public const int MaxRanges = 16;

    /// <summary>Bytes of output room a static response head needs (multipart heads included).</summary>
    public const int HeadRoom = 6144;

    public const int PieceRoom = MaxRanges * 2 + 2;

    /// <summary>Writes the response; returns its status and body length (for the access log).</summary>
    public static (int Status, long Bytes) Respond(StaticFile file, HttpRequestHead head, ReadOnlySpan<byte> buffer, ResponseOutput output, ReadOnlySpan<byte> connectionFields)
    {
        var isHead = head.Method == RequestMethod.Head;
        ReadOnlySpan<byte> acceptEncoding = default, ifNoneMatch = default, ifModifiedSince = default, range = default, ifRange = default, ifMatch = default;
        bool hasAcceptEncoding = false, hasIfNoneMatch = false, hasIfMatch = false;
        foreach (var field in head.Fields)
        {
            var name = buffer.Slice(field.NameStart, field.NameLength);
            var value = buffer.Slice(field.ValueStart, field.ValueLength);
            switch (name.Length)
            {
                case 5 when Ascii.EqualsIgnoreCase(name, "range"u8):
                    range = value;
                    break;
                case 8 when Ascii.EqualsIgnoreCase(name, "if-match"u8):
                    ifMatch = value;
                    hasIfMatch = true;
                    break;
                case 8 when Ascii.EqualsIgnoreCase(name, "if-range"u8):
                    ifRange = value;
                    break;
                case 13 when Ascii.EqualsIgnoreCase(name, "if-none-match"u8):
                    ifNoneMatch = value;
                    hasIfNoneMatch = true;
                    break;
                case 15 when Ascii.EqualsIgnoreCase(name, "accept-encoding"u8):
                    acceptEncoding = value;
                    hasAcceptEncoding = true;
                    break;
                case 17 when Ascii.EqualsIgnoreCase(name, "if-modified-since"u8):
                    ifModifiedSince = value;
                    break;
            }
        }

        // Ranges are served from the identity representation only, so byte offsets mean what the client expects.
        var representation = range.IsEmpty && hasAcceptEncoding ? Negotiate(file, acceptEncoding) : file.Identity;

        if (hasIfMatch && !MatchesAny(ifMatch, representation.ETagBytes.Span, weak: false))
        {
            return Simple(output, 412, file, connectionFields);
        }
        var notModified = hasIfNoneMatch
            ? MatchesAny(ifNoneMatch, representation.ETagBytes.Span, weak: true)
            : !ifModifiedSince.IsEmpty && HttpDate.TryParse(ifModifiedSince, out var since) && file.LastModifiedUtc <= since;
        if (notModified)
        {
            output.Append(representation.NotModifiedHead.Span);
            output.Append(file.LastModifiedField.Span);
            output.Append(connectionFields);
            return (304, 0);
        }

        var length = file.Identity.Body.Length;
        if (!range.IsEmpty && head.Method == RequestMethod.Get && IfRangeHolds(ifRange, file))
        {
            Span<(long Start, long End)> ranges = stackalloc (long, long)[MaxRanges];
            var count = ParseRanges(range, length, ranges, out var satisfiable);
            if (count < 0)
            {
                // A syntax error or too many ranges: ignore Range (RFC 9110 14.2 allows it).
            }
            else if (!satisfiable)
            {
                output.Append("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */"u8);
                output.AppendDecimal(length);
                output.Append("\r\nContent-Length: 0\r\n"u8);
                output.Append(file.RangeFields.Span);
                output.Append(file.LastModifiedField.Span);
                output.Append(connectionFields);
                return (416, 0);
            }
            else if (count == 1)
            {
                var (start, end) = ranges[0];
                output.Append("HTTP/1.1 206 Partial Content\r\n"u8);
                output.Append(file.ContentTypeField.Span);
                output.Append("Content-Range: bytes "u8);
                output.AppendDecimal(start);
                output.Append("-"u8);
                output.AppendDecimal(end);
                output.Append("/"u8);
                output.AppendDecimal(length);
                output.Append("\r\nContent-Length: "u8);
                output.AppendDecimal(end - start + 1);
                output.Append("\r\n"u8);
                output.Append(file.RangeFields.Span);
                output.Append(file.LastModifiedField.Span);
                output.Append(connectionFields);
                output.AppendBody(file.Identity.Body.Slice((int)start, (int)(end - start + 1)));
                return (206, end - start + 1);
            }
            else
            {
                return Multipart(file, ranges[..count], length, output, connectionFields);
            }
        }

        output.Append(representation.OkHead.Span);
        output.Append(file.LastModifiedField.Span);
        output.Append(connectionFields);
        if (!isHead)
        {
            output.AppendBody(representation.Body);
        }
        return (200, isHead ? 0 : representation.Body.Length);
    }

    private static (int, long) Simple(ResponseOutput output, int status, StaticFile file, ReadOnlySpan<byte> connectionFields)
    {
        output.Append(HttpStatus.StatusLine(status));
        output.Append("Content-Length: 0\r\n"u8);
        output.Append(file.RangeFields.Span);
        output.Append(file.LastModifiedField.Span);
        output.Append(connectionFields);
        return (status, 0);
    }

    private static (int, long) Multipart(StaticFile file, ReadOnlySpan<(long Start, long End)> ranges, long length, ResponseOutput output, ReadOnlySpan<byte> connectionFields)
    {
        // Each part: CRLF "--" boundary CRLF Content-Type CRLF Content-Range CRLF CRLF data; then CRLF "--" boundary "--" CRLF.
        var boundary = file.Boundary.Span;
        var typeField = file.ContentTypeField.Span;
        long total = 0;
        foreach (var (start, end) in ranges)
        {
            total += 2 + 2 + boundary.Length + 2 + typeField.Length + "Content-Range: bytes "u8.Length + Digits(start) + 1 + Digits(end) + 1 + Digits(length) + 2 + 2 + (end - start + 1);
        }
        total += 2 + 2 + boundary.Length + 2 + 2;
        output.Append("HTTP/1.1 206 Partial Content\r\nContent-Type: multipart/byteranges; boundary="u8);
        output.Append(boundary);
        output.Append("\r\nContent-Length: "u8);
        output.AppendDecimal(total);
        output.Append("\r\n"u8);
        output.Append(file.RangeFields.Span);
        output.Append(file.LastModifiedField.Span);
        output.Append(connectionFields);
        foreach (var (start, end) in ranges)
        {
            output.Append("\r\n--"u8);
            output.Append(boundary);
            output.Append("\r\n"u8);
            output.Append(typeField);
            output.Append("Content-Range: bytes "u8);
            output.AppendDecimal(start);
            output.Append("-"u8);
            output.AppendDecimal(end);
            output.Append("/"u8);
            output.AppendDecimal(length);
            output.Append("\r\n\r\n"u8);
            output.AppendBody(file.Identity.Body.Slice((int)start, (int)(end - start + 1)));
        }
        output.Append("\r\n--"u8);
        output.Append(boundary);
        output.Append("--\r\n"u8);
        return (206, total);
    }

    private static int Digits(long value)
    {
        var digits = 1;
        while (value >= 10)
        {
            value /= 10;
            digits++;
        }
        return digits;
    }

    /// <summary>
    /// Parses <c>bytes=first-last, first-, -suffix</c> (RFC 9110 14.1.2). Returns the count, or -1 to ignore the field
    /// (not bytes, a syntax error, more than <see cref="MaxRanges"/>); <paramref name="satisfiable"/> is false when no
    /// range overlaps the representation (416).
    /// </summary>
    internal static int ParseRanges(ReadOnlySpan<byte> value, long length, Span<(long Start, long End)> ranges, out bool satisfiable)
    {
        satisfiable = false;
        if (value.Length < 6 || !Ascii.EqualsIgnoreCase(value[..6], "bytes="u8))
        {
            return -1;
        }
        value = value[6..];
        var count = 0;
        var elements = 0;
        while (true)
        {
            var comma = value.IndexOf((byte)',');
            var element = Ascii.TrimOws(comma < 0 ? value : value[..comma]);
            if (!element.IsEmpty)
            {
                if (++elements > MaxRanges)
                {
                    return -1;
                }
                var dash = element.IndexOf((byte)'-');
                if (dash < 0)
                {
                    return -1;
                }
                var hasFirst = TryNumber(element[..dash], out var first);
                var hasLast = TryNumber(element[(dash + 1)..], out var last);
                if ((dash > 0 && !hasFirst) || (dash + 1 < element.Length && !hasLast) || (!hasFirst && !hasLast))
                {
                    return -1;
                }
                if (hasFirst && hasLast && last < first)
                {
                    return -1;
                }
                long start, end;
                if (!hasFirst)
                {
                    if (last == 0 || length == 0)
                    {
                        goto next; // an empty suffix range is unsatisfiable
                    }
                    start = Math.Max(0, length - last);
                    end = length - 1;
                }
                else
                {
                    if (first >= length)
                    {
                        goto next;
                    }
                    start = first;
                    end = hasLast ? Math.Min(last, length - 1) : length - 1;
                }
                ranges[count++] = (start, end);
            }
        next:
            if (comma < 0)
            {
                break;
            }
            value = value[(comma + 1)..];
        }
        if (elements == 0)
        {
            return -1;
        }
        satisfiable = count > 0;
        return count;
    }

    private static bool TryNumber(ReadOnlySpan<byte> digits, out long value)
    {
        value = 0;
        if (digits.IsEmpty || digits.Length > 18)
        {
            return false;
        }
        foreach (var b in digits)
        {
            if (!char.IsAsciiDigit((char)b))
            {
                return false;
            }
            value = value * 10 + (b - '0');
        }
        return true;
    }

    private static bool IfRangeHolds(ReadOnlySpan<byte> ifRange, StaticFile file)
    {
        if (ifRange.IsEmpty)
        {
            return true;
        }
        if (ifRange[0] == '"')
        {
            return ifRange.SequenceEqual(file.Identity.ETagBytes.Span); // strong comparison
        }
        return HttpDate.TryParse(ifRange, out var date) && date == file.LastModifiedUtc;
    }

    /// <summary>Whether a list of entity tags (or "*") holds <paramref name="etag"/>; weak comparison ignores W/.</summary>
    internal static bool MatchesAny(ReadOnlySpan<byte> list, ReadOnlySpan<byte> etag, bool weak)
    {
        if (Ascii.TrimOws(list).SequenceEqual("*"u8))
        {
            return true;
        }
        while (true)
        {
            var comma = list.IndexOf((byte)',');
            var element = Ascii.TrimOws(comma < 0 ? list : list[..comma]);
            if (element.Length > 2 && element[0] == 'W' && element[1] == '/')
            {
                if (weak && element[2..].SequenceEqual(etag))
                {
                    return true;
                }
            }
            else if (element.SequenceEqual(etag))
            {
                return true;
            }
            if (comma < 0)
            {
                return false;
            }
            list = list[(comma + 1)..];
        }
    }

    /// <summary>The best representation the client accepts: highest q, ties to br, then gzip, then identity.</summary>
    internal static StaticRepresentation Negotiate(StaticFile file, ReadOnlySpan<byte> acceptEncoding)
    {
        if (file.Gzip is null && file.Brotli is null)
        {
            return file.Identity;
        }
        int br = -1, gzip = -1, identity = -1, star = -1;
        var list = acceptEncoding;
        while (true)
        {
            var comma = list.IndexOf((byte)',');
            var element = Ascii.TrimOws(comma < 0 ? list : list[..comma]);
            var semicolon = element.IndexOf((byte)';');
            var coding = Ascii.TrimOws(semicolon < 0 ? element : element[..semicolon]);
            var q = semicolon < 0 ? 1000 : Quality(element[(semicolon + 1)..]);
            if (Ascii.EqualsIgnoreCase(coding, "br"u8))
            {
                br = q;
            }
            else if (Ascii.EqualsIgnoreCase(coding, "gzip"u8) || Ascii.EqualsIgnoreCase(coding, "x-gzip"u8))
            {
                gzip = q;
            }
            else if (Ascii.EqualsIgnoreCase(coding, "identity"u8))
            {
                identity = q;
            }
            else if (coding.SequenceEqual("*"u8))
            {
                star = q;
            }
            if (comma < 0)
            {
                break;
            }
            list = list[(comma + 1)..];
        }
        br = br >= 0 ? br : Math.Max(star, 0);
        gzip = gzip >= 0 ? gzip : Math.Max(star, 0);
        identity = identity >= 0 ? identity : star >= 0 ? star : 1;
        var best = file.Identity;
        var bestQ = identity;
        if (file.Gzip is not null && gzip > 0 && gzip >= bestQ)
        {
            best = file.Gzip;
            bestQ = gzip;
        }
        if (file.Brotli is not null && br > 0 && br >= bestQ)
        {
            best = file.Brotli;
        }
        return best;
    }

    /// <summary>The q parameter in thousandths (RFC 9110 12.4.2); 1000 without one, 0 when malformed.</summary>
    private static int Quality(ReadOnlySpan<byte> parameters)
    {
        var p = Ascii.TrimOws(parameters);
        if (p.Length < 2 || (p[0] | 0x20) != 'q' || p[1] != '=')
        {
            return 1000;
        }
        p = Ascii.TrimOws(p[2..]);
        if (p.IsEmpty || p.Length > 5)
        {
            return 0;
        }
        if (p[0] == '1')
        {
            return 1000;
        }
        if (p[0] != '0')
        {
            return 0;
        }
        var value = 0;
        var scale = 100;
        for (var i = 2; i < p.Length && p[1] == '.'; i++)
        {
            if (!char.IsAsciiDigit((char)p[i]))
            {
                return 0;
            }
            value += (p[i] - '0') * scale;
            scale /= 10;
        }
        return value;
    }
}
