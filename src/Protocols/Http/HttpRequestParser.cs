using System;

namespace Unikernel.Protocols.Http;

/// <summary>
/// Parses a request head (RFC 9112 2-3, 5-7; field syntax of RFC 9110 5) for hostile input: CRLF only (a bare CR or
/// LF is rejected), no obs-fold, no whitespace between a field name and its colon, no control bytes, one
/// Content-Length made of digits, Transfer-Encoding only as a final "chunked" and never with Content-Length, a
/// bounded request line (414), header section and field count (431). Every rejection closes the connection, so a
/// message whose framing is doubtful is never followed by another one (no request smuggling).
/// </summary>
public static class HttpRequestParser
{
    /// <summary>
    /// Parses the head at the start of <paramref name="input"/> into <paramref name="head"/>. Incomplete while the
    /// empty line that ends the head has not arrived and no limit is exceeded yet.
    /// </summary>
    public static HttpParseStatus Parse(ReadOnlySpan<byte> input, HttpRequestHead head)
    {
        ArgumentNullException.ThrowIfNull(head);
        head.Reset();
        var limits = head.Limits;

        // RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line.
        var start = 0;
        while (start + 1 < input.Length && input[start] == '\r' && input[start + 1] == '\n' && start < 8)
        {
            start += 2;
        }

        var lineEnd = input[start..].IndexOf((byte)'\n');
        if (lineEnd < 0)
        {
            if (input.Length - start > limits.MaxRequestLine)
            {
                return Fail(head, 414, "request line too long");
            }
            return Incomplete(input[start..], head);
        }
        if (lineEnd > limits.MaxRequestLine)
        {
            return Fail(head, 414, "request line too long");
        }
        var status = ParseRequestLine(input, start, start + lineEnd, head);
        if (status != HttpParseStatus.Complete)
        {
            return status;
        }

        // Header fields, up to the empty line.
        var position = start + lineEnd + 1;
        var headerStart = position;
        var fields = head.FieldTable;
        var count = 0;
        while (true)
        {
            var rest = input[position..];
            var newline = rest.IndexOf((byte)'\n');
            if (newline < 0)
            {
                if (position - headerStart + rest.Length > limits.MaxHeaderBytes)
                {
                    return Fail(head, 431, "header section too large");
                }
                return Incomplete(rest, head);
            }
            if (position - headerStart + newline + 1 > limits.MaxHeaderBytes + 2)
            {
                return Fail(head, 431, "header section too large");
            }
            if (newline == 0 || rest[newline - 1] != '\r')
            {
                return Fail(head, 400, "bare LF");
            }
            var line = rest[..(newline - 1)];
            if (line.IsEmpty)
            {
                position += newline + 1;
                break;
            }
            if (count == fields.Length)
            {
                return Fail(head, 431, "too many header fields");
            }
            if (line[0] is (byte)' ' or (byte)'\t')
            {
                return Fail(head, 400, "obsolete line folding");
            }
            var colon = 0;
            while (colon < line.Length && Ascii.IsTokenChar(line[colon]))
            {
                colon++;
            }
            if (colon == line.Length || line[colon] != ':')
            {
                return Fail(head, 400, colon < line.Length && line[colon] is (byte)' ' or (byte)'\t' ? "whitespace before colon" : "invalid field name");
            }
            if (colon == 0)
            {
                return Fail(head, 400, "empty field name");
            }
            var value = line[(colon + 1)..];
            for (var i = 0; i < value.Length; i++)
            {
                if (!Ascii.IsFieldValueChar(value[i]))
                {
                    return Fail(head, 400, value[i] == '\r' ? "bare CR" : "invalid byte in field value");
                }
            }
            var valueStart = colon + 1;
            var valueEnd = line.Length;
            while (valueStart < valueEnd && line[valueStart] is (byte)' ' or (byte)'\t')
            {
                valueStart++;
            }
            while (valueEnd > valueStart && line[valueEnd - 1] is (byte)' ' or (byte)'\t')
            {
                valueEnd--;
            }
            fields[count++] = new HttpField(position, colon, position + valueStart, valueEnd - valueStart);
            position += newline + 1;
        }
        head.FieldCount = count;
        head.HeadLength = position;
        return Semantics(input, head);
    }

