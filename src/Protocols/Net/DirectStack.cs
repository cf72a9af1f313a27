using System;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.Net;

/// <summary>
/// Our own network stack over a raw Ethernet interface, built from one layer per file over the layer below (as smoltcp's
/// <c>iface</c> and mirage-tcpip's functors): <see cref="EthernetLayer"/> (Ethernet + ARP) → <see cref="IPv4Layer"/>
/// (routing, fragmentation, reassembly, dispatch by protocol number: the <see cref="IIPv4"/> seam) → ICMP, UDP and TCP,
/// with the DHCP client as an ordinary UDP consumer when no static address is given. This class is the composition
/// root: options, lifecycle (the receive thread and the timer loop), the test hooks and the counters. One lock guards
/// all protocol state (<see cref="StackContext"/>); frames are built in place in pinned batches, so the receive and
/// send paths do not allocate per frame.
/// </summary>
/// <remarks>
/// Run to completion: reading the interface ("pumping") is done under a pump lock by one thread at a time. A UDP
/// socket's <see cref="IUdpSocket.Receive"/> that finds its queue empty pumps on its own thread (as the socket stack's
/// UDP loop calls <c>recvmmsg</c>), so a query is received, answered and sent on that thread with no hand-off to or
/// from the receive thread. The receive thread pumps only while no socket thread does or wants to, and none has for
/// <see cref="HandOverMilliseconds"/> (TCP-only or idle appliances, or a socket thread busy elsewhere); whatever a
/// pump reads (ARP, ICMP, TCP, other sockets' datagrams) is handled in the same way whichever thread pumps.
/// </remarks>
public sealed class DirectStack : INetworkStack, IStartable, IDisposable, IDhcpHost, IDirectStackTestHooks, IFramePump
{
    /// <summary>How long after a socket thread last pumped the receive thread leaves the interface to it.</summary>
    internal const int HandOverMilliseconds = 20;
    /// <summary>
    /// The exit status when the network interface goes away for good (EX_IOERR of sysexits.h): the stack logs the error
    /// once and ends the process, so that a supervisor (systemd, a VM manager) restarts the appliance, which attaches
    /// afresh. It does not try to re-attach by itself: a deleted tap that comes back is a new device, maybe configured
    /// differently, and a supervisor can wait for it.
    /// </summary>
    public const int InterfaceLostExitCode = 74;

    /// <summary>How long <see cref="StartAsync"/> waits for a DHCP lease.</summary>
    public static readonly TimeSpan DhcpTimeout = TimeSpan.FromSeconds(30);

    private readonly INetworkInterface _network;
    private readonly ITime _time;
    private readonly IRandom _random;
    private readonly StackContext _context;
    private readonly EthernetLayer _link;
    private readonly IPv4Layer _ipv4;
    private readonly IcmpLayer _icmp;
    private readonly DirectUdp _udp;
    private readonly ITcp _tcp;
    private readonly DhcpClient? _dhcp;
    private readonly uint _staticGateway;
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _leaseReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _timerWake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _timerScheduledAt = long.MaxValue;
    private readonly object _pump = new();
    private bool _runTcpToCompletion;
    private int _socketsReceiving;
    private long _socketLeftAt = long.MinValue / 2;
    private Thread? _receiver;
    private Task? _timer;
    private bool _disposed;

    public DirectStack(INetworkInterface network, IMonotonicClock clock, ITime time, IRandom random, string ipv4, string ipv4Gateway)
        : this(network, clock, time, random, new TcpSettings(), ipv4, ipv4Gateway)
    {
    }

    /// <summary>A direct stack whose TCP uses <paramref name="tcp"/> (the configuration's <c>tcp</c> device, or the defaults).</summary>
    public DirectStack(INetworkInterface network, IMonotonicClock clock, ITime time, IRandom random, TcpSettings tcp, string ipv4, string ipv4Gateway)
    {
        ArgumentNullException.ThrowIfNull(tcp);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(ipv4);
        ArgumentNullException.ThrowIfNull(ipv4Gateway);
        _network = network;
        _time = time;
        _random = random;
        _context = new StackContext(clock, WakeTimerLocked);
        if (ipv4Gateway.Length > 0)
        {
            _staticGateway = ParseOption(ipv4Gateway, "ipv4Gateway", static text => IPv4Address.Parse(text));
        }
        var configured = false;
        uint address = 0, mask = 0;
        if (ipv4.Length > 0)
        {
            if (!ipv4.Contains('/', StringComparison.Ordinal))
            {
                throw new ArgumentException($"direct stack option ipv4 = '{ipv4}': give ADDR/PREFIX (e.g. 10.0.0.2/24), or nothing to use DHCP", nameof(ipv4));
            }
            var (parsed, prefix) = ParseOption(ipv4, "ipv4", IPv4Address.ParseCidr);
            address = parsed;
            mask = IPv4Address.MaskFromPrefix(prefix);
            if (_staticGateway != 0 && ((_staticGateway ^ address) & mask) != 0)
            {
                throw new ArgumentException($"direct stack option ipv4Gateway = '{ipv4Gateway}' is not on the link {ipv4}", nameof(ipv4Gateway));
            }
            configured = true;
        }
        _link = new EthernetLayer(network, _context);
        if (configured)
        {
            _context.IPv4.Configure(address, mask, _staticGateway);
        }
        Span<byte> seed = stackalloc byte[4];
        random.Fill(seed);
        _ipv4 = new IPv4Layer(_context, _link, (ushort)(seed[0] << 8 | seed[1]));
        _icmp = new IcmpLayer(_ipv4);
        _ipv4.Errors = _icmp;
        _udp = new DirectUdp(_ipv4, seed[2] << 8 | seed[3]);
        _tcp = TcpLayerFactory.Create(_ipv4, random, tcp);
        if (!configured)
        {
            _dhcp = new DhcpClient(this, NewTransactionId);
            _ = new DhcpBinding(_dhcp, _ipv4, _udp);
        }
    }

