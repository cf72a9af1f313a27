using System;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.Iperf;

public sealed class IperfServerOptions
{
    /// <summary>Where the control connection and the streams arrive (iperf3's port 5201).</summary>
    public IPEndPoint EndPoint { get; init; } = new(IPAddress.Any, IperfWire.DefaultPort);

    public IperfLimits Limits { get; init; } = IperfLimits.Default;

    /// <summary>
    /// For each step of a test the client drives: its cookie, its parameters, connecting its streams, its results,
    /// its IPERF_DONE. A client that stalls longer loses the test.
    /// </summary>
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long past the test's duration (plus omit) the server waits for TEST_END (iperf3's server timer: 5 s).</summary>
    public TimeSpan EndGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>One line per test, refusal and denied client when set.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// An iperf3 server (the protocol of esnet's iperf3, as its 3.x clients speak it) over any <see cref="INetworkStack"/>:
/// TCP tests forward (the client sends, we count), reverse (-R, we send), with parallel streams (-P), ended by time
/// (-t), bytes (-n) or blocks (-k), omitting a start (-O). One test at a time: another client gets ACCESS_DENIED, as
/// from iperf3. UDP, SCTP, bidirectional tests and socket options the stack cannot set are refused with SERVER_ERROR
/// and the iperf3 error number the client prints. Every step is bounded in time and every message in size.
/// </summary>
public sealed class IperfServer
{
    private const int MaxDenying = 64;

    private readonly INetworkStack _stack;
    private readonly IperfServerOptions _options;
    private readonly object _sync = new();
    private ITcpListener? _listener;
    private IperfSession? _session;
    private long _tests;
    private long _completed;
    private long _refused;
    private long _denied;
    private int _denying;

    public IperfServer(INetworkStack stack, IperfServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        _stack = stack;
        if (stack is Net.DirectStack direct)
        {
            // Nothing here blocks a thread (every wait is an await), so readers and writers that a segment wakes may
            // continue on the stack's receive thread (see HttpServer).
            direct.RunTcpToCompletion = true;
        }
        _options = options ?? new IperfServerOptions();
    }

    internal IperfServerOptions Options => _options;

    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint;

    /// <summary>Control connections that started a test (cookie read).</summary>
    public long Tests => Interlocked.Read(ref _tests);

    /// <summary>Tests that ran to DISPLAY_RESULTS.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Tests refused with SERVER_ERROR (UDP, unsupported options, bad parameters).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Connections sent ACCESS_DENIED (a test was running, a stream with a wrong cookie).</summary>
    public long Denied => Interlocked.Read(ref _denied);

    /// <summary>For tests: the bytes the current test's streams moved so far.</summary>
    internal long CountedBytes
    {
        get
        {
            lock (_sync)
            {
                return _session?.CountedBytes ?? 0;
            }
        }
    }

    internal void CountTest() => Interlocked.Increment(ref _tests);

    internal void CountCompleted() => Interlocked.Increment(ref _completed);

    internal void CountRefused() => Interlocked.Increment(ref _refused);

    internal void CountDenied() => Interlocked.Increment(ref _denied);

    internal void Log(string line) => _options.Log?.Invoke(line);

    /// <summary>Listens (port 0 picks a free one); throws when the port cannot be bound.</summary>
    public void Bind() => _listener ??= _stack.Tcp.Listen(_options.EndPoint, 128);

    /// <summary>Serves until cancelled, then closes the listener and ends the test in progress (bounded).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Bind();
        var listener = _listener!;
        try
        {
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
                catch (ObjectDisposedException)
                {
                    break;
                }
                catch (System.Net.Sockets.SocketException)
                {
                    continue; // the peer reset before the accept completed
                }
                Route(connection, cancellationToken);
            }
        }
        finally
        {
            listener.Dispose();
            Task? running;
            lock (_sync)
            {
                running = _session?.Completion;
            }
            if (running is not null)
            {
                try
                {
                    await running.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // closed with the process
                }
            }
        }
    }

    /// <summary>A new connection: a stream of the test creating its streams, a new test when none runs, else denied.</summary>
    private void Route(ITcpConnection connection, CancellationToken cancellationToken)
    {
        IperfSession? current;
        lock (_sync)
        {
            current = _session;
            if (current is null || current.Completion.IsCompleted)
            {
                _session = IperfSession.Start(this, connection, cancellationToken);
                return;
            }
        }
        if (current.TryOfferStream(connection))
        {
            return;
        }
        if (current.IsEnding)
        {
            // The previous client sent (or is about to send) IPERF_DONE and is gone; its successor connected first.
            _ = StartAfterAsync(current, connection, cancellationToken);
            return;
        }
        _ = DenyAsync(connection);
    }

    private async Task StartAfterAsync(IperfSession previous, ITcpConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            await previous.Completion.WaitAsync(_options.StepTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // denied below
        }
        lock (_sync)
        {
            if (_session is null || _session.Completion.IsCompleted)
            {
                _session = IperfSession.Start(this, connection, cancellationToken);
                return;
            }
        }
        await DenyAsync(connection).ConfigureAwait(false);
    }

    /// <summary>ACCESS_DENIED, as iperf3's server sends a client while it runs a test; then close.</summary>
    internal async Task DenyAsync(ITcpConnection connection, bool drain = true)
    {
        CountDenied();
        // A flood of connections is closed at once past a few dozen being answered (each answer waits up to 1 s).
        if (Interlocked.Increment(ref _denying) > MaxDenying)
        {
            Interlocked.Decrement(ref _denying);
            await IperfSession.CloseAsync(connection).ConfigureAwait(false);
            return;
        }
        Log($"iperf: {connection.RemoteEndPoint}: {(drain ? "busy" : "not a stream of the test")}, sent ACCESS_DENIED");
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await connection.WriteAsync(new[] { unchecked((byte)IperfState.AccessDenied) }, timeout.Token).ConfigureAwait(false);
            // Read what the client sent (its cookie) before closing: closing with unread data resets the connection,
            // and a reset could overtake the byte we sent.
            var sink = new byte[64];
            var total = 0;
            while (drain && total < IperfWire.CookieSize)
            {
                var n = await connection.ReadAsync(sink, timeout.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                total += n;
            }
        }
        catch (Exception e) when (IperfSession.IsConnectionError(e))
        {
            // best effort
        }
        finally
        {
            Interlocked.Decrement(ref _denying);
            await IperfSession.CloseAsync(connection).ConfigureAwait(false);
        }
    }
}