    private static HttpParseStatus Incomplete(ReadOnlySpan<byte> partial, HttpRequestHead head)
    {
        // A bare CR can be rejected before the line is complete (slow clients get no extra time for garbage).
        var cr = partial.IndexOf((byte)'\r');
        if (cr >= 0 && cr + 1 < partial.Length)
        {
            return Fail(head, 400, "bare CR");
        }
        return HttpParseStatus.Incomplete;
    }

    private static HttpParseStatus ParseRequestLine(ReadOnlySpan<byte> input, int start, int lf, HttpRequestHead head)
    {
        if (lf == start || input[lf - 1] != '\r')
        {
            return Fail(head, 400, "bare LF");
        }
        var line = input[start..(lf - 1)];
        if (line.IndexOf((byte)'\r') >= 0)
        {
            return Fail(head, 400, "bare CR");
        }
        // method SP request-target SP HTTP-version, exactly one SP each.
        var method = 0;
        while (method < line.Length && Ascii.IsTokenChar(line[method]))
        {
            method++;
        }
        if (method == 0 || method == line.Length || line[method] != ' ')
        {
            return Fail(head, 400, "invalid method");
        }
        var targetStart = method + 1;
        var targetEnd = targetStart;
        while (targetEnd < line.Length && line[targetEnd] is > 0x20 and < 0x7F)
        {
            targetEnd++;
        }
        if (targetEnd == targetStart || targetEnd == line.Length || line[targetEnd] != ' ')
        {
            return Fail(head, 400, "invalid request target");
        }
        var version = line[(targetEnd + 1)..];
        if (version.Length != 8 || !version.StartsWith("HTTP/"u8) || !char.IsAsciiDigit((char)version[5]) || version[6] != '.' || !char.IsAsciiDigit((char)version[7]))
        {
            return Fail(head, 400, "invalid HTTP version");
        }
        if (version[5] != '1')
        {
            return Fail(head, 505, "HTTP version not supported");
        }
        head.MinorVersion = version[7] == '0' ? 0 : 1;
        head.MethodStart = start;
        head.MethodLength = method;
        head.TargetStart = start + targetStart;
        head.TargetLength = targetEnd - targetStart;
        head.Method = MethodOf(line[..method]);
        return HttpParseStatus.Complete;
    }

    private static RequestMethod MethodOf(ReadOnlySpan<byte> method) => method.Length switch
    {
        3 when method.SequenceEqual("GET"u8) => RequestMethod.Get,
        3 when method.SequenceEqual("PUT"u8) => RequestMethod.Put,
        4 when method.SequenceEqual("HEAD"u8) => RequestMethod.Head,
        4 when method.SequenceEqual("POST"u8) => RequestMethod.Post,
        5 when method.SequenceEqual("PATCH"u8) => RequestMethod.Patch,
        5 when method.SequenceEqual("TRACE"u8) => RequestMethod.Trace,
        6 when method.SequenceEqual("DELETE"u8) => RequestMethod.Delete,
        7 when method.SequenceEqual("OPTIONS"u8) => RequestMethod.Options,
        7 when method.SequenceEqual("CONNECT"u8) => RequestMethod.Connect,
        _ => RequestMethod.Other,
    };

