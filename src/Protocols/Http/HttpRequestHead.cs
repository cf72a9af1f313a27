using System;

namespace Unikernel.Protocols.Http;

/// <summary>Limits a request must stay within (each breach has its own status code).</summary>
public sealed class HttpLimits
{
    /// <summary>Longest request line (method, target, version) in bytes; longer gets 414.</summary>
    public int MaxRequestLine { get; init; } = 8192;

    /// <summary>Largest header section (after the request line, up to the empty line); larger gets 431.</summary>
    public int MaxHeaderBytes { get; init; } = 16384;

    /// <summary>Most header fields; more gets 431.</summary>
    public int MaxHeaderCount { get; init; } = 100;

    /// <summary>Largest request body (Content-Length or the sum of chunks); larger gets 413.</summary>
    public long MaxBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>Longest chunk-size line including its extensions; longer gets 400.</summary>
    public int MaxChunkLine { get; init; } = 1024;

    /// <summary>The bytes a connection buffers for one request head (request line + headers + CRLFs).</summary>
    public int HeadBufferSize => MaxRequestLine + MaxHeaderBytes + 4;

    public static HttpLimits Default { get; } = new();
}

public enum HttpParseStatus
{
    /// <summary>More bytes are needed.</summary>
    Incomplete,

    /// <summary>A whole, valid head: see <see cref="HttpRequestHead.HeadLength"/>.</summary>
    Complete,

    /// <summary>The request is rejected with <see cref="HttpRequestHead.ErrorStatus"/>; the connection must close.</summary>
    Error,
}

public enum RequestMethod : byte
{
    Other,
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Trace,
    Connect,
}

/// <summary>One header field: offsets into the buffer the head was parsed from.</summary>
public readonly record struct HttpField(int NameStart, int NameLength, int ValueStart, int ValueLength);

/// <summary>
/// The parsed representation of a request head (RFC 9112 sections 2-7): offsets into the connection's buffer plus the
/// framing and connection semantics derived from the fields. One instance per connection, reused for every request
/// (its field table is allocated once).
/// </summary>
public sealed class HttpRequestHead
{
    private readonly HttpField[] _fields;

    public HttpRequestHead(HttpLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        Limits = limits;
        _fields = new HttpField[limits.MaxHeaderCount];
    }

    public HttpLimits Limits { get; }

    /// <summary>Bytes of the head including the final empty line (valid when complete).</summary>
    public int HeadLength { get; internal set; }

    /// <summary>The status code of the rejection when parsing gave <see cref="HttpParseStatus.Error"/>.</summary>
    public int ErrorStatus { get; internal set; }

    /// <summary>What was wrong, for logs and tests.</summary>
    public string ErrorReason { get; internal set; } = "";

    public RequestMethod Method { get; internal set; }

    public int MethodStart { get; internal set; }

    public int MethodLength { get; internal set; }

    public int TargetStart { get; internal set; }

    public int TargetLength { get; internal set; }

    /// <summary>The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1 (and later 1.x, which we answer as 1.1).</summary>
    public int MinorVersion { get; internal set; }

    public int FieldCount { get; internal set; }

    public ReadOnlySpan<HttpField> Fields => _fields.AsSpan(0, FieldCount);

    internal HttpField[] FieldTable => _fields;

    /// <summary>The body length from Content-Length, or -1 without one.</summary>
    public long ContentLength { get; internal set; }

    /// <summary>The body is chunked (Transfer-Encoding: chunked).</summary>
    public bool Chunked { get; internal set; }

    public bool HasBody => Chunked || ContentLength > 0;

    /// <summary>The connection stays open after the response (HTTP/1.1 without close, HTTP/1.0 with keep-alive).</summary>
    public bool KeepAlive { get; internal set; }

    /// <summary>The client waits for 100 Continue before it sends the body.</summary>
    public bool ExpectContinue { get; internal set; }

    /// <summary>Offset of the Host field's value, or -1.</summary>
    public int HostField { get; internal set; }

    internal void Reset()
    {
        HeadLength = 0;
        ErrorStatus = 0;
        ErrorReason = "";
        Method = RequestMethod.Other;
        MethodStart = MethodLength = TargetStart = TargetLength = 0;
        MinorVersion = 1;
        FieldCount = 0;
        ContentLength = -1;
        Chunked = false;
        KeepAlive = true;
        ExpectContinue = false;
        HostField = -1;
    }

    /// <summary>The value of the first field named <paramref name="name"/> (ASCII, any case), or an empty span.</summary>
    public ReadOnlySpan<byte> Field(ReadOnlySpan<byte> buffer, ReadOnlySpan<byte> name)
    {
        foreach (var field in Fields)
        {
            if (Ascii.EqualsIgnoreCase(buffer.Slice(field.NameStart, field.NameLength), name))
            {
                return buffer.Slice(field.ValueStart, field.ValueLength);
            }
        }
        return default;
    }

    /// <summary>True when a field named <paramref name="name"/> is present.</summary>
    public bool HasField(ReadOnlySpan<byte> buffer, ReadOnlySpan<byte> name)
    {
        foreach (var field in Fields)
        {
            if (Ascii.EqualsIgnoreCase(buffer.Slice(field.NameStart, field.NameLength), name))
            {
                return true;
            }
        }
        return false;
    }
}

/// <summary>ASCII helpers over bytes (no allocation, no culture).</summary>
internal static class Ascii
{
    public static bool EqualsIgnoreCase(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => System.Text.Ascii.EqualsIgnoreCase(a, b);

    /// <summary>tchar of RFC 9110 5.6.2.</summary>
    public static bool IsTokenChar(byte b) => b < 128 && TokenTable[b];

    /// <summary>field-vchar / SP / HTAB: what a field value may hold (obs-text included).</summary>
    public static bool IsFieldValueChar(byte b) => b >= 0x20 ? b != 0x7F : b == (byte)'\t';

    public static ReadOnlySpan<byte> TrimOws(ReadOnlySpan<byte> value)
    {
        var start = 0;
        var end = value.Length;
        while (start < end && value[start] is (byte)' ' or (byte)'\t')
        {
            start++;
        }
        while (end > start && value[end - 1] is (byte)' ' or (byte)'\t')
        {
            end--;
        }
        return value[start..end];
    }

    private static readonly bool[] TokenTable = BuildTokenTable();

    private static bool[] BuildTokenTable()
    {
        var table = new bool[128];
        for (var c = '0'; c <= '9'; c++)
        {
            table[c] = true;
        }
        for (var c = 'a'; c <= 'z'; c++)
        {
            table[c] = true;
            table[c - 32] = true;
        }
        foreach (var c in "!#$%&'*+-.^_`|~")
        {
            table[c] = true;
        }
        return table;
    }
}
