using System;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.Net;

/// <summary>
/// Our own network stack over a raw Ethernet interface: Ethernet → ARP + IPv4 (fragmentation, reassembly) → ICMP + UDP,
/// with a DHCP client when no static address is given. One lock guards all protocol state; a dedicated thread receives
/// frames, a timer loop drives retransmissions and timeouts, and sockets send from the caller's thread. Frames are built
/// in place in pinned batches: the receive and send paths do not allocate per frame.
/// </summary>
public sealed class DirectStack : INetworkStack, IStartable, IDisposable, IDhcpHost
{
    /// <summary>How long <see cref="StartAsync"/> waits for a DHCP lease.</summary>
    public static readonly TimeSpan DhcpTimeout = TimeSpan.FromSeconds(30);

    private const long Second = 1_000_000_000L;
    private const int TxBatchCapacity = 64;
    private const int RxBatchCapacity = 32;
    private const byte DefaultTtl = 64;
    private const int MinimumFrame = 60;
    private const int UnreachableBurst = 10;
    private const long UnreachableInterval = Second / 10;

    private readonly INetworkInterface _network;
    private readonly IMonotonicClock _clock;
    private readonly ITime _time;
    private readonly IRandom _random;
    private readonly MacAddress _mac;
    private readonly int _mtu;
    private readonly Lock _gate = new();
    private readonly DatagramBatch _rx;
    private readonly DatagramBatch _tx;
    private readonly byte[] _scratch = GC.AllocateArray<byte>(IPv4Packet.MaxLength, pinned: true);
    private readonly ArpCache _arp;
    private readonly Reassembler _reassembly;
    private readonly DhcpClient? _dhcp;
    private readonly DirectUdp _udp;
    private readonly NotSupportedTcp _tcp = new();
    private readonly uint _staticGateway;
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<uint> _echoReplies = [];
    private TaskCompletionSource _leaseReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _timerWake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _timerScheduledAt = long.MaxValue;
    private Thread? _receiver;
    private Task? _timer;
    private bool _configured;
    private uint _address;
    private uint _mask;
    private uint _gateway;
    private ushort _nextIdentification;
    private long _unreachableTokens = UnreachableBurst;
    private long _unreachableRefilledAt;
    private bool _disposed;