    /// <summary>Framing and connection semantics from the fields (RFC 9112 6, 9; RFC 9110 7.2, 10.1.1).</summary>
    private static HttpParseStatus Semantics(ReadOnlySpan<byte> input, HttpRequestHead head)
    {
        var hosts = 0;
        var transferEncoding = false;
        var close = false;
        var keepAlive = false;
        foreach (var field in head.Fields)
        {
            var name = input.Slice(field.NameStart, field.NameLength);
            var value = input.Slice(field.ValueStart, field.ValueLength);
            switch (name.Length)
            {
                case 4 when Ascii.EqualsIgnoreCase(name, "host"u8):
                    hosts++;
                    head.HostField = field.ValueStart;
                    break;
                case 14 when Ascii.EqualsIgnoreCase(name, "content-length"u8):
                    if (head.ContentLength >= 0)
                    {
                        return Fail(head, 400, "more than one Content-Length");
                    }
                    if (value.IsEmpty || value.Length > 18)
                    {
                        return Fail(head, 400, "invalid Content-Length");
                    }
                    long length = 0;
                    foreach (var b in value)
                    {
                        if (!char.IsAsciiDigit((char)b))
                        {
                            return Fail(head, 400, "invalid Content-Length");
                        }
                        length = length * 10 + (b - '0');
                    }
                    head.ContentLength = length;
                    break;
                case 17 when Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8):
                    var status = TransferCodings(value, head, ref transferEncoding);
                    if (status != HttpParseStatus.Complete)
                    {
                        return status;
                    }
                    break;
                case 10 when Ascii.EqualsIgnoreCase(name, "connection"u8):
                    ConnectionOptions(value, ref close, ref keepAlive);
                    break;
                case 6 when Ascii.EqualsIgnoreCase(name, "expect"u8):
                    if (!Ascii.EqualsIgnoreCase(value, "100-continue"u8))
                    {
                        return Fail(head, 417, "unsupported expectation");
                    }
                    head.ExpectContinue = true;
                    break;
            }
        }
        if (transferEncoding)
        {
            if (head.MinorVersion == 0)
            {
                return Fail(head, 400, "Transfer-Encoding in HTTP/1.0");
            }
            if (head.ContentLength >= 0)
            {
                return Fail(head, 400, "Transfer-Encoding with Content-Length");
            }
            head.Chunked = true;
        }
        if (hosts > 1 || (hosts == 0 && head.MinorVersion == 1))
        {
            return Fail(head, 400, hosts == 0 ? "missing Host" : "more than one Host");
        }
        if (head.ContentLength > head.Limits.MaxBodyBytes)
        {
            return Fail(head, 413, "body too large");
        }
        if (head.ContentLength < 0 && !head.Chunked)
        {
            head.ContentLength = 0;
        }
        head.ExpectContinue &= head.HasBody && head.MinorVersion == 1;
        head.KeepAlive = !close && (head.MinorVersion == 1 || keepAlive);
        return HttpParseStatus.Complete;
    }

    /// <summary>Only "chunked", last and once, is accepted (RFC 9112 6.1): others we cannot decode get 501.</summary>
    private static HttpParseStatus TransferCodings(ReadOnlySpan<byte> value, HttpRequestHead head, ref bool seen)
    {
        var elements = 0;
        while (true)
        {
            var comma = value.IndexOf((byte)',');
            var element = Ascii.TrimOws(comma < 0 ? value : value[..comma]);
            if (!element.IsEmpty)
            {
                if (seen)
                {
                    // Something after "chunked" (in this field or an earlier one): the length cannot be determined.
                    return Fail(head, 400, "chunked is not the final transfer coding");
                }
                if (!Ascii.EqualsIgnoreCase(element, "chunked"u8))
                {
                    // An unknown coding: 400 when it is final (the framing is unknown), else 501.
                    var last = comma < 0 || Ascii.TrimOws(value[(comma + 1)..]).IsEmpty;
                    return last ? Fail(head, 400, "chunked is not the final transfer coding") : Fail(head, 501, "unsupported transfer coding");
                }
                seen = true;
                elements++;
            }
            if (comma < 0)
            {
                break;
            }
            value = value[(comma + 1)..];
        }
        return elements == 0 ? Fail(head, 400, "empty Transfer-Encoding") : HttpParseStatus.Complete;
    }

    private static void ConnectionOptions(ReadOnlySpan<byte> value, ref bool close, ref bool keepAlive)
    {
        while (true)
        {
            var comma = value.IndexOf((byte)',');
            var option = Ascii.TrimOws(comma < 0 ? value : value[..comma]);
            close |= Ascii.EqualsIgnoreCase(option, "close"u8);
            keepAlive |= Ascii.EqualsIgnoreCase(option, "keep-alive"u8);
            if (comma < 0)
            {
                return;
            }
            value = value[(comma + 1)..];
        }
    }

    private static HttpParseStatus Fail(HttpRequestHead head, int status, string reason)
    {
        head.ErrorStatus = status;
        head.ErrorReason = reason;
        head.KeepAlive = false;
        return HttpParseStatus.Error;
    }
}
