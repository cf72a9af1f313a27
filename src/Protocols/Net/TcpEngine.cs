using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.Net;

/// <summary>
/// What TCP needs from the layer below: our address, the MTU, a way to send a segment as an IPv4 payload
/// (protocol 6) to an address, the clock, and a timer wake-up. Every call happens under <see cref="Gate"/>.
/// </summary>
internal interface ITcpHost
{
    /// <summary>The lock that guards the stack (TCP state included).</summary>
    Lock Gate { get; }

    /// <summary>Monotonic nanoseconds.</summary>
    long Now { get; }

    /// <summary>Our IPv4 address; 0 while unconfigured.</summary>
    uint LocalAddress { get; }

    /// <summary>Largest IP packet the link carries (the MSS is this minus 40).</summary>
    int Mtu { get; }

    /// <summary>Sends one TCP segment (checksummed) to <paramref name="destination"/>; false when there is no route or queue room.</summary>
    bool SendTcp(uint destination, ReadOnlySpan<byte> segment);

    /// <summary>
    /// TCP segmentation offload: the most payload bytes one <see cref="SendSegmentedTcp"/> carries (whatever the
    /// header); 0 (the default) when the link does not segment, and the engine never calls it.
    /// </summary>
    int SegmentOffload => 0;

    /// <summary>
    /// Sends a segment longer than the MTU that the link cuts into segments of <paramref name="segmentSize"/> payload
    /// bytes, each a copy of the header with its sequence number advanced (FIN and PSH only on the last); its
    /// checksum field holds the partial checksum (<see cref="TcpRepr.PartialChecksum"/>).
    /// </summary>
    bool SendSegmentedTcp(uint destination, ReadOnlySpan<byte> segment, int segmentSize) => false;

    /// <summary>Pushes out what <see cref="SendTcp"/> queued (called at the end of work begun by an application).</summary>
    void Flush();

    /// <summary>Asks for <see cref="TcpEngine.Poll"/> to run no later than <paramref name="deadline"/>.</summary>
    void WakeTimer(long deadline);
}

/// <summary>Which congestion controller new connections use.</summary>
public enum TcpCongestionControl
{
    /// <summary>CUBIC (RFC 9438) in congestion avoidance, NewReno (RFC 6582) recovery.</summary>
    Cubic,

    /// <summary>Reno congestion avoidance (RFC 5681) and NewReno recovery.</summary>
    NewReno,
}

/// <summary>
/// Tunables of the TCP engine; the defaults follow the RFCs where they give one and Linux where they do not. An appliance
/// sets the common ones in its configuration (<c>c.Tcp(...)</c> in config.cs, <c>kind: tcp</c> in unikernel.yaml: the
/// generator checks the values and calls the public constructor); tests set any property with an initializer.
/// </summary>
public sealed class TcpSettings
{
    /// <summary>The defaults.</summary>
    public TcpSettings()
    {
    }