    public IUdp Udp => _udp;

    public ITcp Tcp => _tcp;

    public MacAddress MacAddress => _link.Mac;

    /// <summary>Our address (0 until configured).</summary>
    public uint Address
    {
        get
        {
            lock (_context.Gate)
            {
                return _context.IPv4.Address;
            }
        }
    }

    public DirectStackCounters Counters => _context.Counters;

    /// <summary>
    /// When set, a TCP reader or writer that a received segment wakes continues on the receive thread, after the
    /// batch is handled and the lock released (see <see cref="TcpCompletions"/>): no thread hand-off per segment.
    /// Only for applications whose TCP code never blocks a thread (a continuation that blocks stalls the whole stack
    /// until it returns, since that thread is the one receiving): <see cref="Http.HttpServer"/> turns it on. Off, a
    /// woken waiter continues on the thread pool.
    /// </summary>
    internal bool RunTcpToCompletion
    {
        get => Volatile.Read(ref _runTcpToCompletion);
        set => Volatile.Write(ref _runTcpToCompletion, value);
    }

    /// <summary>What tests and benchmarks reach into (feed frames, run timers, look at the tables).</summary>
    internal IDirectStackTestHooks Hooks => this;

    /// <summary>The IPv4 seam the transports are built on.</summary>
    internal IIPv4 IPv4 => _ipv4;

