using System;
using System.Buffers;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.Http;

/// <summary>
/// One client connection: a fixed input buffer (a request head always fits, bodies stream through the space after it),
/// a fixed output, one timer for every deadline. Requests already buffered are answered before the next read, so
/// pipelined responses leave in order and together. Any framing error answers and closes.
/// </summary>
internal sealed class HttpConnection : IDisposable
{
    private static ReadOnlySpan<byte> Continue => "HTTP/1.1 100 Continue\r\n\r\n"u8;

    private readonly HttpServer _server;
    private readonly HttpServerOptions _options;
    private readonly ITcpConnection _connection;
    private readonly HttpLimits _limits;
    private readonly byte[] _input;
    private readonly ResponseOutput _output;
    private readonly HttpRequestHead _head;
    private readonly byte[] _pathBytes;
    private readonly char[] _pathChars;
    private readonly byte[] _connectionFields = new byte[DateField.Length + 32];
    private ConnectionDeadline? _timer;
    private HttpRequest? _request;
    private HttpResponse? _response;
    private byte[]? _body;
    private int _bodyLength;
    private int _bodyEnd;
    private int _filled;

    public HttpConnection(HttpServer server, ITcpConnection connection)
    {
        _server = server;
        _options = server.Options;
        _connection = connection;
        _limits = _options.Limits;
        _input = ArrayPool<byte>.Shared.Rent(_limits.HeadBufferSize + Math.Max(_limits.MaxChunkLine, _limits.MaxHeaderBytes) + 4096);
        _output = new ResponseOutput();
        _head = new HttpRequestHead(_limits);
        _pathBytes = ArrayPool<byte>.Shared.Rent(_limits.MaxRequestLine + 1);
        _pathChars = ArrayPool<char>.Shared.Rent(_limits.MaxRequestLine + 2);
    }