    public DirectStack(INetworkInterface network, IMonotonicClock clock, ITime time, IRandom random, string ipv4, string ipv4Gateway)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(ipv4);
        ArgumentNullException.ThrowIfNull(ipv4Gateway);
        _network = network;
        _clock = clock;
        _time = time;
        _random = random;
        if (network.MacAddress.Length != MacAddress.Length)
        {
            throw new ArgumentException($"the network interface's MAC address has {network.MacAddress.Length} bytes, not 6", nameof(network));
        }
        _mac = MacAddress.Read(network.MacAddress);
        _mtu = network.Mtu;
        if (_mtu < 68 || _mtu > 65535)
        {
            throw new ArgumentException($"the network interface's MTU {_mtu} is outside 68..65535 (RFC 791)", nameof(network));
        }
        if (ipv4Gateway.Length > 0)
        {
            _staticGateway = ParseOption(ipv4Gateway, "ipv4Gateway", static text => IPv4Address.Parse(text));
        }
        if (ipv4.Length > 0)
        {
            if (!ipv4.Contains('/', StringComparison.Ordinal))
            {
                throw new ArgumentException($"direct stack option ipv4 = '{ipv4}': give ADDR/PREFIX (e.g. 10.0.0.2/24), or nothing to use DHCP", nameof(ipv4));
            }
            var (address, prefix) = ParseOption(ipv4, "ipv4", IPv4Address.ParseCidr);
            _address = address;
            _mask = IPv4Address.MaskFromPrefix(prefix);
            if (_staticGateway != 0 && ((_staticGateway ^ _address) & _mask) != 0)
            {
                throw new ArgumentException($"direct stack option ipv4Gateway = '{ipv4Gateway}' is not on the link {ipv4}", nameof(ipv4Gateway));
            }
            _gateway = _staticGateway;
            _configured = true;
        }
        else
        {
            _dhcp = new DhcpClient(this, NewTransactionId);
        }
        var frameSize = EthernetFrame.HeaderLength + _mtu;
        _rx = new DatagramBatch(RxBatchCapacity, EthernetFrame.HeaderLength + Math.Max(_mtu, 1500) + 18);
        _tx = new DatagramBatch(TxBatchCapacity, Math.Max(frameSize, MinimumFrame));
        _arp = new ArpCache(capacity: 64, pendingCapacity: 64, frameSize: Math.Max(frameSize, MinimumFrame));
        _reassembly = new Reassembler(slots: 8);
        Span<byte> seed = stackalloc byte[4];
        random.Fill(seed);
        _nextIdentification = (ushort)(seed[0] << 8 | seed[1]);
        _udp = new DirectUdp(this, seed[2] << 8 | seed[3]);
    }

    public IUdp Udp => _udp;

    public ITcp Tcp => _tcp;

    public MacAddress MacAddress => _mac;

    /// <summary>Our address (0 until configured).</summary>
    public uint Address
    {
        get
        {
            lock (_gate)
            {
                return _address;
            }
        }
    }

    public DirectStackCounters Counters { get; } = new();

    internal Lock Gate => _gate;

    internal ArpCache Arp => _arp;

    internal Reassembler Reassembly => _reassembly;

    internal DhcpClient? Dhcp => _dhcp;

    internal long Now => _clock.ElapsedNanoseconds;

    /// <summary>Starts receiving, announces the address (gratuitous ARP) and, without a static address, waits for a DHCP lease.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_receiver is not null)
        {
            throw new InvalidOperationException("the direct stack is already started");
        }
        _receiver = new Thread(ReceiveLoop) { IsBackground = true, Name = "direct-stack-rx" };
        _receiver.Start();
        _timer = Task.Run(() => TimerLoopAsync(_stop.Token), CancellationToken.None);
        if (_dhcp is null)
        {
            lock (_gate)
            {
                SendGratuitousArpLocked();
                FlushLocked();
            }
            return;
        }
        Task lease;
        lock (_gate)
        {
            _dhcp.Start(Now);
            lease = _leaseReady.Task;
            WakeTimerLocked(_dhcp.NextDeadline);
            FlushLocked();
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        var expired = _time.SleepAsync(DhcpTimeout, timeout.Token);
        var first = await Task.WhenAny(lease, expired).ConfigureAwait(false);
        await timeout.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (first != lease)
        {
            throw new TimeoutException(
                $"DHCP: no lease within {DhcpTimeout.TotalSeconds:0} s on the interface with MAC {_mac} (state {_dhcp.State}); " +
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
        _stop.Cancel();
        _receiver?.Join(TimeSpan.FromSeconds(5));
        try
        {
            _timer?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        _udp.CloseAll();
        _stop.Dispose();
    }

    /// <summary>Runs the timers now (ARP retries, reassembly timeouts, DHCP); tests call it after moving a virtual clock.</summary>
    internal long Poll()
    {
        lock (_gate)
        {
            var now = Now;
            while (true)
            {
                var retry = _arp.Poll(now, out var failed);
                if (failed != 0)
                {
                    Counters.ArpFailures++;
                    Counters.ArpQueueDrops += _arp.DropQueued(failed);
                    continue;
                }
                if (retry == 0)
                {
                    break;
                }
                SendArpLocked(ArpOperation.Request, MacAddress.Broadcast, retry, default);
            }
            while (_reassembly.TryExpire(now, out var header, out var firstBytes))
            {
                Counters.ReassemblyTimeouts++;
                // RFC 1122 §3.3.2: time exceeded (fragment reassembly) when the first fragment had arrived.
                if (header.Length >= IPv4Packet.MinHeaderLength && _configured && IPv4Address.Read(header[16..]) == _address)
                {
                    SendIcmpErrorLocked(IPv4Address.Read(header[12..]), IcmpType.TimeExceeded, IcmpTimeExceededCode.Reassembly, header, firstBytes);
                }
            }
            _dhcp?.Poll(now);
            FlushLocked();
            return NextDeadlineLocked();
        }
    }

    /// <summary>Handles one received frame as the receive thread would (tests and benchmarks feed frames directly).</summary>
    internal void ProcessFrame(ReadOnlySpan<byte> frame)
    {
        lock (_gate)
        {
            HandleFrameLocked(frame);
            FlushLocked();
        }
    }

    /// <summary>Sends an ICMP echo request with <paramref name="dataLength"/> bytes of data.</summary>
    internal void SendEchoRequest(uint destination, ushort identifier, ushort sequence, int dataLength)
    {
        lock (_gate)
        {
            var data = _scratch.AsSpan(IcmpPacket.HeaderLength, dataLength);
            for (var i = 0; i < data.Length; i++)
            {
                data[i] = (byte)i;
            }
            IcmpRepr.Echo(true, identifier, sequence, data).TryWrite(_scratch, out var written);
            SendIPv4Locked(destination, IPProtocol.Icmp, _scratch.AsSpan(0, written));
            FlushLocked();
        }
    }

    /// <summary>Waits (real time, bounded) for the echo reply with this identifier and sequence number.</summary>
    internal bool WaitForEchoReply(ushort identifier, ushort sequence, TimeSpan timeout)
    {
        var key = ((uint)identifier << 16) | sequence;
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_echoReplies)
        {
            while (!_echoReplies.Contains(key))
            {
                var left = deadline - Environment.TickCount64;
                if (left <= 0)
                {
                    return false;
                }
                Monitor.Wait(_echoReplies, (int)Math.Min(left, 100));
            }
            return true;
        }
    }

    // ---- receive path ----

    private void ReceiveLoop()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            int count;
            try
            {
                count = _network.Receive(_rx, token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                // A failing device (an I/O error on the tap) must not take the process down: count it, back off, retry.
                Counters.Errors++;
                Counters.LastError = exception;
                token.WaitHandle.WaitOne(100);
                continue;
            }
            if (count == 0)
            {
                if (!token.IsCancellationRequested)
                {
                    Thread.Sleep(1);
                }
                continue;
            }
            lock (_gate)
            {
                for (var i = 0; i < count; i++)
                {
                    try
                    {
                        HandleFrameLocked(_rx.Datagram(i));
                    }
                    catch (Exception exception) when (exception is not OutOfMemoryException)
                    {
                        Counters.Errors++;
                        Counters.LastError = exception;
                    }
                }
                FlushLocked();
            }
        }
    }

    private void HandleFrameLocked(ReadOnlySpan<byte> bytes)
    {
        Counters.FramesReceived++;
        if (!EthernetFrame.TryCreate(bytes, out var frame))
        {
            Counters.Malformed++;
            return;
        }
        var destination = frame.Destination;
        if (destination != _mac && !destination.IsBroadcast)
        {
            Counters.NotForUs++;
            return;
        }
        switch (frame.EtherType)
        {
            case EtherType.Arp:
                HandleArpLocked(frame.Payload);
                break;
            case EtherType.IPv4:
                HandleIPv4Locked(frame.Payload);
                break;
            default:
                Counters.UnknownProtocol++;
                break;
        }
    }

    private void HandleArpLocked(ReadOnlySpan<byte> bytes)
    {
        if (!ArpRepr.TryParse(bytes, out var arp))
        {
            Counters.Malformed++;
            return;
        }
        if (!_configured)
        {
            return;
        }
        if (arp.SenderProtocolAddress == 0)
        {
            // An ARP probe (RFC 5227) for our address: answer so the prober sees the address is taken.
            if (arp.Operation == ArpOperation.Request && arp.TargetProtocolAddress == _address)
            {
                SendArpLocked(ArpOperation.Reply, arp.SenderHardwareAddress, 0, arp.SenderHardwareAddress);
                Counters.ArpRepliesSent++;
            }
            return;
        }
        var now = Now;
        var forUs = arp.TargetProtocolAddress == _address && arp.SenderProtocolAddress != _address;
        // RFC 826: merge into an existing entry; add one only when the packet is for us.
        var known = _arp.Update(arp.SenderProtocolAddress, arp.SenderHardwareAddress, now, create: forUs);
        if (known)
        {
            while (_arp.TryDequeue(arp.SenderProtocolAddress, out var queued))
            {
                arp.SenderHardwareAddress.Write(queued);
                var slot = NextTxSlotLocked();
                queued.CopyTo(slot);
                CommitTxLocked(queued.Length);
            }
        }
        if (forUs && arp.Operation == ArpOperation.Request)
        {
            SendArpLocked(ArpOperation.Reply, arp.SenderHardwareAddress, arp.SenderProtocolAddress, arp.SenderHardwareAddress);
            Counters.ArpRepliesSent++;
        }
    }

    private void HandleIPv4Locked(ReadOnlySpan<byte> bytes)
    {
        if (!IPv4Packet.TryCreate(bytes, out var packet))
        {
            Counters.Malformed++;
            return;
        }
        if (!packet.IsChecksumValid)
        {
            Counters.BadChecksum++;
            return;
        }
        var destination = packet.Destination;
        var broadcast = IsBroadcastLocked(destination);
        var unicast = _configured && destination == _address;
        if (!unicast && !broadcast && (_configured || packet.Protocol != IPProtocol.Udp))
        {
            Counters.NotForUs++;
            return;
        }
        Counters.PacketsReceived++;
        if (!packet.IsFragment)
        {
            HandleTransportLocked(packet.Source, destination, packet.Protocol, unicast, packet.Header, packet.Payload);
            return;
        }
        Counters.FragmentsReceived++;
        var overlaps = _reassembly.Overlaps;
        var dropped = _reassembly.Dropped;
        var timeouts = _reassembly.Timeouts;
        var complete = _reassembly.Add(packet, Now, out var header, out var payload);
        Counters.ReassemblyOverlaps += _reassembly.Overlaps - overlaps;
        Counters.ReassemblyDrops += _reassembly.Dropped - dropped;
        Counters.ReassemblyTimeouts += _reassembly.Timeouts - timeouts;
        if (complete)
        {
            Counters.Reassembled++;
            HandleTransportLocked(packet.Source, destination, packet.Protocol, unicast, header, payload);
        }
        else
        {
            WakeTimerLocked(_reassembly.NextDeadline);
        }
    }

    private void HandleTransportLocked(uint source, uint destination, byte protocol, bool unicast, ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
    {
        switch (protocol)
        {
            case IPProtocol.Icmp:
                HandleIcmpLocked(source, unicast, payload);
                break;
            case IPProtocol.Udp:
                HandleUdpLocked(source, destination, unicast, header, payload);
                break;
            default:
                Counters.UnknownProtocol++;
                if (unicast)
                {
                    SendUnreachableLocked(source, IcmpUnreachableCode.Protocol, header, payload);
                }
                break;
        }
    }

    private void HandleIcmpLocked(uint source, bool unicast, ReadOnlySpan<byte> bytes)
    {
        if (!IcmpPacket.TryCreate(bytes, out var packet))
        {
            Counters.Malformed++;
            return;
        }
        if (!IcmpRepr.TryParse(packet, out var icmp))
        {
            Counters.BadChecksum++;
            return;
        }
        switch (icmp.Type)
        {
            case IcmpType.EchoRequest when unicast:
                IcmpRepr.Echo(false, icmp.Identifier, icmp.SequenceNumber, icmp.Data).TryWrite(_scratch, out var written);
                SendIPv4Locked(source, IPProtocol.Icmp, _scratch.AsSpan(0, written));
                Counters.EchoRepliesSent++;
                break;
            case IcmpType.EchoReply:
                Counters.EchoRepliesReceived++;
                lock (_echoReplies)
                {
                    if (_echoReplies.Count < 4096)
                    {
                        _echoReplies.Add(((uint)icmp.Identifier << 16) | icmp.SequenceNumber);
                    }
                    Monitor.PulseAll(_echoReplies);
                }
                break;
            case IcmpType.DestinationUnreachable:
                Counters.UnreachablesReceived++;
                break;
            case IcmpType.TimeExceeded:
                Counters.TimeExceededReceived++;
                break;
        }
    }

    private void HandleUdpLocked(uint source, uint destination, bool unicast, ReadOnlySpan<byte> header, ReadOnlySpan<byte> bytes)
    {
        if (!UdpPacket.TryCreate(bytes, out var packet))
        {
            Counters.Malformed++;
            return;
        }
        if (!UdpRepr.TryParse(packet, source, destination, out var udp))
        {
            Counters.BadChecksum++;
            return;
        }
        if (_dhcp is not null && udp.DestinationPort == DhcpPacket.ClientPort)
        {
            if (DhcpRepr.TryParse(udp.Payload, out var message))
            {
                _dhcp.Handle(message, Now);
                WakeTimerLocked(_dhcp.NextDeadline);
            }
            return;
        }
        if (!_configured)
        {
            return;
        }
        if (_udp.TryDeliverLocked(udp.DestinationPort, source, udp.SourcePort, udp.Payload))
        {
            Counters.UdpDelivered++;
            return;
        }
        Counters.UdpNoPort++;
        if (unicast)
        {
            SendUnreachableLocked(source, IcmpUnreachableCode.Port, header, bytes);
        }
    }

    private void SendUnreachableLocked(uint destination, byte code, ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload) =>
        SendIcmpErrorLocked(destination, IcmpType.DestinationUnreachable, code, header, payload);

    /// <summary>An ICMP error quoting the header and first 8 bytes of the datagram (RFC 792), rate-limited.</summary>
    private void SendIcmpErrorLocked(uint destination, byte type, byte code, ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
    {
        if (destination == 0 || IsBroadcastLocked(destination) || IPv4Address.IsMulticast(destination))
        {
            return;
        }
        var now = Now;
        var refill = (now - _unreachableRefilledAt) / UnreachableInterval;
        if (refill > 0)
        {
            _unreachableTokens = Math.Min(UnreachableBurst, _unreachableTokens + refill);
            _unreachableRefilledAt = now;
        }
        if (_unreachableTokens == 0)
        {
            Counters.UnreachablesRateLimited++;
            return;
        }
        _unreachableTokens--;
        var quoted = _scratch.AsSpan(IcmpPacket.HeaderLength, header.Length + Math.Min(8, payload.Length));
        header.CopyTo(quoted);
        payload[..Math.Min(8, payload.Length)].CopyTo(quoted[header.Length..]);
        new IcmpRepr(type, code, 0, 0, quoted).TryWrite(_scratch, out var written);
        SendIPv4Locked(destination, IPProtocol.Icmp, _scratch.AsSpan(0, written));
        if (type == IcmpType.DestinationUnreachable)
        {
            Counters.UnreachablesSent++;
        }
        else
        {
            Counters.TimeExceededSent++;
        }
    }

    // ---- send path ----

    /// <summary>Sends UDP datagrams from a socket's port; returns how many were accepted (sent or queued for ARP).</summary>
    internal int SendUdp(ushort sourcePort, DatagramBatch batch)
    {
        var sent = 0;
        lock (_gate)
        {
            for (var i = 0; i < batch.Count; i++)
            {
                ref readonly var peer = ref batch.Peer(i);
                var payload = batch.Datagram(i);
                if (!peer.IsIPv4 || payload.Length > IPv4Packet.MaxLength - IPv4Repr.HeaderLength - UdpPacket.HeaderLength)
                {
                    Counters.SendErrors++;
                    continue;
                }
                var destination = peer.IPv4Address;
                if (!new UdpRepr(sourcePort, peer.Port, payload).TryWrite(_scratch, _address, destination, out var written)
                    || !SendIPv4Locked(destination, IPProtocol.Udp, _scratch.AsSpan(0, written)))
                {
                    Counters.SendErrors++;
                    continue;
                }
                sent++;
            }
            FlushLocked();
        }
        return sent;
    }

    void IDhcpHost.SendDhcp(in DhcpRepr message, uint destination)
    {
        var body = _scratch.AsSpan(UdpPacket.HeaderLength);
        message.TryWrite(body, out var length);
        var source = _configured ? _address : 0;
        new UdpRepr(DhcpPacket.ClientPort, DhcpPacket.ServerPort, body[..length]).TryWrite(_scratch, source, destination, out var written);
        SendIPv4Locked(destination, IPProtocol.Udp, _scratch.AsSpan(0, written));
        Counters.DhcpMessagesSent++;
    }

    void IDhcpHost.OnLease(in DhcpLease lease)
    {
        var changed = !_configured || _address != lease.Address;
        _address = lease.Address;
        _mask = lease.SubnetMask != 0 ? lease.SubnetMask : DefaultMask(lease.Address);
        _gateway = _staticGateway != 0 ? _staticGateway : lease.Router;
        _configured = true;
        if (changed)
        {
            SendGratuitousArpLocked();
        }
        _leaseReady.TrySetResult();
    }

    void IDhcpHost.OnLeaseLost()
    {
        _configured = false;
        _address = 0;
        _mask = 0;
        _gateway = 0;
        _leaseReady = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// Routes and sends one IP datagram, fragmenting it above the MTU. Frames wait in the ARP queue while the next hop
    /// resolves. False when there is no route or the queue is full.
    /// </summary>
    private bool SendIPv4Locked(uint destination, byte protocol, ReadOnlySpan<byte> payload)
    {
        if (payload.Length > IPv4Packet.MaxLength - IPv4Repr.HeaderLength)
        {
            return false;
        }
        var now = Now;
        MacAddress mac;
        uint nextHop = 0;
        var resolved = true;
        if (IsBroadcastLocked(destination))
        {
            mac = MacAddress.Broadcast;
        }
        else if (IPv4Address.IsMulticast(destination))
        {
            mac = new MacAddress(0x01005E000000UL | (destination & 0x7FFFFF));
        }
        else
        {
            if (!_configured)
            {
                Counters.NoRoute++;
                return false;
            }
            nextHop = ((destination ^ _address) & _mask) == 0 ? destination : _gateway;
            if (nextHop == 0)
            {
                Counters.NoRoute++;
                return false;
            }
            resolved = _arp.TryGet(nextHop, now, out mac);
            if (!resolved && _arp.BeginResolve(nextHop, now))
            {
                SendArpLocked(ArpOperation.Request, MacAddress.Broadcast, nextHop, default);
                WakeTimerLocked(_arp.NextDeadline);
            }
        }
        var source = _configured ? _address : 0;
        var identification = _nextIdentification++;
        var maxFragmentData = (_mtu - IPv4Repr.HeaderLength) & ~7;
        var offset = 0;
        var ok = true;
        do
        {
            var left = payload.Length - offset;
            var more = left + IPv4Repr.HeaderLength > _mtu;
            var chunk = more ? maxFragmentData : left;
            var frame = NextTxSlotLocked();
            new EthernetRepr(mac, _mac, EtherType.IPv4).TryWrite(frame, out var ethernetLength);
            var ip = frame[ethernetLength..];
            new IPv4Repr(source, destination, protocol, chunk, DefaultTtl, identification, false, more, offset).TryWrite(ip, out var ipLength);
            payload.Slice(offset, chunk).CopyTo(ip[ipLength..]);
            var length = ethernetLength + ipLength + chunk;
            if (length < MinimumFrame)
            {
                frame[length..MinimumFrame].Clear();
                length = MinimumFrame;
            }
            if (offset != 0 || more)
            {
                Counters.FragmentsSent++;
            }
            if (resolved)
            {
                CommitTxLocked(length);
            }
            else if (!_arp.TryQueue(nextHop, frame[..length]))
            {
                Counters.ArpQueueDrops++;
                ok = false;
            }
            offset += chunk;
        }
        while (offset < payload.Length);
        Counters.PacketsSent++;
        return ok;
    }

    private void SendArpLocked(ArpOperation operation, MacAddress ethernetDestination, uint target, MacAddress targetMac)
    {
        var frame = NextTxSlotLocked();
        new EthernetRepr(ethernetDestination, _mac, EtherType.Arp).TryWrite(frame, out var ethernetLength);
        new ArpRepr(operation, _mac, _address, targetMac, target).TryWrite(frame[ethernetLength..], out var arpLength);
        var length = ethernetLength + arpLength;
        frame[length..MinimumFrame].Clear();
        CommitTxLocked(MinimumFrame);
        if (operation == ArpOperation.Request)
        {
            Counters.ArpRequestsSent++;
        }
    }

    /// <summary>A gratuitous ARP request (sender and target both our address) announces us and refreshes neighbours.</summary>
    private void SendGratuitousArpLocked()
    {
        SendArpLocked(ArpOperation.Request, MacAddress.Broadcast, _address, default);
    }

    private Span<byte> NextTxSlotLocked()
    {
        if (_tx.Count == _tx.Capacity)
        {
            FlushLocked();
        }
        return _tx.Slot(_tx.Count);
    }

    private void CommitTxLocked(int length)
    {
        _tx.SetLength(_tx.Count, length);
        _tx.Count++;
    }

    private void FlushLocked()
    {
        var count = _tx.Count;
        if (count == 0)
        {
            return;
        }
        int sent;
        try
        {
            sent = _network.Send(_tx);
        }
        catch (ObjectDisposedException)
        {
            sent = 0;
        }
        Counters.FramesSent += sent;
        Counters.TransmitDrops += count - sent;
        _tx.Count = 0;
    }

    // ---- timers ----

    private async Task TimerLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var next = Poll();
                Task wake;
                long wait;
                lock (_gate)
                {
                    if (_timerWake.Task.IsCompleted)
                    {
                        _timerWake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }
                    next = Math.Min(next, NextDeadlineLocked());
                    _timerScheduledAt = next;
                    wake = _timerWake.Task;
                    wait = next == long.MaxValue ? -1 : Math.Max(0, next - Now);
                }
                if (wait < 0)
                {
                    await wake.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    // Sleep to the deadline (at least 1 ms, at most 1 s at a time), or less when an earlier one appears.
                    var duration = TimeSpan.FromTicks(Math.Clamp(wait / 100, TimeSpan.TicksPerMillisecond, TimeSpan.TicksPerSecond));
                    await Task.WhenAny(_time.SleepAsync(duration, cancellationToken), wake).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private long NextDeadlineLocked() =>
        Math.Min(_arp.NextDeadline, Math.Min(_reassembly.NextDeadline, _dhcp?.NextDeadline ?? long.MaxValue));

    private void WakeTimerLocked(long deadline)
    {
        if (deadline < _timerScheduledAt)
        {
            _timerScheduledAt = deadline;
            _timerWake.TrySetResult();
        }
    }

    /// <summary>The limited broadcast, or our subnet's directed broadcast (none on /31 and /32 links).</summary>
    private bool IsBroadcastLocked(uint address) =>
        address == IPv4Address.Broadcast || (_configured && (~_mask & 0xFFFF_FFFE) != 0 && address == (_address | ~_mask));

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

    private sealed class NotSupportedTcp : ITcp
    {
        private const string Message = "TCP is not implemented by the direct network stack yet (it comes in a later issue); use the socket stack for TCP";

        public ITcpListener Listen(IPEndPoint localEndPoint, int backlog = 128) => throw new NotSupportedException(Message);

        public ValueTask<ITcpConnection> ConnectAsync(IPEndPoint remoteEndPoint, CancellationToken cancellationToken) =>
            throw new NotSupportedException(Message);
    }
}

/// <summary>Counters of the direct stack (written under its lock; read them for diagnostics and tests).</summary>
public sealed class DirectStackCounters
{
    public long FramesReceived { get; internal set; }
    public long FramesSent { get; internal set; }
    public long TransmitDrops { get; internal set; }
    public long Malformed { get; internal set; }
    public long BadChecksum { get; internal set; }
    public long NotForUs { get; internal set; }
    public long UnknownProtocol { get; internal set; }
    public long PacketsReceived { get; internal set; }
    public long PacketsSent { get; internal set; }
    public long NoRoute { get; internal set; }
    public long SendErrors { get; internal set; }
    public long ArpRequestsSent { get; internal set; }
    public long ArpRepliesSent { get; internal set; }
    public long ArpFailures { get; internal set; }
    public long ArpQueueDrops { get; internal set; }
    public long FragmentsReceived { get; internal set; }
    public long FragmentsSent { get; internal set; }
    public long Reassembled { get; internal set; }
    public long ReassemblyTimeouts { get; internal set; }
    public long ReassemblyOverlaps { get; internal set; }
    public long ReassemblyDrops { get; internal set; }
    public long EchoRepliesSent { get; internal set; }
    public long EchoRepliesReceived { get; internal set; }
    public long UnreachablesSent { get; internal set; }
    public long UnreachablesRateLimited { get; internal set; }
    public long UnreachablesReceived { get; internal set; }
    public long TimeExceededSent { get; internal set; }
    public long TimeExceededReceived { get; internal set; }
    public long UdpDelivered { get; internal set; }
    public long UdpNoPort { get; internal set; }
    public long UdpQueueDrops { get; internal set; }
    public long DhcpMessagesSent { get; internal set; }
    public long Errors { get; internal set; }
    public Exception? LastError { get; internal set; }
}
