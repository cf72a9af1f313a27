using System;
using System.Buffers;
using System.Buffers.Text;
using System.Collections.Generic;
using System.Net;

namespace Unikernel.Protocols.Http;

/// <summary>A request as a handler sees it: views over the connection's buffers, valid only during the handler call.</summary>
public sealed class HttpRequest
{
    private byte[] _buffer = [];
    private byte[] _body = [];
    private int _bodyLength;

    internal HttpRequest(HttpRequestHead head)
    {
        Head = head;
    }

    public HttpRequestHead Head { get; }

    public IPEndPoint? RemoteEndPoint { get; internal set; }

    public ReadOnlySpan<byte> Method => _buffer.AsSpan(Head.MethodStart, Head.MethodLength);

    public ReadOnlySpan<byte> Target => _buffer.AsSpan(Head.TargetStart, Head.TargetLength);

    /// <summary>The target up to its query.</summary>
    public ReadOnlySpan<byte> Path
    {
        get
        {
            var target = Target;
            var query = target.IndexOf((byte)'?');
            return query < 0 ? target : target[..query];
        }
    }

    public ReadOnlySpan<byte> Body => _body.AsSpan(0, _bodyLength);

    public int FieldCount => Head.FieldCount;

    public ReadOnlySpan<byte> FieldName(int index)
    {
        var field = Head.Fields[index];
        return _buffer.AsSpan(field.NameStart, field.NameLength);
    }

    public ReadOnlySpan<byte> FieldValue(int index)
    {
        var field = Head.Fields[index];
        return _buffer.AsSpan(field.ValueStart, field.ValueLength);
    }

    /// <summary>The first field of that name (any case), or empty.</summary>
    public ReadOnlySpan<byte> Field(ReadOnlySpan<byte> name) => Head.Field(_buffer, name);

    internal void Set(byte[] buffer, byte[] body, int bodyLength)
    {
        _buffer = buffer;
        _body = body;
        _bodyLength = bodyLength;
    }
}

/// <summary>
/// The response a handler writes: a status, fields and a body into a bounded buffer owned by the connection. The
/// server adds Content-Length, Date and Connection.
/// </summary>
public sealed class HttpResponse
{
    private readonly byte[] _fields;
    private readonly byte[] _body;
    private int _fieldLength;
    private int _bodyLength;

    internal HttpResponse(int maxFields, int maxBody)
    {
        _fields = new byte[maxFields];
        _body = new byte[maxBody];
    }

    public int Status { get; set; } = 200;

    /// <summary>Most body bytes a handler may write.</summary>
    public int MaxBody => _body.Length;

    internal ReadOnlySpan<byte> FieldBytes => _fields.AsSpan(0, _fieldLength);

    internal ReadOnlyMemory<byte> BodyBytes => _body.AsMemory(0, _bodyLength);

    internal bool Overflowed { get; private set; }

    internal void Reset()
    {
        Status = 200;
        _fieldLength = 0;
        _bodyLength = 0;
        Overflowed = false;
    }