    public void Dispose()
    {
        _timer?.Dispose();
        ArrayPool<byte>.Shared.Return(_input);
        ArrayPool<byte>.Shared.Return(_pathBytes);
        ArrayPool<char>.Shared.Return(_pathChars);
        if (_body is not null)
        {
            ArrayPool<byte>.Shared.Return(_body);
        }
        _output.Dispose();
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _timer = new ConnectionDeadline(cancellationToken);
        var token = _timer.Token;
        var scanFrom = 0;
        long headerDeadline = 0;
        try
        {
            while (true)
            {
                var status = HttpParseStatus.Incomplete;
                if (_filled > 0 && (_input.AsSpan(scanFrom, _filled - scanFrom).IndexOf((byte)'\n') >= 0 || _filled > _limits.MaxRequestLine))
                {
                    status = HttpRequestParser.Parse(_input.AsSpan(0, _filled), _head);
                }
                if (status == HttpParseStatus.Incomplete)
                {
                    if (_filled >= _limits.HeadBufferSize)
                    {
                        await CloseWithErrorAsync(431, token).ConfigureAwait(false);
                        return;
                    }
                    await FlushAsync(token).ConfigureAwait(false);
                    if (_filled == 0)
                    {
                        _timer.After(_options.IdleTimeout);
                    }
                    else
                    {
                        if (headerDeadline == 0)
                        {
                            headerDeadline = Environment.TickCount64 + (long)_options.HeaderTimeout.TotalMilliseconds;
                        }
                        _timer.At(headerDeadline);
                    }
                    scanFrom = _filled;
                    var read = await _connection.ReadAsync(_input.AsMemory(_filled, _limits.HeadBufferSize - _filled), token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        await FlushAsync(token).ConfigureAwait(false);
                        return;
                    }
                    _filled += read;
                    continue;
                }
                _server.CountRequest();
                if (status == HttpParseStatus.Error)
                {
                    Log(_head.ErrorStatus, 0, minimal: true);
                    await CloseWithErrorAsync(_head.ErrorStatus, token).ConfigureAwait(false);
                    return;
                }
                headerDeadline = 0;
                var keepAlive = await RespondAsync(token).ConfigureAwait(false);
                if (!keepAlive)
                {
                    await FlushAsync(token).ConfigureAwait(false);
                    _connection.ShutdownSend();
                    return;
                }
                // What follows this request (a pipelined one, or part of it) moves to the front.
                var consumed = _bodyEnd;
                var left = _filled - consumed;
                if (left > 0)
                {
                    _input.AsSpan(consumed, left).CopyTo(_input);
                }
                _filled = left;
                scanFrom = 0;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && _filled > 0 && headerDeadline != 0)
        {
            // A head that did not arrive in time.
            await TrySendAsync(408).ConfigureAwait(false);
        }
    }

    /// <summary>Answers the parsed request (reading or discarding its body); false when the connection must close.</summary>
    private async ValueTask<bool> RespondAsync(CancellationToken token)
    {
        var head = _head;
        var keepAlive = head.KeepAlive;
        _bodyEnd = head.HeadLength;
        _bodyLength = 0;
        var (handler, allow, known) = FindRoute();
        if (head.HasBody)
        {
            var bodyStatus = await ReadBodyAsync(collect: handler is not null, token).ConfigureAwait(false);
            if (bodyStatus != 0)
            {
                Log(bodyStatus, 0, minimal: false);
                await CloseWithErrorAsync(bodyStatus, token).ConfigureAwait(false);
                return false;
            }
        }
        if (!_output.HasRoom(StaticResponder.HeadRoom, StaticResponder.PieceRoom))
        {
            await FlushAsync(token).ConfigureAwait(false);
        }
        if (Compose(handler, allow, known, keepAlive))
        {
            await FlushAsync(token).ConfigureAwait(false); // a handler's buffers are reused by the next request
        }
        return keepAlive;
    }

    private (HttpHandler? Handler, string? Allow, bool Known) FindRoute()
    {
        if (_server.Routes.Count == 0)
        {
            return (null, null, false);
        }
        var target = _input.AsSpan(_head.TargetStart, _head.TargetLength);
        var query = target.IndexOf((byte)'?');
        var handler = _server.Routes.Find(_input.AsSpan(_head.MethodStart, _head.MethodLength), query < 0 ? target : target[..query], out var allow, out var known);
        return (handler, allow, known);
    }

    /// <summary>Writes the response into the output; true when it must be flushed at once.</summary>
    private bool Compose(HttpHandler? handler, string? allow, bool known, bool keepAlive)
    {
        var head = _head;
        var connectionFields = ConnectionFields(keepAlive, head.MinorVersion);
        var target = _input.AsSpan(head.TargetStart, head.TargetLength);
        int status;
        long bytes;
        if (handler is not null)
        {
            (status, bytes) = RunHandler(handler, connectionFields);
            Log(status, bytes, minimal: false);
            return true;
        }
        if (known)
        {
            (status, bytes) = Error(405, connectionFields, "Allow: ", allow);
        }
        else if (target.Length == 1 && target[0] == '*')
        {
            (status, bytes) = head.Method == RequestMethod.Options ? Error(204, connectionFields, "Allow: ", "GET, HEAD") : Error(400, connectionFields, null, null);
        }
        else if (head.Method is RequestMethod.Other or RequestMethod.Connect)
        {
            (status, bytes) = Error(501, connectionFields, null, null);
        }
        else if (_server.Site is { } site)
        {
            var lookup = site.Resolve(target, _pathBytes, _pathChars, out var file);
            if (lookup == StaticLookup.Found && head.Method is RequestMethod.Get or RequestMethod.Head)
            {
                (status, bytes) = StaticResponder.Respond(file!, head, _input, _output, connectionFields);
            }
            else if (lookup == StaticLookup.Redirect && head.Method is RequestMethod.Get or RequestMethod.Head)
            {
                var query = target.IndexOf((byte)'?');
                (status, bytes) = Error(301, connectionFields, "Location: ", file!.RedirectTo + (query < 0 ? "" : System.Text.Encoding.ASCII.GetString(target[query..])));
            }
            else
            {
                (status, bytes) = lookup switch
                {
                    StaticLookup.BadRequest => Error(400, connectionFields, null, null),
                    StaticLookup.NotFound => Error(404, connectionFields, null, null),
                    _ => Error(405, connectionFields, "Allow: ", "GET, HEAD"),
                };
            }
        }
        else
        {
            (status, bytes) = Error(404, connectionFields, null, null);
        }
        Log(status, bytes, minimal: false);
        return false;
    }

    private (int Status, long Bytes) RunHandler(HttpHandler handler, ReadOnlySpan<byte> connectionFields)
    {
        _request ??= new HttpRequest(_head);
        _response ??= new HttpResponse(4096, _options.MaxHandlerResponse);
        _request.Set(_input, _body ?? [], _bodyLength);
        _request.RemoteEndPoint = _connection.RemoteEndPoint;
        _response.Reset();
        try
        {
            handler(_request, _response);
        }
        catch (Exception)
        {
            return Error(500, connectionFields, null, null);
        }
        if (_response.Overflowed || _response.Status is < 200 or > 599 || _response.Status is 204 or 304)
        {
            return Error(500, connectionFields, null, null);
        }
        var body = _response.BodyBytes;
        _output.Append(HttpStatus.StatusLine(_response.Status));
        _output.Append(_response.FieldBytes);
        _output.Append("Content-Length: "u8);
        _output.AppendDecimal(body.Length);
        _output.Append("\r\n"u8);
        _output.Append(connectionFields);
        if (_head.Method == RequestMethod.Head)
        {
            return (_response.Status, 0); // the Content-Length of the GET, no content (RFC 9110 9.3.2)
        }
        _output.AppendBody(body);
        return (_response.Status, body.Length);
    }

    /// <summary>A plain-text response with an optional extra field (Allow, Location).</summary>
    private (int, long) Error(int status, ReadOnlySpan<byte> connectionFields, string? name, string? value)
    {
        if (status == 204)
        {
            _output.Append(HttpStatus.StatusLine(204));
        }
        else
        {
            _output.Append(HttpStatus.ErrorHead(status));
        }
        if (name is not null && value is not null)
        {
            _output.AppendAscii(name);
            _output.AppendAscii(value);
            _output.Append("\r\n"u8);
        }
        _output.Append(connectionFields);
        if (status == 204 || _head.Method == RequestMethod.Head)
        {
            return (status, 0);
        }
        var body = HttpStatus.ErrorBody(status);
        _output.Append(body);
        return (status, body.Length);
    }

    private ReadOnlySpan<byte> ConnectionFields(bool keepAlive, int minorVersion)
    {
        var date = _server.Date.Current;
        date.CopyTo(_connectionFields);
        var length = date.Length;
        if (!keepAlive)
        {
            "Connection: close\r\n"u8.CopyTo(_connectionFields.AsSpan(length));
            length += 19;
        }
        else if (minorVersion == 0)
        {
            "Connection: keep-alive\r\n"u8.CopyTo(_connectionFields.AsSpan(length));
            length += 24;
        }
        _connectionFields[length++] = (byte)'\r';
        _connectionFields[length++] = (byte)'\n';
        return _connectionFields.AsSpan(0, length);
    }

    /// <summary>
    /// Reads the body by its framing (into the body buffer when a handler wants it, else discarded); bytes after it stay
    /// buffered. Returns 0, or the status of the error (400, 413, 431); a connection closed mid-body gives 400.
    /// </summary>
    private async ValueTask<int> ReadBodyAsync(bool collect, CancellationToken token)
    {
        var head = _head;
        var bodyStart = head.HeadLength;
        var position = bodyStart;
        if (head.ExpectContinue && _filled == bodyStart)
        {
            await FlushAsync(token).ConfigureAwait(false);
            _output.Append(Continue);
            await FlushAsync(token).ConfigureAwait(false);
        }
        _timer!.After(_options.BodyTimeout);
        if (collect)
        {
            var capacity = head.Chunked ? Math.Min(64 * 1024, (int)_limits.MaxBodyBytes) : (int)head.ContentLength;
            EnsureBody(capacity);
        }
        if (!head.Chunked)
        {
            var remaining = head.ContentLength;
            while (true)
            {
                var take = (int)Math.Min(_filled - position, remaining);
                if (collect)
                {
                    _input.AsSpan(position, take).CopyTo(_body.AsSpan(_bodyLength));
                    _bodyLength += take;
                }
                position += take;
                remaining -= take;
                if (remaining == 0)
                {
                    _bodyEnd = position;
                    return 0;
                }
                _filled = position = bodyStart;
                var read = await _connection.ReadAsync(_input.AsMemory(_filled), token).ConfigureAwait(false);
                if (read == 0)
                {
                    return 400;
                }
                _filled += read;
            }
        }
        var decoder = default(ChunkedDecoder);
        while (true)
        {
            var status = decoder.Decode(_input.AsSpan(position, _filled - position), _limits, out var consumed, out var dataStart, out var dataLength);
            switch (status)
            {
                case ChunkedStatus.Data:
                    if (collect)
                    {
                        EnsureBody(_bodyLength + dataLength);
                        _input.AsSpan(position + dataStart, dataLength).CopyTo(_body.AsSpan(_bodyLength));
                        _bodyLength += dataLength;
                    }
                    position += consumed;
                    continue;
                case ChunkedStatus.Done:
                    _bodyEnd = position + consumed;
                    return 0;
                case ChunkedStatus.Error:
                    return decoder.ErrorStatus;
            }
            position += consumed;
            var left = _filled - position;
            _input.AsSpan(position, left).CopyTo(_input.AsSpan(bodyStart));
            _filled = bodyStart + left;
            position = bodyStart;
            if (_filled == _input.Length)
            {
                return 400;
            }
            var n = await _connection.ReadAsync(_input.AsMemory(_filled), token).ConfigureAwait(false);
            if (n == 0)
            {
                return 400;
            }
            _filled += n;
        }
    }

    private void EnsureBody(int capacity)
    {
        if (_body is not null && _body.Length >= capacity)
        {
            return;
        }
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(capacity, Math.Min((_body?.Length ?? 0) * 2, (int)_limits.MaxBodyBytes)));
        if (_body is not null)
        {
            _body.AsSpan(0, _bodyLength).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_body);
        }
        _body = bigger;
    }

    private async ValueTask FlushAsync(CancellationToken token)
    {
        if (_output.IsEmpty)
        {
            return;
        }
        _timer!.After(_options.WriteTimeout);
        await _output.FlushAsync(_connection, token).ConfigureAwait(false);
    }

    private async ValueTask CloseWithErrorAsync(int status, CancellationToken token)
    {
        if (!_output.HasRoom(1024, 2))
        {
            await FlushAsync(token).ConfigureAwait(false);
        }
        Error(status, ConnectionFields(keepAlive: false, 1), null, null);
        await FlushAsync(token).ConfigureAwait(false);
        _connection.ShutdownSend();
    }

    private async ValueTask TrySendAsync(int status)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            var response = new byte[256];
            var length = WriteError(response, status, _server.Date.Current);
            await _connection.WriteAsync(response.AsMemory(0, length), timeout.Token).ConfigureAwait(false);
            _connection.ShutdownSend();
        }
        catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException or System.IO.IOException or ObjectDisposedException)
        {
            // best effort
        }
    }

    /// <summary>A whole error response with Connection: close (for a connection that is being refused or dropped).</summary>
    internal static int WriteError(Span<byte> destination, int status, ReadOnlySpan<byte> date)
    {
        var length = 0;
        void Put(ReadOnlySpan<byte> bytes, Span<byte> to, ref int at)
        {
            bytes.CopyTo(to[at..]);
            at += bytes.Length;
        }
        Put(HttpStatus.ErrorHead(status), destination, ref length);
        Put(date, destination, ref length);
        Put("Connection: close\r\n\r\n"u8, destination, ref length);
        Put(HttpStatus.ErrorBody(status), destination, ref length);
        return length;
    }

    private void Log(int status, long bytes, bool minimal)
    {
        if (_options.AccessLog is not { } log)
        {
            return;
        }
        var method = minimal || _head.MethodLength == 0 ? default : _input.AsSpan(_head.MethodStart, _head.MethodLength);
        var target = minimal || _head.TargetLength == 0 ? default : _input.AsSpan(_head.TargetStart, _head.TargetLength);
        IPEndPointOrNull(out var remote);
        log(new HttpAccessEntry(remote, method, target, _head.MinorVersion, status, bytes));
    }

    private void IPEndPointOrNull(out System.Net.IPEndPoint? remote)
    {
        try
        {
            remote = _connection.RemoteEndPoint;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            remote = null;
        }
    }
}