    /// <summary>Starts receiving, announces the address (gratuitous ARP) and, without a static address, waits for a DHCP lease.</summary>
    public async Job StartAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_receiver is not null)
        {
            throw new InvalidOperationException("the direct stack is already started");
        }
        _receiver = new Thread(ReceiveLoop) { IsBackground = true, Name = "direct-stack-rx" };
        _receiver.Start();
        _udp.Pump = this;
        _timer = Task.Run(() => TimerLoopAsync(_stop.Token), CancellationToken.None);
        if (_dhcp is null)
        {
            using (_ipv4.Enter())
            {
                _link.SendGratuitousArpLocked();
            }
            return;
        }
        Task lease;
        using (_ipv4.Enter())
        {
            _dhcp.Start(_context.Now);
            lease = _leaseReady.Task;
            WakeTimerLocked(_dhcp.NextDeadline);
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        var expired = _time.SleepAsync(DhcpTimeout, timeout.Token).AsTask();
        var first = await Task.WhenAny(lease, expired).ConfigureAwait(false);
        await timeout.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (first != lease)
        {
            throw new TimeoutException(
                $"DHCP: no lease within {DhcpTimeout.TotalSeconds:0} s on the interface with MAC {_link.Mac} (state {_dhcp.State}); " +
                "check that a DHCP server answers on this link, or configure a static address (ipv4 = ADDR/PREFIX)");
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _udp.Pump = null;
        _stop.Cancel();
        _receiver?.Join(TimeSpan.FromSeconds(5));
        try
        {
            _timer?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        (_tcp as IDisposable)?.Dispose();
        _udp.CloseAll();
        _stop.Dispose();
    }

    // ---- test hooks ----

    long IDirectStackTestHooks.Poll() => PollOnce();

    void IDirectStackTestHooks.ProcessFrame(ReadOnlySpan<byte> frame)
    {
        using (_ipv4.Enter())
        {
            _link.ReceiveLocked(frame);
        }
    }

    void IDirectStackTestHooks.SendEchoRequest(uint destination, ushort identifier, ushort sequence, int dataLength)
    {
        using (_ipv4.Enter())
        {
            _icmp.SendEchoRequestLocked(destination, identifier, sequence, dataLength);
        }
    }

    bool IDirectStackTestHooks.WaitForEchoReply(ushort identifier, ushort sequence, TimeSpan timeout) =>
        _icmp.WaitForEchoReply(identifier, sequence, timeout);

    ArpCache IDirectStackTestHooks.Arp => _link.Arp;

    Reassembler IDirectStackTestHooks.Reassembly => _ipv4.Reassembly;

    DhcpClient? IDirectStackTestHooks.Dhcp => _dhcp;

    Action<string> IDirectStackTestHooks.Log
    {
        set => _context.Log = value;
    }

    Action<NetworkInterfaceGoneException> IDirectStackTestHooks.InterfaceLost
    {
        set => _context.InterfaceLost = value;
    }

    bool IDirectStackTestHooks.ReceiverRunning => _receiver is { IsAlive: true };

    // ---- receive thread ----

    private void ReceiveLoop()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            if (Volatile.Read(ref _socketsReceiving) > 0 ||
                Environment.TickCount64 - Volatile.Read(ref _socketLeftAt) < HandOverMilliseconds)
            {
                // A socket thread drives the interface (run to completion): stay out of its way.
                token.WaitHandle.WaitOne(HandOverMilliseconds);
                continue;
            }
            if (!Monitor.TryEnter(_pump, HandOverMilliseconds))
            {
                continue;
            }
            bool more;
            if (Volatile.Read(ref _runTcpToCompletion))
            {
                TcpCompletions.BeginBatch();
            }
            try
            {
                more = PumpLocked(token, fromSocket: false);
            }
            finally
            {
                Monitor.Exit(_pump);
                TcpCompletions.EndBatch(); // TCP readers and writers woken by this batch continue here (run to completion)
            }
            if (!more)
            {
                break;
            }
        }
    }

    /// <summary>
    /// Reads one batch from the interface (blocking until frames come or <paramref name="token"/> is cancelled) and
    /// handles it, under the pump lock. False when the interface is gone or disposed (stop pumping).
    /// </summary>
    private bool PumpLocked(CancellationToken token, bool fromSocket)
    {
        var rx = _link.Rx;
        int count;
        try
        {
            count = _network.Receive(rx, token);
        }
        catch (OperationCanceledException)
        {
            return !_stop.IsCancellationRequested;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        catch (NetworkInterfaceGoneException exception)
        {
            _context.ReportInterfaceLost(exception);
            return false;
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // A failing device (an I/O error on the tap) must not take the process down: count it, back off, retry.
            Counters.Errors++;
            Counters.LastError = exception;
            token.WaitHandle.WaitOne(100);
            return true;
        }
        if (count == 0)
        {
            if (!token.IsCancellationRequested)
            {
                Thread.Sleep(1);
            }
            return true;
        }
        using (_ipv4.Enter())
        {
            if (fromSocket)
            {
                Counters.SocketPumps++;
            }
            for (var i = 0; i < count; i++)
            {
                try
                {
                    _link.ReceiveLocked(rx.Datagram(i), rx.IsChecksumTrusted(i));
                }
                catch (Exception exception) when (exception is not OutOfMemoryException)
                {
                    Counters.Errors++;
                    Counters.LastError = exception;
                }
            }
        }
        return true;
    }

    void IFramePump.BeginReceive() => Interlocked.Increment(ref _socketsReceiving);

    void IFramePump.EndReceive()
    {
        Volatile.Write(ref _socketLeftAt, Environment.TickCount64);
        Interlocked.Decrement(ref _socketsReceiving);
    }

    bool IFramePump.TryPump(DirectUdpSocket socket, CancellationToken token)
    {
        if (_disposed || _stop.IsCancellationRequested || _context.IsInterfaceLost || !Monitor.TryEnter(_pump))
        {
            // Another thread pumps (the receive thread finishing its batch, or another socket's): what it reads for
            // this socket is queued and the socket woken.
            return false;
        }
        try
        {
            if (!socket.HasQueued)
            {
                PumpLocked(token, fromSocket: true);
            }
            return true;
        }
        finally
        {
            Monitor.Exit(_pump);
        }
    }

    // ---- timers ----

    /// <summary>Runs every layer's timers now; returns the next deadline.</summary>
    private long PollOnce()
    {
        using (_ipv4.Enter())
        {
            var now = _context.Now;
            _link.PollLocked(now);
            _ipv4.PollLocked(now);
            return NextDeadlineLocked();
        }
    }

    private long NextDeadlineLocked() => Math.Min(_link.NextDeadline, _ipv4.NextDeadline);

    private async Task TimerLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var next = PollOnce();
                Task wake;
                long wait;
                lock (_context.Gate)
                {
                    if (_timerWake.Task.IsCompleted)
                    {
                        _timerWake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }
                    next = Math.Min(next, NextDeadlineLocked());
                    _timerScheduledAt = next;
                    wake = _timerWake.Task;
                    wait = next == long.MaxValue ? -1 : Math.Max(0, next - _context.Now);
                }
                if (wait < 0)
                {
                    await wake.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    // Sleep to the deadline (at least 1 ms, at most 1 s at a time), or less when an earlier one appears.
                    var duration = TimeSpan.FromTicks(Math.Clamp(wait / 100, TimeSpan.TicksPerMillisecond, TimeSpan.TicksPerSecond));
                    await Task.WhenAny(_time.SleepAsync(duration, cancellationToken).AsTask(), wake).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void WakeTimerLocked(long deadline)
    {
        if (deadline < _timerScheduledAt)
        {
            _timerScheduledAt = deadline;
            _timerWake.TrySetResult();
        }
    }

    // ---- DHCP host ----

    void IDhcpHost.SendDhcp(in DhcpRepr message, uint destination)
    {
        var body = _udp.PayloadBufferLocked;
        message.TryWrite(body, out var length);
        _udp.SendLocked(DhcpPacket.ClientPort, destination, DhcpPacket.ServerPort, body[..length]);
        Counters.DhcpMessagesSent++;
    }

    void IDhcpHost.OnLease(in DhcpLease lease)
    {
        var settings = _context.IPv4;
        var changed = !settings.IsConfigured || settings.Address != lease.Address;
        settings.Configure(lease.Address, lease.SubnetMask != 0 ? lease.SubnetMask : DefaultMask(lease.Address),
            _staticGateway != 0 ? _staticGateway : lease.Router);
        if (changed)
        {
            _link.SendGratuitousArpLocked();
        }
        _leaseReady.TrySetResult();
    }

    void IDhcpHost.OnLeaseLost()
    {
        _context.IPv4.Clear();
        _leaseReady = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    // ---- options ----

    private uint NewTransactionId()
    {
        Span<byte> bytes = stackalloc byte[4];
        _random.Fill(bytes);
        return BitConverter.ToUInt32(bytes);
    }

    private static uint DefaultMask(uint address) => (address >> 24) switch
    {
        < 128 => 0xFF000000,
        < 192 => 0xFFFF0000,
        _ => 0xFFFFFF00,
    };

    private static T ParseOption<T>(string text, string name, Func<string, T> parse)
    {
        try
        {
            return parse(text);
        }
        catch (FormatException exception)
        {
            throw new ArgumentException($"direct stack option {name} = '{text}': {exception.Message}", name, exception);
        }
    }
}

/// <summary>What tests and benchmarks may do to a <see cref="DirectStack"/> besides its public API.</summary>
internal interface IDirectStackTestHooks
{
    /// <summary>Runs the timers now (ARP retries, reassembly timeouts, DHCP); tests call it after moving a virtual clock.</summary>
    long Poll();

    /// <summary>Handles one received frame as the receive thread would.</summary>
    void ProcessFrame(ReadOnlySpan<byte> frame);

    /// <summary>Sends an ICMP echo request with <paramref name="dataLength"/> bytes of data.</summary>
    void SendEchoRequest(uint destination, ushort identifier, ushort sequence, int dataLength);

    /// <summary>Waits (real time, bounded) for the echo reply with this identifier and sequence number.</summary>
    bool WaitForEchoReply(ushort identifier, ushort sequence, TimeSpan timeout);

    ArpCache Arp { get; }

    Reassembler Reassembly { get; }

    DhcpClient? Dhcp { get; }

    /// <summary>Captures the stack's log lines (standard error by default).</summary>
    Action<string> Log { set; }

    /// <summary>Replaces what happens when the interface is gone (by default the process exits with <see cref="DirectStack.InterfaceLostExitCode"/>).</summary>
    Action<NetworkInterfaceGoneException> InterfaceLost { set; }

    bool ReceiverRunning { get; }
}

/// <summary>
/// Lets a socket's receiving thread read the interface itself (run to completion, see <see cref="DirectStack"/>).
/// </summary>
internal interface IFramePump
{
    /// <summary>A socket thread entered <see cref="IUdpSocket.Receive"/>: from now the receive thread leaves the interface to socket threads.</summary>
    void BeginReceive();

    /// <summary>It left (to answer what it received); the receive thread takes over if none comes back within <see cref="DirectStack.HandOverMilliseconds"/>.</summary>
    void EndReceive();

    /// <summary>
    /// Takes the pump lock if free (without waiting) and, unless <paramref name="socket"/> has datagrams queued already, reads and handles one batch of frames on the calling thread, blocking until frames come or
    /// <paramref name="token"/> is cancelled. False when it did not pump (another thread does, or the stack stops):
    /// then the caller waits on its queue, which that thread fills.
    /// </summary>
    bool TryPump(DirectUdpSocket socket, CancellationToken token);
}
