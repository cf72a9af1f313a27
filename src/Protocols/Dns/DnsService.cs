using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using Unikernel.Devices;
using Unikernel.Runtime;

namespace Unikernel.Protocols.Dns;

public sealed class DnsServiceOptions
{
    /// <summary>Where to listen (UDP and TCP on each).</summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; init; } = [new IPEndPoint(IPAddress.Any, 53)];

    /// <summary>Receive threads per UDP socket.</summary>
    public int UdpThreads { get; init; } = 1;

    /// <summary>Datagrams moved per system call.</summary>
    public int BatchSize { get; init; } = 64;

    public bool Tcp { get; init; } = true;

    /// <summary>Open TCP connections; at the cap a new one closes the oldest-idle one (RFC 7766 6.2).</summary>
    public int MaxTcpConnections { get; init; } = 128;

    /// <summary>Open TCP connections from one client address; at the cap its own oldest-idle one is closed.</summary>
    public int MaxTcpConnectionsPerAddress { get; init; } = 32;

    /// <summary>
    /// A TCP connection that does not complete a message within this time of the previous one (or of its start) is
    /// closed (RFC 7766 6.2.3); partial data does not restart the timer.
    /// </summary>
    public TimeSpan TcpIdleTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Where faults and other operational events are reported (one line each); null: nowhere.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Zone transfers (AXFR/IXFR, Transfer.cs); null: the responder refuses them.</summary>
    public ZoneTransfers? Transfers { get; init; }
}

/// <summary>Computes the response to one query (see <see cref="DnsResponder.Respond"/>).</summary>
internal delegate int DnsAnswerer(ReadOnlySpan<byte> query, Span<byte> response, bool tcp);

/// <summary>
/// Serves a <see cref="DnsResponder"/> over an <see cref="INetworkStack"/>: batched UDP loops on dedicated threads and
/// a TCP listener with 2-byte framing (RFC 7766), pipelined queries, an idle timeout and a connection cap.
/// </summary>
public sealed class DnsService
{
    private readonly INetworkStack _stack;
    private readonly DnsResponder _responder;
    private readonly DnsServiceOptions _options;
    private readonly DnsAnswerer _answer;
    private readonly HashSet<string> _faultKinds = [];
    private long _faults;
    private readonly List<IUdpSocket> _udp = [];
    private readonly List<ITcpListener> _tcp = [];
    private long _udpQueries;
    private long _udpResponses;
    private long _tcpQueries;
    private long _tcpConnections;
    private long _tcpEvicted;
    private long _tcpOversized;
    private long _tcpSequence;
    private long _tcpBufferBytes;
    private long _tcpBufferBytesPeak;
    private int _tcpActive;
    private readonly List<TcpSlot> _slots = [];

    public DnsService(INetworkStack stack, DnsResponder responder, DnsServiceOptions? options = null)
        : this(stack, responder, options, null)
    {
    }

