using System;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.Http;

public sealed class HttpServerOptions
{
    public IReadOnlyList<IPEndPoint> EndPoints { get; init; } = [new IPEndPoint(IPAddress.Any, 80)];

    public HttpLimits Limits { get; init; } = HttpLimits.Default;

    /// <summary>Connections served at once; one more is answered 503 and closed.</summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>From the first byte of a request to the end of its head (slow headers get 408).</summary>
    public TimeSpan HeaderTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>For the whole body of one request.</summary>
    public TimeSpan BodyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>An open connection with no request for this long is closed.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>For sending what is queued (a client that does not read is dropped).</summary>
    public TimeSpan WriteTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest body a handler may write.</summary>
    public int MaxHandlerResponse { get; init; } = 1024 * 1024;

    public IWallClock? Clock { get; init; }

    /// <summary>Called once per response when set (an access log); nothing is formatted when null.</summary>
    public HttpAccessLog? AccessLog { get; init; }
}

/// <summary>One served request, for an access log: spans valid only during the call.</summary>
public readonly ref struct HttpAccessEntry(IPEndPoint? remote, ReadOnlySpan<byte> method, ReadOnlySpan<byte> target, int minorVersion, int status, long bytes)
{
    public IPEndPoint? Remote { get; } = remote;

    public ReadOnlySpan<byte> Method { get; } = method;

    public ReadOnlySpan<byte> Target { get; } = target;

    public int MinorVersion { get; } = minorVersion;

    public int Status { get; } = status;

    public long Bytes { get; } = bytes;
}

public delegate void HttpAccessLog(in HttpAccessEntry entry);

/// <summary>
/// An HTTP/1.1 server (RFC 9112) over any <see cref="ITcp"/>: persistent connections, pipelining (responses in
/// order, batched into one write where they fit), HTTP/1.0 keep-alive, Expect: 100-continue, request bodies read or
/// discarded by their framing, timeouts for headers, bodies, idle connections and writes, a connection cap, and
/// fixed buffers per connection. Requests go to <see cref="HttpRoutes"/> first, then to the <see cref="StaticSite"/>.
/// </summary>
public sealed class HttpServer
{
    private readonly INetworkStack _stack;
    private readonly HttpServerOptions _options;
    private readonly List<ITcpListener> _listeners = [];
    private long _requests;
    private long _connections;
    private long _rejected;
    private int _active;

    public HttpServer(INetworkStack stack, HttpServerOptions? options = null, StaticSite? site = null, HttpRoutes? routes = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        _stack = stack;
        if (stack is Net.DirectStack direct)
        {
            // Connections continue on the direct stack's receive thread (run to completion): nothing here blocks a
            // thread (handlers are synchronous over bounded buffers; every wait is an await).
            direct.RunTcpToCompletion = true;
        }
        _options = options ?? new HttpServerOptions();
        Site = site;
        Routes = routes ?? new HttpRoutes();
        Date = new DateField(_options.Clock ?? SystemClock.Instance);
    }

    public StaticSite? Site { get; }

    public HttpRoutes Routes { get; }

    internal HttpServerOptions Options => _options;

    internal DateField Date { get; }

    public long Requests => Interlocked.Read(ref _requests);

    public long Connections => Interlocked.Read(ref _connections);

    public long Rejected => Interlocked.Read(ref _rejected);

    public int Active => Volatile.Read(ref _active);

    public IReadOnlyList<IPEndPoint> EndPoints => _listeners.ConvertAll(l => l.LocalEndPoint);

    internal void CountRequest() => Interlocked.Increment(ref _requests);

    /// <summary>Listens on every endpoint (port 0 picks a free one); throws when one cannot be bound.</summary>
    public void Bind()
    {
        if (_listeners.Count > 0)
        {
            return;
        }
        try
        {
            foreach (var endPoint in _options.EndPoints)
            {
                _listeners.Add(_stack.Tcp.Listen(endPoint, 1024));
            }
        }
        catch
        {
            Close();
            throw;
        }
    }

    /// <summary>Serves until cancelled, then closes the listeners and waits (bounded) for open connections.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Bind();
        var loops = new List<Task>();
        foreach (var listener in _listeners)
        {
            loops.Add(AcceptLoop(listener, cancellationToken));
        }
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // shutting down
        }
        finally
        {
            Close();
            try
            {
                await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // connections still open are closed with the process
            }
        }
    }

    private void Close()
    {
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }
    }

    private async Task AcceptLoop(ITcpListener listener, CancellationToken cancellationToken)
    {
        var connections = new List<Task>();
        while (!cancellationToken.IsCancellationRequested)
        {
            ITcpConnection connection;
            try
            {
                connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                if (e is ObjectDisposedException)
                {
                    break;
                }
                continue; // e.g. the peer reset before accept completed
            }
            Interlocked.Increment(ref _connections);
            if (Interlocked.Increment(ref _active) > _options.MaxConnections)
            {
                Interlocked.Decrement(ref _active);
                Interlocked.Increment(ref _rejected);
                _ = RejectAsync(connection);
                continue;
            }
            if (connections.Count > 64)
            {
                connections.RemoveAll(t => t.IsCompleted);
            }
            connections.Add(Task.Run(() => ServeAsync(connection, cancellationToken), CancellationToken.None));
        }
        try
        {
            await Task.WhenAll(connections).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // bounded shutdown
        }
    }

    private async Task RejectAsync(ITcpConnection connection)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            var response = new byte[256];
            var length = HttpConnection.WriteError(response, 503, Date.Current);
            await connection.WriteAsync(response.AsMemory(0, length), timeout.Token).ConfigureAwait(false);
            connection.ShutdownSend();
        }
        catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException or System.IO.IOException or ObjectDisposedException)
        {
            // best effort
        }
        finally
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task ServeAsync(ITcpConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            var served = new HttpConnection(this, connection);
            try
            {
                await served.RunAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                served.Dispose();
            }
        }
        catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException or System.IO.IOException or ObjectDisposedException)
        {
            // a timeout, a shutdown or a peer that went away
        }
        finally
        {
            try
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                // already closed
            }
            Interlocked.Decrement(ref _active);
        }
    }

    private sealed class SystemClock : IWallClock
    {
        public static readonly SystemClock Instance = new();

        public DateTimeOffset UtcNow => DateTimeOffset.UtcNow;
    }
}