/// <summary>
/// The one deadline of a connection (header, body, idle or write, whichever applies now) and the token it cancels.
/// Moving the deadline later, which is what every request does, is a field write: the timer is armed only when the
/// deadline moves earlier than it would fire, and when it fires before the deadline it re-arms for what is left.
/// (<see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/> per request changed the timer queue, under its lock,
/// twice per request.)
/// </summary>
internal sealed class ConnectionDeadline : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly Timer _timer;
    private readonly Lock _lock = new();
    private long _deadline = long.MaxValue; // Environment.TickCount64 milliseconds
    private long _armed = long.MaxValue; // when the timer fires next (long.MaxValue: not armed)

    public ConnectionDeadline(CancellationToken outer)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _timer = new Timer(static state => ((ConnectionDeadline)state!).Fire(), this, Timeout.Infinite, Timeout.Infinite);
    }

    public CancellationToken Token => _source.Token;

    /// <summary>The deadline becomes now plus <paramref name="timeout"/> (a negative one: none).</summary>
    public void After(TimeSpan timeout) =>
        At(timeout < TimeSpan.Zero || timeout.TotalMilliseconds >= long.MaxValue / 2 ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds);

    /// <summary>The deadline becomes <paramref name="deadline"/> (Environment.TickCount64 milliseconds).</summary>
    public void At(long deadline)
    {
        Volatile.Write(ref _deadline, deadline);
        if (deadline >= Volatile.Read(ref _armed))
        {
            return; // the timer fires no later than this and then re-arms for the rest
        }
        lock (_lock)
        {
            if (deadline < _armed)
            {
                _armed = deadline;
                _timer.Change(Math.Max(1, deadline - Environment.TickCount64), Timeout.Infinite);
            }
        }
    }

    private void Fire()
    {
        lock (_lock)
        {
            if (_armed == long.MinValue)
            {
                return; // disposed
            }
            var deadline = Volatile.Read(ref _deadline);
            var left = deadline - Environment.TickCount64;
            if (left > 0)
            {
                _armed = deadline;
                if (deadline != long.MaxValue)
                {
                    _timer.Change(left, Timeout.Infinite);
                }
                return;
            }
            _armed = long.MaxValue;
        }
        try
        {
            _source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // the connection ended meanwhile
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _armed = long.MinValue; // nothing re-arms it any more
            _timer.Dispose();
        }
        _source.Dispose();
    }
}