    /// <summary>
    /// The settings an appliance configures (docs/tcp.md, "Configuration"). The generator has checked the values already;
    /// they are checked again here for code that calls this directly.
    /// </summary>
    /// <param name="sendBuffer">Bytes buffered per connection for sending (its ring grows on demand up to this).</param>
    /// <param name="receiveBuffer">Bytes buffered per connection for receiving: the largest window we advertise.</param>
    /// <param name="maxConnections">Connections of every state together (TIME-WAIT included); more are refused.</param>
    /// <param name="timeWaitSeconds">How long TIME-WAIT lasts (2·MSL).</param>
    /// <param name="maxTimeWait">TIME-WAIT connections kept; above this the oldest is dropped early.</param>
    /// <param name="keepAliveIdleSeconds">Idle seconds before keep-alive probes; 0 turns keep-alive off.</param>
    /// <param name="keepAliveIntervalSeconds">Seconds between unanswered keep-alive probes.</param>
    /// <param name="keepAliveProbes">Unanswered probes before the connection is reset.</param>
    /// <param name="congestionControl"><c>cubic</c> (RFC 9438) or <c>newreno</c> (RFC 5681/6582).</param>
    /// <param name="nagle"><c>auto</c> (accepted connections send at once, as the socket stack's TCP_NODELAY; connected ones use Nagle), <c>on</c> or <c>off</c> for both.</param>
    public TcpSettings(int sendBuffer, int receiveBuffer, int maxConnections, int timeWaitSeconds, int maxTimeWait,
        int keepAliveIdleSeconds, int keepAliveIntervalSeconds, int keepAliveProbes, string congestionControl, string nagle)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sendBuffer, MinBuffer);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sendBuffer, MaxBuffer);
        ArgumentOutOfRangeException.ThrowIfLessThan(receiveBuffer, MinBuffer);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(receiveBuffer, MaxBuffer);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConnections, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeWaitSeconds, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTimeWait, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(keepAliveIdleSeconds, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(keepAliveIntervalSeconds, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(keepAliveProbes, 1);
        ArgumentNullException.ThrowIfNull(congestionControl);
        ArgumentNullException.ThrowIfNull(nagle);
        SendBufferSize = sendBuffer;
        ReceiveBufferSize = receiveBuffer;
        MaxConnections = maxConnections;
        Msl = TimeSpan.FromSeconds(timeWaitSeconds / 2.0);
        MaxTimeWait = maxTimeWait;
        KeepAliveIdle = TimeSpan.FromSeconds(keepAliveIdleSeconds);
        KeepAliveInterval = TimeSpan.FromSeconds(keepAliveIntervalSeconds);
        KeepAliveProbes = keepAliveProbes;
        CongestionControl = congestionControl.ToLowerInvariant() switch
        {
            "cubic" => TcpCongestionControl.Cubic,
            "newreno" => TcpCongestionControl.NewReno,
            _ => throw new ArgumentException($"congestion control '{congestionControl}': give cubic or newreno", nameof(congestionControl)),
        };
        NoDelay = nagle.ToLowerInvariant() switch
        {
            "auto" => null,
            "on" => false,
            "off" => true,
            _ => throw new ArgumentException($"nagle '{nagle}': give auto, on or off", nameof(nagle)),
        };
    }

    /// <summary>The smallest per-connection buffer (a few segments: smaller ones cannot keep a window open).</summary>
    public const int MinBuffer = 4096;

    /// <summary>The largest per-connection buffer (the window scale allows 1 GiB).</summary>
    public const int MaxBuffer = 1 << 30;

    public int SendBufferSize { get; init; } = 256 * 1024;
    public int ReceiveBufferSize { get; init; } = 256 * 1024;

    /// <summary>Connections of every state together (TIME-WAIT included); more are refused.</summary>
    public int MaxConnections { get; init; } = 16384;

    /// <summary>TIME-WAIT connections kept; above this the oldest is dropped early.</summary>
    public int MaxTimeWait { get; init; } = 4096;

    /// <summary>Maximum segment lifetime; TIME-WAIT lasts twice this (RFC 9293 §3.4.2).</summary>
    public TimeSpan Msl { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an orphaned connection (closed by the application) waits in FIN-WAIT-2.</summary>
    public TimeSpan FinWait2Timeout { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan InitialRto { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>RFC 6298 says 1 s; Linux (and we) use 200 ms, which RFC 6298 §2.4 allows as a local choice.</summary>
    public TimeSpan MinRto { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxRto { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Retransmissions of data (or unanswered probes) before the connection is aborted.</summary>
    public int MaxRetransmissions { get; init; } = 12;

    public int SynRetries { get; init; } = 6;

    public TimeSpan DelayedAck { get; init; } = TimeSpan.FromMilliseconds(40);

    /// <summary>Idle time before keep-alive probes (RFC 9293 §3.8.4); zero turns keep-alive off (the default).</summary>
    public TimeSpan KeepAliveIdle { get; init; } = TimeSpan.Zero;

    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(75);

    public int KeepAliveProbes { get; init; } = 9;

    /// <summary>RFC 5961 §7: challenge ACKs sent per second at most (over all connections).</summary>
    public int ChallengeAcksPerSecond { get; init; } = 100;

    /// <summary>Half-open (SYN-RECEIVED) connections per listener; past this SYN cookies answer (or SYNs are dropped).</summary>
    public int MaxHalfOpen { get; init; } = 256;

    public bool SynCookies { get; init; } = true;

    public bool WindowScaling { get; init; } = true;

    public bool Timestamps { get; init; } = true;

    public bool Sack { get; init; } = true;

    public TcpCongestionControl CongestionControl { get; init; } = TcpCongestionControl.Cubic;

    /// <summary>
    /// With SACK, loss recovery sends by the RFC 6675 pipe estimate (the default); false: NewReno's window inflation
    /// with SACK choosing the holes, as before (kept for the comparison in the tests).
    /// </summary>
    internal bool SackPipe { get; init; } = true;

    /// <summary>
    /// RFC 6675 §5.1: the SACK scoreboard survives the first retransmission timeout of an episode, so going back to
    /// SND.UNA resends only the holes; a second timeout in a row clears it (the receiver may have reneged, RFC 2018
    /// §8). False: every timeout clears it and everything above SND.UNA is resent, as before (kept for the tests).
    /// </summary>
    internal bool SackAfterTimeout { get; init; } = true;

    /// <summary>RFC 6675 NextSeg rule (4): one rescue retransmission of the tail per recovery; false for the comparison in the tests.</summary>
    internal bool RescueRetransmission { get; init; } = true;

    /// <summary>
    /// Whether new connections start with Nagle off (<see cref="TcpConnection.NoDelay"/>); null (the default): accepted
    /// connections do (the socket stack sets TCP_NODELAY on them) and connected ones do not.
    /// </summary>
    public bool? NoDelay { get; init; }
}

/// <summary>TCP counters (written under the stack's lock).</summary>
public sealed class TcpCounters
{
    public long SegmentsReceived { get; internal set; }
    public long SegmentsSent { get; internal set; }

    /// <summary>Segments longer than the MTU handed to a link that segments them (TCP segmentation offload; each counts once in <see cref="SegmentsSent"/>).</summary>
    public long OffloadedSegmentsSent { get; internal set; }

    /// <summary>Payload bytes of those segments.</summary>
    public long OffloadedBytesSent { get; internal set; }
    public long SendFailures { get; internal set; }
    public long Retransmits { get; internal set; }
    public long FastRetransmits { get; internal set; }
    public long RescueRetransmits { get; internal set; }
    public long Timeouts { get; internal set; }
    public long RstsSent { get; internal set; }
    public long RstsReceived { get; internal set; }
    public long OutOfOrder { get; internal set; }
    public long ChallengeAcks { get; internal set; }
    public long ChallengeAcksRateLimited { get; internal set; }
    public long ConnectionsOpened { get; internal set; }
    public long ConnectionsAccepted { get; internal set; }
    public long ConnectionsAborted { get; internal set; }
    public long SynCookiesSent { get; internal set; }
    public long SynCookiesAccepted { get; internal set; }
    public long KeepAlivesSent { get; internal set; }
    public long WindowProbesSent { get; internal set; }
    public long DropsMalformed { get; internal set; }
    public long DropsBadChecksum { get; internal set; }
    public long DropsOutOfWindow { get; internal set; }
    public long DropsPaws { get; internal set; }
    public long DropsBadAck { get; internal set; }
    public long DropsNoListener { get; internal set; }
    public long DropsNotUnicast { get; internal set; }
    public long DropsBacklogFull { get; internal set; }
    public long DropsConnectionLimit { get; internal set; }
    public long DropsOutOfOrderQueueFull { get; internal set; }
    public long TimeWaitRecycled { get; internal set; }
}

/// <summary>
/// The TCP layer of the direct stack: the connection table (keyed by remote address and ports; we have one address),
/// listeners with bounded half-open queues and SYN cookies, RFC 6528 initial sequence numbers, RSTs for segments to
/// nothing, RFC 5961 challenge-ACK rate limit, the bounded TIME-WAIT set, and the timers. All state is guarded by the
/// host's lock; the connection state machine itself is <see cref="TcpConnection"/>.
/// </summary>
internal sealed class TcpEngine : ITcp
{
    private const int EphemeralFirst = 49152;
    private const int EphemeralCount = 65536 - EphemeralFirst;
    private const long Second = 1_000_000_000L;
    private const long CookiePeriod = 64 * Second;

    /// <summary>MSS values a SYN cookie can carry in its 3 low bits (common link MTUs).</summary>
    private static readonly ushort[] CookieMss = [536, 1200, 1360, 1440, 1452, 1460, 4312, 8960];

    private readonly ITcpHost _host;
    private readonly Dictionary<ulong, TcpConnection> _connections = [];
    private readonly Dictionary<ushort, TcpListener> _listeners = [];
    private readonly LinkedList<TcpConnection> _timeWait = new();
    private readonly List<TcpConnection> _due = [];
    private readonly PriorityQueue<TcpConnection, long> _timers = new();
    private readonly byte[] _scratch = GC.AllocateArray<byte>(IPv4Packet.MaxLength, pinned: true);
    private readonly ulong _isnKey0, _isnKey1, _cookieKey0, _cookieKey1;
    private int _nextEphemeral;
    private long _challengeTokens;
    private long _challengeRefilledAt;
    private long _nextDeadline = long.MaxValue;

    public TcpEngine(ITcpHost host, IRandom random, TcpSettings settings, TcpCounters counters)
    {
        _host = host;
        Settings = settings;
        Counters = counters;
        Random = random;
        Span<byte> seed = stackalloc byte[36];
        random.Fill(seed);
        _isnKey0 = BinaryPrimitives.ReadUInt64LittleEndian(seed);
        _isnKey1 = BinaryPrimitives.ReadUInt64LittleEndian(seed[8..]);
        _cookieKey0 = BinaryPrimitives.ReadUInt64LittleEndian(seed[16..]);
        _cookieKey1 = BinaryPrimitives.ReadUInt64LittleEndian(seed[24..]);
        _nextEphemeral = (int)(BinaryPrimitives.ReadUInt32LittleEndian(seed[32..]) % EphemeralCount);
        _challengeTokens = settings.ChallengeAcksPerSecond;
    }

    public TcpSettings Settings { get; }

    public TcpCounters Counters { get; }

    public IRandom Random { get; }

    public ITcpHost Host => _host;

    internal Span<byte> Scratch => _scratch;

    /// <summary>Live entries of the connection table (tests).</summary>
    internal int ConnectionCount => _connections.Count;

    internal int TimeWaitCount => _timeWait.Count;

    public long NextDeadline => _nextDeadline;

    internal long Now => _host.Now;

    private static ulong Key(uint remote, ushort remotePort, ushort localPort) => (ulong)remote << 32 | (ulong)remotePort << 16 | localPort;

    // ---- ITcp ----

    public ITcpListener Listen(IPEndPoint localEndPoint, int backlog = 128)
    {
        ArgumentNullException.ThrowIfNull(localEndPoint);
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        var address = localEndPoint.Address;
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && !address.Equals(IPAddress.IPv6Any))
        {
            throw new NotSupportedException($"the direct stack speaks IPv4 only; cannot listen on {localEndPoint}");
        }
        lock (_host.Gate)
        {
            var port = (ushort)localEndPoint.Port;
            if (port == 0)
            {
                port = AllocatePortLocked(0, 0) ?? throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }
            else if (_listeners.ContainsKey(port))
            {
                throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }
            var local = address.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.Any : address;
            var listener = new TcpListener(this, new IPEndPoint(local, port), port, Math.Min(backlog, 4096));
            _listeners.Add(port, listener);
            return listener;
        }
    }

    public ValueTask<ITcpConnection> ConnectAsync(IPEndPoint remoteEndPoint, CancellationToken cancellationToken) =>
        ConnectAsync(remoteEndPoint, 0, cancellationToken);

    /// <summary>Connects from a given local port (0 picks an ephemeral one); tests use it for simultaneous opens.</summary>
    internal async ValueTask<ITcpConnection> ConnectAsync(IPEndPoint remoteEndPoint, ushort localPort, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(remoteEndPoint);
        if (remoteEndPoint.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new NotSupportedException($"the direct stack speaks IPv4 only; cannot connect to {remoteEndPoint}");
        }
        cancellationToken.ThrowIfCancellationRequested();
        Span<byte> bytes = stackalloc byte[4];
        remoteEndPoint.Address.TryWriteBytes(bytes, out _);
        var remote = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        TcpConnection connection;
        lock (_host.Gate)
        {
            connection = StartConnectLocked(remote, (ushort)remoteEndPoint.Port, localPort);
            _host.Flush();
        }
        try
        {
            await connection.WaitEstablishedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lock (_host.Gate)
            {
                connection.AbortLocked(sendReset: connection.State != TcpState.SynSent, SocketError.OperationAborted);
                _host.Flush();
            }
            throw;
        }
        return connection;
    }

    /// <summary>Sends the SYN of an active open and returns the connection (in SYN-SENT).</summary>
    internal TcpConnection StartConnectLocked(uint remote, ushort remotePort, ushort localPort)
    {
        if (_host.LocalAddress == 0)
        {
            throw new SocketException((int)SocketError.NetworkUnreachable);
        }
        if (_connections.Count >= Settings.MaxConnections && !RecycleTimeWaitLocked())
        {
            Counters.DropsConnectionLimit++;
            throw new SocketException((int)SocketError.NoBufferSpaceAvailable);
        }
        var port = localPort != 0
            ? _connections.ContainsKey(Key(remote, remotePort, localPort)) ? throw new SocketException((int)SocketError.AddressAlreadyInUse) : localPort
            : AllocatePortLocked(remote, remotePort) ?? throw new SocketException((int)SocketError.AddressAlreadyInUse);
        var connection = new TcpConnection(this, remote, remotePort, port, NewIsn(remote, remotePort, port), noDelay: Settings.NoDelay ?? false);
        _connections.Add(connection.Key, connection);
        Counters.ConnectionsOpened++;
        connection.OpenActiveLocked();
        return connection;
    }

    private ushort? AllocatePortLocked(uint remote, ushort remotePort)
    {
        for (var i = 0; i < EphemeralCount; i++)
        {
            var candidate = (ushort)(EphemeralFirst + (_nextEphemeral++ % EphemeralCount));
            if (!_listeners.ContainsKey(candidate) && (remote == 0 ? !AnyConnectionOnPort(candidate) : !_connections.ContainsKey(Key(remote, remotePort, candidate))))
            {
                return candidate;
            }
        }
        return null;
    }

    private bool AnyConnectionOnPort(ushort port)
    {
        foreach (var connection in _connections.Values)
        {
            if (connection.LocalPort == port)
            {
                return true;
            }
        }
        return false;
    }

    // ---- receive ----

    /// <summary>
    /// Handles one received segment (the IPv4 payload of a unicast packet to <paramref name="destination"/>);
    /// <paramref name="checksumTrusted"/>: the device checked its checksum or the host left it partial (receive offload).
    /// </summary>
    public void Handle(uint source, uint destination, ReadOnlySpan<byte> bytes, bool checksumTrusted = false)
    {
        Counters.SegmentsReceived++;
        if (!TcpPacket.TryCreate(bytes, out var packet))
        {
            Counters.DropsMalformed++;
            return;
        }
        if (!checksumTrusted && !packet.IsChecksumValid(source, destination))
        {
            Counters.DropsBadChecksum++;
            return;
        }
        if (!TcpRepr.TryParseUnchecked(packet, out var segment))
        {
            Counters.DropsMalformed++;
            return;
        }
        if (segment.SourcePort == 0 || segment.DestinationPort == 0 || destination != _host.LocalAddress)
        {
            Counters.DropsMalformed++;
            return;
        }
        if (segment.Has(TcpFlags.Rst))
        {
            Counters.RstsReceived++;
        }
        var key = Key(source, segment.SourcePort, segment.DestinationPort);
        if (_connections.TryGetValue(key, out var connection))
        {
            // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN above the old sequence space may reopen a TIME-WAIT pair.
            if (connection.State == TcpState.TimeWait && segment.Flags == TcpFlags.Syn && connection.AcceptsNewIncarnation(segment)
                && _listeners.ContainsKey(segment.DestinationPort))
            {
                RemoveLocked(connection);
                Counters.TimeWaitRecycled++;
            }
            else
            {
                connection.HandleLocked(ref segment);
                return;
            }
        }
        if (_listeners.TryGetValue(segment.DestinationPort, out var listener)
            && (listener.LocalEndPoint.Address.Equals(IPAddress.Any) || IPv4Address.Read(listener.AddressBytes) == destination))
        {
            HandleListenLocked(listener, source, ref segment);
            return;
        }
        Counters.DropsNoListener++;
        SendResetForLocked(source, ref segment);
    }

    /// <summary>RFC 9293 §3.10.7.2 (LISTEN).</summary>
    private void HandleListenLocked(TcpListener listener, uint source, ref TcpRepr segment)
    {
        if (segment.Has(TcpFlags.Rst))
        {
            return;
        }
        if (segment.Has(TcpFlags.Ack))
        {
            if (!segment.Has(TcpFlags.Syn) && Settings.SynCookies && TryCookieLocked(listener, source, ref segment))
            {
                return;
            }
            SendResetForLocked(source, ref segment);
            return;
        }
        if (!segment.Has(TcpFlags.Syn))
        {
            return;
        }
        if (listener.AcceptQueueFull)
        {
            Counters.DropsBacklogFull++;
            return;
        }
        if (listener.HalfOpen >= Math.Min(Settings.MaxHalfOpen, listener.Backlog * 2) || _connections.Count >= Settings.MaxConnections)
        {
            if (_connections.Count >= Settings.MaxConnections && !RecycleTimeWaitLocked() && !Settings.SynCookies)
            {
                Counters.DropsConnectionLimit++;
                return;
            }
            if (Settings.SynCookies)
            {
                SendCookieLocked(source, ref segment);
            }
            else
            {
                Counters.DropsBacklogFull++;
            }
            return;
        }
        var connection = new TcpConnection(this, source, segment.SourcePort, segment.DestinationPort,
            NewIsn(source, segment.SourcePort, segment.DestinationPort), noDelay: Settings.NoDelay ?? true)
        {
            Listener = listener,
        };
        _connections.Add(connection.Key, connection);
        listener.HalfOpen++;
        connection.OpenPassiveLocked(ref segment);
    }

    /// <summary>
    /// RFC 4987 §3.6 SYN cookie: ISS = t (5 bits, 64 s units) | keyed hash of the 4-tuple, t and the peer's ISN (24 bits) |
    /// MSS index (3 bits). A cookie connection keeps only the MSS (no window scaling, SACK or timestamps).
    /// </summary>
    private void SendCookieLocked(uint source, ref TcpRepr syn)
    {
        var t = (uint)(Now / CookiePeriod);
        var mss = syn.MaxSegmentSize == 0 ? (ushort)536 : Math.Min(syn.MaxSegmentSize, (ushort)Math.Max(536, _host.Mtu - 40));
        var index = 0;
        for (var i = CookieMss.Length - 1; i >= 0; i--)
        {
            if (CookieMss[i] <= mss)
            {
                index = i;
                break;
            }
        }
        var iss = CookieIsn(source, syn.SourcePort, syn.DestinationPort, syn.SequenceNumber, t, index);
        var reply = new TcpRepr(syn.DestinationPort, syn.SourcePort, iss, syn.SequenceNumber + 1, TcpFlags.Syn | TcpFlags.Ack, 65535)
        {
            MaxSegmentSize = (ushort)Math.Max(536, _host.Mtu - 40),
        };
        SendLocked(source, ref reply);
        Counters.SynCookiesSent++;
    }

    private uint CookieIsn(uint remote, ushort remotePort, ushort localPort, uint peerIsn, uint t, int mssIndex)
    {
        var hash = SipHash.Hash(_cookieKey0, _cookieKey1, (ulong)remote << 32 | (ulong)remotePort << 16 | localPort, (ulong)peerIsn << 32 | t);
        return (t & 0x1F) << 27 | ((uint)hash & 0x07FF_FFF8) | (uint)mssIndex;
    }

    private bool TryCookieLocked(TcpListener listener, uint source, ref TcpRepr segment)
    {
        var iss = segment.AcknowledgmentNumber - 1;
        var peerIsn = segment.SequenceNumber - 1;
        var now = (uint)(Now / CookiePeriod);
        for (uint age = 0; age < 2; age++)
        {
            var t = now - age;
            if ((t & 0x1F) != iss >> 27)
            {
                continue;
            }
            var index = (int)(iss & 7);
            if (CookieIsn(source, segment.SourcePort, segment.DestinationPort, peerIsn, t, index) != iss)
            {
                continue;
            }
            if (listener.AcceptQueueFull || (_connections.Count >= Settings.MaxConnections && !RecycleTimeWaitLocked()))
            {
                Counters.DropsBacklogFull++;
                return true;
            }
            var connection = new TcpConnection(this, source, segment.SourcePort, segment.DestinationPort, iss, noDelay: Settings.NoDelay ?? true) { Listener = listener };
            _connections.Add(connection.Key, connection);
            Counters.SynCookiesAccepted++;
            connection.OpenFromCookieLocked(peerIsn, CookieMss[index], ref segment);
            return true;
        }
        return false;
    }

    /// <summary>RFC 9293 §3.10.7.1: the reset for a segment that belongs to no connection (never for a reset).</summary>
    internal void SendResetForLocked(uint destination, ref TcpRepr segment)
    {
        if (segment.Has(TcpFlags.Rst))
        {
            return;
        }
        var reply = segment.Has(TcpFlags.Ack)
            ? new TcpRepr(segment.DestinationPort, segment.SourcePort, segment.AcknowledgmentNumber, 0, TcpFlags.Rst, 0)
            : new TcpRepr(segment.DestinationPort, segment.SourcePort, 0, segment.SequenceNumber + (uint)segment.SegmentLength, TcpFlags.Rst | TcpFlags.Ack, 0);
        SendLocked(destination, ref reply);
        Counters.RstsSent++;
    }

    /// <summary>
    /// Writes and sends a segment (its payload may already sit in <see cref="Scratch"/> after the header); with a
    /// <paramref name="segmentSize"/> (at most <see cref="ITcpHost.SegmentOffload"/> bytes of payload) the link cuts it
    /// into segments of that many payload bytes.
    /// </summary>
    internal bool SendLocked(uint destination, ref TcpRepr segment, int segmentSize = 0)
    {
        segment.PartialChecksum = segmentSize != 0;
        if (!segment.TryWrite(_scratch, _host.LocalAddress, destination, out var written))
        {
            return false;
        }
        Counters.SegmentsSent++;
        if (segmentSize != 0)
        {
            Counters.OffloadedSegmentsSent++;
            Counters.OffloadedBytesSent += segment.Payload.Length;
        }
        if (segmentSize != 0 ? _host.SendSegmentedTcp(destination, _scratch.AsSpan(0, written), segmentSize) : _host.SendTcp(destination, _scratch.AsSpan(0, written)))
        {
            return true;
        }
        Counters.SendFailures++; // refused below (too long for the MTU, no route, ARP queue full)
        return false;
    }

    /// <summary>RFC 5961 §7: a global budget of challenge ACKs per second.</summary>
    internal bool TakeChallengeToken()
    {
        var now = Now;
        if (now - _challengeRefilledAt >= Second)
        {
            _challengeTokens = Settings.ChallengeAcksPerSecond;
            _challengeRefilledAt = now;
        }
        if (_challengeTokens <= 0)
        {
            Counters.ChallengeAcksRateLimited++;
            return false;
        }
        _challengeTokens--;
        Counters.ChallengeAcks++;
        return true;
    }

    /// <summary>RFC 6528: ISN = M + F(4-tuple, secret), M a 4 µs clock.</summary>
    private uint NewIsn(uint remote, ushort remotePort, ushort localPort) =>
        (uint)(Now / 4000) + (uint)SipHash.Hash(_isnKey0, _isnKey1, (ulong)_host.LocalAddress << 32 | remote, (ulong)localPort << 16 | remotePort);

    // ---- connection table ----

    internal void RemoveLocked(TcpConnection connection)
    {
        if (_connections.TryGetValue(connection.Key, out var present) && present == connection)
        {
            _connections.Remove(connection.Key);
        }
        if (connection.TimeWaitNode is { } node)
        {
            _timeWait.Remove(node);
            connection.TimeWaitNode = null;
        }
    }

    internal void EnterTimeWaitLocked(TcpConnection connection)
    {
        if (connection.TimeWaitNode is null)
        {
            connection.TimeWaitNode = _timeWait.AddLast(connection);
        }
        while (_timeWait.Count > Settings.MaxTimeWait && _timeWait.First is { } oldest)
        {
            RemoveLocked(oldest.Value);
            Counters.TimeWaitRecycled++;
        }
    }

    /// <summary>Frees the oldest TIME-WAIT entry to make room; false when there is none.</summary>
    private bool RecycleTimeWaitLocked()
    {
        if (_timeWait.First is not { } oldest)
        {
            return false;
        }
        RemoveLocked(oldest.Value);
        Counters.TimeWaitRecycled++;
        return true;
    }

    internal void RemoveListenerLocked(TcpListener listener)
    {
        if (_listeners.TryGetValue(listener.Port, out var present) && present == listener)
        {
            _listeners.Remove(listener.Port);
        }
        _due.Clear();
        foreach (var connection in _connections.Values)
        {
            if (connection.Listener == listener && !connection.Accepted)
            {
                _due.Add(connection);
            }
        }
        foreach (var connection in _due)
        {
            connection.AbortLocked(sendReset: true, SocketError.ConnectionAborted);
        }
        _due.Clear();
    }

    // ---- timers ----

    /// <summary>
    /// Asks for <paramref name="connection"/>'s timers to run at <paramref name="deadline"/> (its earliest). The timer
    /// queue is a min-heap of (connection, deadline) with lazy deletion: a connection is queued again only when its
    /// deadline moves earlier than the entry it has (<see cref="TcpConnection.QueuedDeadline"/>); an entry that is no
    /// longer the connection's is skipped when it comes up, and one whose connection's timers moved later is queued
    /// again at the later time. So a poll costs O(log n) per timer that is due, not a scan of every connection: 1,000
    /// idle or CLOSE-WAIT connections with no timer cost nothing.
    /// </summary>
    internal void ScheduleLocked(TcpConnection connection, long deadline)
    {
        if (deadline == long.MaxValue || deadline >= connection.QueuedDeadline)
        {
            return;
        }
        connection.QueuedDeadline = deadline;
        _timers.Enqueue(connection, deadline);
        if (_timers.Count > 2 * _connections.Count + 64)
        {
            CompactTimersLocked();
        }
        if (deadline < _nextDeadline)
        {
            _nextDeadline = deadline;
            _host.WakeTimer(deadline);
        }
    }

    /// <summary>Drops the stale entries: one entry per live connection with a timer (bounds the heap at about twice the table).</summary>
    private void CompactTimersLocked()
    {
        _timers.Clear();
        foreach (var connection in _connections.Values)
        {
            var deadline = connection.NextDeadline;
            connection.QueuedDeadline = deadline;
            if (deadline != long.MaxValue)
            {
                _timers.Enqueue(connection, deadline);
            }
        }
        _nextDeadline = _timers.TryPeek(out _, out var next) ? next : long.MaxValue;
    }

    /// <summary>Entries in the timer queue (tests: stale entries stay bounded).</summary>
    internal int TimerQueueLength => _timers.Count;

    /// <summary>Timer-queue entries polls have taken out so far (tests: a poll's work follows the timers due, not the connections).</summary>
    internal long TimerEntriesVisited { get; private set; }

    /// <summary>Runs every connection timer that is due; returns the next deadline.</summary>
    public long Poll(long now)
    {
        if (now < _nextDeadline)
        {
            return _nextDeadline;
        }
        _due.Clear();
        while (_timers.TryPeek(out var connection, out var deadline) && deadline <= now)
        {
            _timers.Dequeue();
            TimerEntriesVisited++;
            if (deadline != connection.QueuedDeadline)
            {
                continue; // stale: the connection has an earlier entry (already run) or none
            }
            connection.QueuedDeadline = long.MaxValue;
            var actual = connection.NextDeadline;
            if (actual <= now)
            {
                _due.Add(connection);
            }
            else if (actual != long.MaxValue)
            {
                // Its timers moved later since it was queued (a re-armed retransmission timer): queue it there.
                connection.QueuedDeadline = actual;
                _timers.Enqueue(connection, actual);
            }
        }
        _nextDeadline = _timers.TryPeek(out _, out var next) ? next : long.MaxValue;
        foreach (var connection in _due)
        {
            if (connection.IsAlive)
            {
                connection.OnTimerLocked(now);
            }
        }
        _due.Clear();
        // Connections re-arm through ScheduleLocked while their timers run, which lowers _nextDeadline as needed.
        return _nextDeadline;
    }

    /// <summary>Resets every connection and closes every listener (the stack is going away).</summary>
    public void CloseAll()
    {
        lock (_host.Gate)
        {
            foreach (var listener in new List<TcpListener>(_listeners.Values))
            {
                listener.CloseLocked();
            }
            foreach (var connection in new List<TcpConnection>(_connections.Values))
            {
                connection.AbortLocked(sendReset: connection.State != TcpState.TimeWait, SocketError.OperationAborted);
            }
            _host.Flush();
        }
    }
}

/// <summary>A listening port: an accept queue (bounded by the backlog) of connections that finished the handshake.</summary>
internal sealed class TcpListener : ITcpListener
{
    private readonly TcpEngine _engine;
    private readonly Queue<TcpConnection> _ready = new();
    private readonly byte[] _address = new byte[4];
    private TaskCompletionSource? _signal;
    private bool _closed;

    public TcpListener(TcpEngine engine, IPEndPoint localEndPoint, ushort port, int backlog)
    {
        _engine = engine;
        LocalEndPoint = localEndPoint;
        Port = port;
        Backlog = backlog;
        localEndPoint.Address.TryWriteBytes(_address, out _);
    }

    public IPEndPoint LocalEndPoint { get; }

    public ushort Port { get; }

    public int Backlog { get; }

    public int HalfOpen { get; set; }

    public ReadOnlySpan<byte> AddressBytes => _address;

    public bool AcceptQueueFull => _ready.Count >= Backlog;

    public void EnqueueLocked(TcpConnection connection)
    {
        _ready.Enqueue(connection);
        _engine.Counters.ConnectionsAccepted++;
        _signal?.TrySetResult();
        _signal = null;
    }

    /// <summary>Takes the next established connection, if any.</summary>
    internal bool TryAcceptLocked(out TcpConnection connection)
    {
        while (_ready.TryDequeue(out connection!))
        {
            if (connection.IsAlive)
            {
                connection.Accepted = true;
                return true;
            }
        }
        return false;
    }

    public async ValueTask<ITcpConnection> AcceptAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_engine.Host.Gate)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (TryAcceptLocked(out var connection))
                {
                    return connection;
                }
                if (_closed)
                {
                    throw new OperationCanceledException("the listener was closed", cancellationToken);
                }
                _signal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _signal.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void CloseLocked()
    {
        if (_closed)
        {
            return;
        }
        _closed = true;
        _engine.RemoveListenerLocked(this);
        while (_ready.TryDequeue(out var connection))
        {
            connection.AbortLocked(sendReset: true, SocketError.ConnectionAborted);
        }
        _signal?.TrySetResult();
        _signal = null;
    }

    public void Dispose()
    {
        lock (_engine.Host.Gate)
        {
            CloseLocked();
            _engine.Host.Flush();
        }
    }
}

/// <summary>SipHash-2-4 (Aumasson and Bernstein) of two 64-bit words: the keyed function for ISNs and SYN cookies.</summary>
internal static class SipHash
{
    public static ulong Hash(ulong k0, ulong k1, ulong m0, ulong m1)
    {
        var v0 = 0x736f6d6570736575UL ^ k0;
        var v1 = 0x646f72616e646f6dUL ^ k1;
        var v2 = 0x6c7967656e657261UL ^ k0;
        var v3 = 0x7465646279746573UL ^ k1;
        Compress(ref v0, ref v1, ref v2, ref v3, m0);
        Compress(ref v0, ref v1, ref v2, ref v3, m1);
        Compress(ref v0, ref v1, ref v2, ref v3, 16UL << 56);
        v2 ^= 0xff;
        for (var i = 0; i < 4; i++)
        {
            Round(ref v0, ref v1, ref v2, ref v3);
        }
        return v0 ^ v1 ^ v2 ^ v3;
    }

    private static void Compress(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3, ulong m)
    {
        v3 ^= m;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        v0 ^= m;
    }

    private static void Round(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3)
    {
        v0 += v1; v1 = ulong.RotateLeft(v1, 13); v1 ^= v0; v0 = ulong.RotateLeft(v0, 32);
        v2 += v3; v3 = ulong.RotateLeft(v3, 16); v3 ^= v2;
        v0 += v3; v3 = ulong.RotateLeft(v3, 21); v3 ^= v0;
        v2 += v1; v1 = ulong.RotateLeft(v1, 17); v1 ^= v2; v2 = ulong.RotateLeft(v2, 32);
    }
}