    /// <summary>Adds a field; names and values must be field syntax (no CR/LF: a bad one is refused with false).</summary>
    public bool AddField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (name.IsEmpty || name.Length + value.Length + 4 > _fields.Length - _fieldLength)
        {
            Overflowed = true;
            return false;
        }
        foreach (var b in name)
        {
            if (!Ascii.IsTokenChar(b))
            {
                return false;
            }
        }
        foreach (var b in value)
        {
            if (!Ascii.IsFieldValueChar(b))
            {
                return false;
            }
        }
        name.CopyTo(_fields.AsSpan(_fieldLength));
        _fieldLength += name.Length;
        ": "u8.CopyTo(_fields.AsSpan(_fieldLength));
        _fieldLength += 2;
        value.CopyTo(_fields.AsSpan(_fieldLength));
        _fieldLength += value.Length;
        "\r\n"u8.CopyTo(_fields.AsSpan(_fieldLength));
        _fieldLength += 2;
        return true;
    }

    public bool AddField(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        Span<byte> scratch = stackalloc byte[256];
        var bytes = name.Length + value.Length <= scratch.Length ? scratch : new byte[name.Length + value.Length];
        if (System.Text.Ascii.FromUtf16(name, bytes, out var n) != System.Buffers.OperationStatus.Done
            || System.Text.Ascii.FromUtf16(value, bytes[n..], out var v) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }
        return AddField(bytes[..n], bytes.Slice(n, v));
    }

    /// <summary>Appends body bytes; false (and nothing written) when they do not fit <see cref="MaxBody"/>.</summary>
    public bool Write(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > _body.Length - _bodyLength)
        {
            Overflowed = true;
            return false;
        }
        bytes.CopyTo(_body.AsSpan(_bodyLength));
        _bodyLength += bytes.Length;
        return true;
    }

    public bool Write(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var count = System.Text.Encoding.UTF8.GetByteCount(text);
        if (count > _body.Length - _bodyLength)
        {
            Overflowed = true;
            return false;
        }
        _bodyLength += System.Text.Encoding.UTF8.GetBytes(text, _body.AsSpan(_bodyLength));
        return true;
    }

    public bool Write(long value)
    {
        if (!Utf8Formatter.TryFormat(value, _body.AsSpan(_bodyLength), out var written))
        {
            Overflowed = true;
            return false;
        }
        _bodyLength += written;
        return true;
    }
}

/// <summary>A dynamic route's code: reads the request, writes the response (synchronously, within the buffers' bounds).</summary>
public delegate void HttpHandler(HttpRequest request, HttpResponse response);

/// <summary>
/// Routes: exact (method, path) pairs to handlers; a known path with another method gets 405 with Allow. HEAD on a
/// path with a GET route runs the GET handler and sends no body (RFC 9110 9.3.2), unless HEAD has a route of its own.
/// </summary>
public sealed class HttpRoutes
{
    private readonly Dictionary<string, List<(string Method, HttpHandler Handler)>> _routes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<(string Method, HttpHandler Handler)>>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public HttpRoutes()
    {
        _lookup = _routes.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count { get; private set; }

    /// <summary>Adds a route. <paramref name="path"/> is matched exactly, before the query.</summary>
    public HttpRoutes Map(string method, string path, HttpHandler handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(handler);
        if (!_routes.TryGetValue(path, out var list))
        {
            _routes[path] = list = [];
        }
        list.Add((method, handler));
        Count++;
        return this;
    }

    /// <summary>The handler for the request; null with <paramref name="allow"/> set when only the method is wrong.</summary>
    internal HttpHandler? Find(ReadOnlySpan<byte> method, ReadOnlySpan<byte> path, out string? allow, out bool known)
    {
        allow = null;
        known = false;
        if (_routes.Count == 0 || path.Length > 256)
        {
            return null;
        }
        Span<char> chars = stackalloc char[path.Length];
        for (var i = 0; i < path.Length; i++)
        {
            chars[i] = (char)path[i];
        }
        if (!_lookup.TryGetValue(chars, out var list))
        {
            return null;
        }
        known = true;
        HttpHandler? get = null;
        foreach (var (m, handler) in list)
        {
            if (method.Length == m.Length && System.Text.Ascii.Equals(method, m))
            {
                return handler;
            }
            if (get is null && m == "GET")
            {
                get = handler;
            }
        }
        // RFC 9110 9.3.2: HEAD is GET without the content. A path with a GET route and no HEAD route of its own
        // answers HEAD by running the GET handler (the server sends the head, with the Content-Length of the body the
        // handler wrote, and drops the body).
        if (get is not null && method.SequenceEqual("HEAD"u8))
        {
            return get;
        }
        allow = AllowOf(list);
        return null;
    }

    /// <summary>The methods of a path for Allow, HEAD included where GET is.</summary>
    private static string AllowOf(List<(string Method, HttpHandler Handler)> list)
    {
        var methods = new List<string>();
        var get = false;
        var head = false;
        foreach (var (m, _) in list)
        {
            if (!methods.Contains(m))
            {
                methods.Add(m);
            }
            get |= m == "GET";
            head |= m == "HEAD";
        }
        if (get && !head)
        {
            methods.Insert(methods.IndexOf("GET") + 1, "HEAD");
        }
        return string.Join(", ", methods);
    }
}