    /// <summary>Tests substitute <paramref name="answer"/> to drive the fault path.</summary>
    internal DnsService(INetworkStack stack, DnsResponder responder, DnsServiceOptions? options, DnsAnswerer? answer)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(responder);
        _stack = stack;
        _responder = responder;
        _options = options ?? new DnsServiceOptions();
        _answer = answer ?? responder.Respond;
    }

    /// <summary>Queries whose answering failed with an exception (each was answered SERVFAIL).</summary>
    public long Faults => Interlocked.Read(ref _faults);

    public long UdpQueries => Interlocked.Read(ref _udpQueries);
    public long UdpResponses => Interlocked.Read(ref _udpResponses);
    public long TcpQueries => Interlocked.Read(ref _tcpQueries);
    public long TcpConnections => Interlocked.Read(ref _tcpConnections);
    /// <summary>Connections closed to make room for new ones (per-address or global cap).</summary>
    public long TcpEvicted => Interlocked.Read(ref _tcpEvicted);
    /// <summary>Connections closed because a message was longer than <see cref="MaxTcpQueryLength"/>.</summary>
    public long TcpOversized => Interlocked.Read(ref _tcpOversized);

    /// <summary>
    /// Longest query accepted over TCP. Queries (even with TSIG and cookies) are far smaller; a fixed per-connection
    /// buffer keeps memory bounded: see <see cref="TcpMemoryCeiling"/>.
    /// </summary>
    public const int MaxTcpQueryLength = TcpInputBuffer - 2;

    private const int TcpInputBuffer = 16384;
    private const int TcpOutputBuffer = 65536; // a power of two, so the pool does not round it up to 128 KiB

    /// <summary>
    /// The most buffer memory TCP serving can hold: every connection its 16 KiB input buffer plus, while it writes
    /// an answer, a 64 KiB output buffer; a slow client that never completes a query holds only the input buffer.
    /// </summary>
    public long TcpMemoryCeiling => (long)Math.Max(1, _options.MaxTcpConnections) * (TcpInputBuffer + TcpOutputBuffer);

    /// <summary>Buffer bytes held by TCP connections now, and the most ever held.</summary>
    public long TcpBufferBytes => Interlocked.Read(ref _tcpBufferBytes);
    public long TcpBufferBytesPeak => Interlocked.Read(ref _tcpBufferBytesPeak);
    public int TcpActive => Volatile.Read(ref _tcpActive);

    /// <summary>Bound UDP endpoints (after <see cref="Bind"/>); port 0 in the options becomes the real port.</summary>
    public IReadOnlyList<IPEndPoint> UdpEndPoints => _udp.ConvertAll(s => s.LocalEndPoint);

    public IReadOnlyList<IPEndPoint> TcpEndPoints => _tcp.ConvertAll(l => l.LocalEndPoint);

    /// <summary>Why TCP is not served although the options ask for it (the stack has no TCP), or null.</summary>
    public string? TcpUnavailable { get; private set; }

    /// <summary>
    /// Binds every socket (UDP first; TCP on the same port). Throws when an endpoint cannot be bound; a stack that does
    /// not implement TCP leaves UDP only, with the reason in <see cref="TcpUnavailable"/>.
    /// </summary>
    public void Bind()
    {
        if (_udp.Count > 0)
        {
            return;
        }
        try
        {
            foreach (var endPoint in _options.EndPoints)
            {
                BindEndPoint(endPoint);
            }
        }
        catch
        {
            Close();
            throw;
        }
    }

    /// <summary>
    /// Binds UDP, then TCP on the port UDP got. With port 0 the kernel picks a port free for UDP only, and TCP may
    /// already hold it (an outgoing connection's ephemeral port): then both are given up and another port is tried.
    /// </summary>
    private void BindEndPoint(IPEndPoint endPoint)
    {
        const int attempts = 32;
        for (var attempt = 1; ; attempt++)
        {
            var udp = _stack.Udp.Bind(endPoint);
            if (!_options.Tcp || TcpUnavailable is not null)
            {
                _udp.Add(udp);
                return;
            }
            try
            {
                _tcp.Add(_stack.Tcp.Listen(new IPEndPoint(endPoint.Address, udp.LocalEndPoint.Port)));
                _udp.Add(udp);
                return;
            }
            catch (NotSupportedException e)
            {
                TcpUnavailable = e.Message; // a stack without TCP: serve UDP only
                _udp.Add(udp);
                return;
            }
            catch (SocketException e) when (endPoint.Port == 0 && e.SocketErrorCode == SocketError.AddressAlreadyInUse && attempt < attempts)
            {
                udp.Dispose();
            }
            catch
            {
                udp.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// Serves until <paramref name="cancellationToken"/> is cancelled, then closes every socket. A <see cref="Job"/>,
    /// not a Task: with the TCP connections run as jobs (on the epoll thread that signals them) the image links no
    /// Task machinery and no thread pool for serving (issue 17).
    /// </summary>
    public async Job RunAsync(CancellationToken cancellationToken)
    {
        Bind();
        var threads = new List<Thread>();
        try
        {
            foreach (var socket in _udp)
            {
                for (var t = 0; t < Math.Max(1, _options.UdpThreads); t++)
                {
                    var thread = new Thread(() => UdpLoop(socket, cancellationToken)) { IsBackground = true, Name = "dns-udp" };
                    thread.Start();
                    threads.Add(thread);
                }
            }
            foreach (var listener in _tcp)
            {
                Track(AcceptLoop(listener, cancellationToken));
            }
            await WhenCancelled(cancellationToken);
        }
        finally
        {
            foreach (var listener in _tcp)
            {
                listener.Dispose();
            }
            foreach (var thread in threads)
            {
                thread.Join(TimeSpan.FromSeconds(5));
            }
            // The accept loops and connections end with the token (their sockets' waits are cancelled); one that does
            // not finish in time has its socket closed below.
            await WhenIdle(TimeSpan.FromSeconds(5));
            Close();
        }
    }

    /// <summary>A job that completes when <paramref name="cancellationToken"/> is cancelled (never, if it cannot be).</summary>
    internal static Job WhenCancelled(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Job.CompletedJob;
        }
        var source = new JobSource();
        cancellationToken.UnsafeRegister(static state => ((JobSource)state!).TrySetResult(), source);
        return source.Job;
    }

    // Accept loops and connections still running; when it drops to 0, _idle (if set) completes.
    private int _busy;
    private JobSource? _idle;

    private void Track(Job job)
    {
        Interlocked.Increment(ref _busy);
        job.GetAwaiter().UnsafeOnCompleted(Untrack);
    }

    private void Untrack()
    {
        if (Interlocked.Decrement(ref _busy) == 0)
        {
            Volatile.Read(ref _idle)?.TrySetResult();
        }
    }

    /// <summary>Completes when every accept loop and connection has ended, or after <paramref name="timeout"/>.</summary>
    private Job WhenIdle(TimeSpan timeout)
    {
        var idle = new JobSource();
        Interlocked.Exchange(ref _idle, idle); // a full fence: Untrack's decrement to 0 either sees it or is seen below
        if (Volatile.Read(ref _busy) == 0)
        {
            return Job.CompletedJob;
        }
        var timer = new CancellationTokenSource();
        JobLoop.Default.Delay(timeout, timer.Token).GetAwaiter().UnsafeOnCompleted(() => idle.TrySetResult());
        idle.Job.GetAwaiter().UnsafeOnCompleted(() =>
        {
            timer.Cancel();
            timer.Dispose();
        });
        return idle.Job;
    }

    /// <summary>
    /// Answers one query. A fault (a bug: the responder is meant never to throw) must not end the service nor the
    /// other queries in the batch: it is counted, logged once per kind, and the query is answered SERVFAIL.
    /// </summary>
    private int Answer(ReadOnlySpan<byte> query, Span<byte> response, bool tcp)
    {
        try
        {
            return _answer(query, response, tcp);
        }
#pragma warning disable CA1031 // deliberately broad: see above
        catch (Exception e)
#pragma warning restore CA1031
        {
            Interlocked.Increment(ref _faults);
            Report(e, "fault answering a query, answered SERVFAIL", query);
            return DnsResponder.ServerFailure(query, response);
        }
    }

    private void Report(Exception e, string what, ReadOnlySpan<byte> query)
    {
        var kind = what + ": " + (e.GetType().FullName ?? e.GetType().Name);
        bool first;
        lock (_faultKinds)
        {
            first = _faultKinds.Count < 64 && _faultKinds.Add(kind);
        }
        if (first)
        {
            _options.Log?.Invoke($"error: {kind}: {e.Message} (logged once; further ones are only counted); query {Convert.ToHexString(query[..Math.Min(query.Length, 64)])}; at {e.StackTrace?.Replace('\n', ' ')}");
        }
    }

    private void Close()
    {
        foreach (var socket in _udp)
        {
            socket.Dispose();
        }
        foreach (var listener in _tcp)
        {
            listener.Dispose();
        }
    }

    private void UdpLoop(IUdpSocket socket, CancellationToken cancellationToken)
    {
        var rx = new DatagramBatch(_options.BatchSize, 4096);
        var tx = new DatagramBatch(_options.BatchSize, _responder.UdpPayload);
        while (!cancellationToken.IsCancellationRequested)
        {
            int n;
            try
            {
                n = socket.Receive(rx, cancellationToken);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            if (n == 0)
            {
                continue;
            }
            tx.Count = 0;
            var count = 0;
            for (var i = 0; i < n; i++)
            {
                var length = _options.Transfers is null ? Answer(rx.Datagram(i), tx.Slot(count), tcp: false) : AnswerDatagram(rx.Datagram(i), tx.Slot(count), in rx.Peer(i));
                if (length > 0)
                {
                    tx.SetLength(count, length);
                    tx.Peer(count) = rx.Peer(i);
                    count++;
                }
            }
            tx.Count = count;
            if (count > 0)
            {
                try
                {
                    socket.Send(tx);
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    Report(e, "UDP send failed, batch dropped", default); // e.g. a transient send error: drop this batch, keep serving
                }
            }
            Interlocked.Add(ref _udpQueries, n);
            Interlocked.Add(ref _udpResponses, count);
        }
    }

    private async Job AcceptLoop(ITcpListener listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            ITcpConnection connection;
            try
            {
                connection = await SourceAwait.On(listener.AcceptAsync(cancellationToken));
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (System.Net.Sockets.SocketException)
            {
                continue; // e.g. the peer reset before accept completed
            }
            Interlocked.Increment(ref _tcpConnections);
            IPAddress address;
            try
            {
                address = connection.RemoteEndPoint.Address;
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                await SourceAwait.On(connection.DisposeAsync());
                continue; // gone already
            }
            var slot = Admit(address, cancellationToken);
            // Runs here until its first wait, then on the epoll thread that signals its socket (no thread pool).
            Track(ServeConnection(connection, slot));
        }
    }

    /// <summary>One open TCP connection, as the admission policy sees it.</summary>
    private sealed class TcpSlot(IPAddress address, CancellationTokenSource stop, long sequence)
    {
        public IPAddress Address { get; } = address;
        public CancellationTokenSource Stop { get; } = stop;
        public long Sequence { get; } = sequence;
        /// <summary>When the last complete message arrived (or the connection opened): Environment.TickCount64.</summary>
        public long LastMessage;
        /// <summary>Set by <see cref="Transfer"/> when the connection must close (deadline, eviction).</summary>
        public bool Ended;
    }

    /// <summary>
    /// Admits a new connection. At the per-address cap, the oldest-idle connection of that address makes room; at the
    /// global cap, the oldest-idle connection of all (RFC 7766 section 6.2: under pressure close idle connections, new
    /// clients still get in). "Oldest idle" is the longest time since a complete message: a client that dribbles bytes
    /// without ever completing a query is the first to go.
    /// </summary>
    private TcpSlot Admit(IPAddress address, CancellationToken cancellationToken)
    {
        var slot = new TcpSlot(address, CancellationTokenSource.CreateLinkedTokenSource(cancellationToken), Interlocked.Increment(ref _tcpSequence))
        {
            LastMessage = Environment.TickCount64,
        };
        bool sweep;
        lock (_slots)
        {
            TcpSlot? victim = null;
            var fromAddress = 0;
            TcpSlot? oldestOfAddress = null;
            TcpSlot? oldest = null;
            var live = 0;
            foreach (var s in _slots)
            {
                if (s.Stop.IsCancellationRequested)
                {
                    continue; // already being closed
                }
                live++;
                if (s.Address.Equals(address))
                {
                    fromAddress++;
                    if (oldestOfAddress is null || IsOlder(s, oldestOfAddress))
                    {
                        oldestOfAddress = s;
                    }
                }
                if (oldest is null || IsOlder(s, oldest))
                {
                    oldest = s;
                }
            }
            if (fromAddress >= Math.Max(1, _options.MaxTcpConnectionsPerAddress))
            {
                victim = oldestOfAddress;
            }
            else if (live >= Math.Max(1, _options.MaxTcpConnections))
            {
                victim = oldest;
            }
            if (victim is not null)
            {
                Interlocked.Increment(ref _tcpEvicted);
                victim.Stop.Cancel();
            }
            _slots.Add(slot);
            Volatile.Write(ref _tcpActive, _slots.Count);
            sweep = !_sweeping;
            _sweeping = true;
        }
        if (sweep)
        {
            StartSweep(IdleTimeoutMilliseconds);
        }
        return slot;
    }

    // Idle timeouts: one timer on the job loop for all connections (not CancelAfter per connection, whose timer queue
    // links the thread pool into the image: issue 17). It fires at the earliest LastMessage + TcpIdleTimeout, cancels
    // every connection past its deadline and sets itself for the next one; with no connection it is not set.
    private bool _sweeping; // under _slots: the timer is set

    private long IdleTimeoutMilliseconds => (long)Math.Clamp(_options.TcpIdleTimeout.TotalMilliseconds, 1, int.MaxValue);

    private void StartSweep(long delayMilliseconds) =>
        JobLoop.Default.Delay(TimeSpan.FromMilliseconds(Math.Max(0, delayMilliseconds)), CancellationToken.None).GetAwaiter().UnsafeOnCompleted(Sweep);

    private void Sweep()
    {
        var timeout = IdleTimeoutMilliseconds;
        var next = long.MaxValue;
        long now;
        lock (_slots)
        {
            now = Environment.TickCount64;
            List<TcpSlot>? expired = null;
            foreach (var s in _slots)
            {
                if (s.Stop.IsCancellationRequested)
                {
                    continue;
                }
                var due = Volatile.Read(ref s.LastMessage) + timeout;
                if (due <= now)
                {
                    (expired ??= []).Add(s);
                }
                else
                {
                    next = Math.Min(next, due);
                }
            }
            _sweeping = next != long.MaxValue;
            if (expired is not null)
            {
                // Under the lock, as in Admit: Release disposes a slot's source only after taking it out of _slots.
                foreach (var s in expired)
                {
                    s.Stop.Cancel();
                }
            }
        }
        if (next != long.MaxValue)
        {
            StartSweep(next - now);
        }
    }

    private static bool IsOlder(TcpSlot a, TcpSlot b)
    {
        var x = Volatile.Read(ref a.LastMessage);
        var y = Volatile.Read(ref b.LastMessage);
        return x < y || (x == y && a.Sequence < b.Sequence);
    }

    private void Release(TcpSlot slot)
    {
        lock (_slots)
        {
            _slots.Remove(slot);
            Volatile.Write(ref _tcpActive, _slots.Count);
        }
        slot.Stop.Dispose();
    }

    private async Job ServeConnection(ITcpConnection connection, TcpSlot slot)
    {
        var input = RentBuffer(TcpInputBuffer);
        var deadline = slot.Stop.Token;
        try
        {
            // Each message must be complete within the idle timeout of the previous one (or of the connection's
            // start): LastMessage is not moved by partial data, so dribbling clients cannot hold a slot for long.
            // The sweep (see Sweep) cancels slot.Stop at LastMessage + TcpIdleTimeout.
            var filled = 0;
            while (true)
            {
                // Answer every complete message already buffered (pipelining).
                var consumed = 0;
                while (filled - consumed >= 2)
                {
                    int length = BinaryPrimitives.ReadUInt16BigEndian(input.AsSpan(consumed));
                    if (length > TcpInputBuffer - 2)
                    {
                        Interlocked.Increment(ref _tcpOversized);
                        return; // larger than any query we serve (see MaxTcpQueryLength): close
                    }
                    if (filled - consumed - 2 < length)
                    {
                        break;
                    }
                    Interlocked.Increment(ref _tcpQueries);
                    Volatile.Write(ref slot.LastMessage, Environment.TickCount64);
                    if (slot.Stop.IsCancellationRequested)
                    {
                        return; // evicted, timed out or shut down while the message was completing
                    }
                    if (_options.Transfers is not null && ZoneTransfers.IsTransferQuery(input.AsSpan(consumed + 2, length)))
                    {
                        // AXFR/IXFR: many messages (Transfer.cs); each one written restarts the idle timer.
                        var query = input.AsMemory(consumed + 2, length);
                        consumed += 2 + length;
                        await Transfer(connection, slot, query);
                        if (slot.Ended)
                        {
                            return;
                        }
                        continue;
                    }
                    var output = RentBuffer(TcpOutputBuffer);
                    try
                    {
                        var n = Answer(input.AsSpan(consumed + 2, length), output.AsSpan(2, TcpOutputBuffer - 2), tcp: true);
                        consumed += 2 + length;
                        if (n > 0)
                        {
                            BinaryPrimitives.WriteUInt16BigEndian(output, (ushort)n);
                            await SourceAwait.On(connection.WriteAsync(output.AsMemory(0, n + 2), deadline));
                        }
                    }
                    finally
                    {
                        ReturnBuffer(output);
                    }
                }
                if (consumed > 0)
                {
                    input.AsSpan(consumed, filled - consumed).CopyTo(input);
                    filled -= consumed;
                }
                var read = await SourceAwait.On(connection.ReadAsync(input.AsMemory(filled, TcpInputBuffer - filled), deadline));
                if (read == 0)
                {
                    return;
                }
                filled += read;
            }
        }
        catch (OperationCanceledException)
        {
            // deadline, eviction or shutdown
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or System.IO.IOException or ObjectDisposedException)
        {
            // the peer went away
        }
        finally
        {
            try
            {
                connection.ShutdownSend();
            }
            catch (Exception e) when (e is ObjectDisposedException or System.Net.Sockets.SocketException)
            {
                // already closed
            }
            await SourceAwait.On(connection.DisposeAsync());
            ReturnBuffer(input);
            Release(slot);
        }
    }

    /// <summary>A datagram when transfers are configured: UDP IXFR gets its SOA-only answer (RFC 1995 2) from them.</summary>
    private int AnswerDatagram(ReadOnlySpan<byte> query, Span<byte> response, in DatagramPeer peer)
    {
        if (!ZoneTransfers.IsTransferQuery(query))
        {
            return Answer(query, response, tcp: false);
        }
        try
        {
            var session = _options.Transfers!.Begin(query, peer.ToEndPoint().Address, tcp: false);
            return session.TryNext(response, out var length) && length <= response.Length ? length : 0;
        }
#pragma warning disable CA1031 // as in Answer
        catch (Exception e)
#pragma warning restore CA1031
        {
            Interlocked.Increment(ref _faults);
            Report(e, "fault answering a transfer query, answered SERVFAIL", query);
            return DnsResponder.ServerFailure(query, response);
        }
    }

    /// <summary>Writes every message of a zone transfer; sets <see cref="TcpSlot.Ended"/> when the connection must close (deadline, eviction).</summary>
    private async Job Transfer(ITcpConnection connection, TcpSlot slot, ReadOnlyMemory<byte> query)
    {
        var output = RentBuffer(TcpOutputBuffer);
        try
        {
            TransferSession session;
            try
            {
                session = _options.Transfers!.Begin(query.Span, slot.Address, tcp: true);
            }
#pragma warning disable CA1031 // as in Answer
            catch (Exception e)
#pragma warning restore CA1031
            {
                Interlocked.Increment(ref _faults);
                Report(e, "fault answering a transfer query, answered SERVFAIL", query.Span);
                var n = DnsResponder.ServerFailure(query.Span, output.AsSpan(2));
                BinaryPrimitives.WriteUInt16BigEndian(output, (ushort)n);
                await SourceAwait.On(connection.WriteAsync(output.AsMemory(0, n + 2), slot.Stop.Token));
                return;
            }
            while (session.TryNext(output.AsSpan(2, TcpOutputBuffer - 2), out var length))
            {
                BinaryPrimitives.WriteUInt16BigEndian(output, (ushort)length);
                await SourceAwait.On(connection.WriteAsync(output.AsMemory(0, length + 2), slot.Stop.Token));
                // A big zone to a slow secondary: progress counts as activity (the deadline is per message).
                Volatile.Write(ref slot.LastMessage, Environment.TickCount64);
                if (slot.Stop.IsCancellationRequested)
                {
                    slot.Ended = true;
                    return;
                }
            }
        }
        finally
        {
            ReturnBuffer(output);
        }
    }

    private byte[] RentBuffer(int size)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        var held = Interlocked.Add(ref _tcpBufferBytes, buffer.Length);
        long peak;
        while (held > (peak = Interlocked.Read(ref _tcpBufferBytesPeak)) && Interlocked.CompareExchange(ref _tcpBufferBytesPeak, held, peak) != peak)
        {
        }
        return buffer;
    }

    private void ReturnBuffer(byte[] buffer)
    {
        Interlocked.Add(ref _tcpBufferBytes, -buffer.Length);
        ArrayPool<byte>.Shared.Return(buffer);
    }
}
