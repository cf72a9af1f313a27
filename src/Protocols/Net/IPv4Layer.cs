using System;
using System.Threading;

namespace Unikernel.Protocols.Net;

/// <summary>
/// The seam every transport of the direct stack (ICMP, UDP, and TCP) is built on: send an IPv4 payload to an address
/// (routing, ARP, MTU and fragmentation are below it), receive the datagrams of a protocol number by registering a
/// handler, and run timers. All of it under the stack's one lock (see <see cref="StackContext"/> for the discipline):
/// members named <c>…Locked</c> need it held, and handlers are called with it held.
/// </summary>
internal interface IIPv4
{
    /// <summary>The stack's lock. Prefer <see cref="Enter"/>, which also sends what was queued when it is released.</summary>
    Lock Gate { get; }

    /// <summary>Takes the lock; disposing the scope flushes the frames sent meanwhile, then releases the lock.</summary>
    IPv4Scope Enter();

    /// <summary>Monotonic nanoseconds.</summary>
    long Now { get; }

    DirectStackCounters Counters { get; }

    /// <summary>Our address (0 until configured), its mask, and whether we have one yet.</summary>
    IPv4Settings Settings { get; }

    /// <summary>The largest payload one unfragmented datagram carries (MTU − 20).</summary>
    int MaxUnfragmentedPayload { get; }

    /// <summary>
    /// A pinned buffer of <see cref="IPv4Packet.MaxLength"/> bytes for building a payload in place (under the lock; its
    /// contents are only good until the next send, and <see cref="SendLocked"/> may be given a slice of it).
    /// </summary>
    Span<byte> PayloadBufferLocked { get; }

    /// <summary>Delivers datagrams of <paramref name="protocol"/> addressed to us (or broadcast) to <paramref name="handler"/>.</summary>
    void Register(byte protocol, IIPv4Handler handler);

    /// <summary>Adds something whose deadlines the timer loop drives.</summary>
    void AddTimer(IStackTimer timer);

    /// <summary>Makes the timer loop poll no later than <paramref name="deadline"/>.</summary>
    void WakeTimerLocked(long deadline);

    /// <summary>Routes, resolves and sends one datagram (fragmented above the MTU); frames go out at the next flush.</summary>
    IPv4SendResult SendLocked(uint destination, byte protocol, ReadOnlySpan<byte> payload, bool dontFragment = false);

    /// <summary>
    /// The largest TCP segment (header and payload) the link segments itself (TCP segmentation offload); 0 when it
    /// does not. Above <see cref="MaxUnfragmentedPayload"/> only <see cref="SendSegmentedLocked"/> may send one.
    /// </summary>
    int SegmentOffload { get; }

    /// <summary>
    /// Sends a TCP segment of up to <see cref="SegmentOffload"/> bytes in one frame that the link cuts into segments of
    /// <paramref name="segmentSize"/> payload bytes, with DF set. Its checksum field must hold the folded
    /// pseudo-header sum (a partial checksum: the link completes each segment's). <see cref="IPv4SendResult.QueueFull"/>
    /// when the next hop is not resolved (the ARP queue holds MTU-sized frames: TCP resends by its timer).
    /// </summary>
    IPv4SendResult SendSegmentedLocked(uint destination, ReadOnlySpan<byte> segment, int segmentSize);

    /// <summary>An ICMP error (rate-limited, never to a broadcast or multicast source) quoting <paramref name="original"/>.</summary>
    void SendIcmpErrorLocked(byte type, byte code, in IPv4Datagram original);
}

/// <summary>A transport: receives the datagrams of the protocol number it registered for, under the lock.</summary>
internal interface IIPv4Handler
{
    void ReceiveLocked(in IPv4Datagram datagram);
}

public enum IPv4SendResult
{
    Sent,

    /// <summary>Waiting for the next hop's MAC (ARP): sent when it resolves, dropped if it does not.</summary>
    Queued,

    /// <summary>No address yet, or off-link without a gateway.</summary>
    NoRoute,

    TooLong,

    /// <summary>The ARP queue for the next hop is full.</summary>
    QueueFull,
}

/// <summary>A complete (reassembled) IPv4 datagram for us, as a transport sees it.</summary>
internal readonly ref struct IPv4Datagram
{
    public IPv4Datagram(uint source, uint destination, byte protocol, bool unicast, ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload, bool checksumTrusted = false)
    {
        IsChecksumTrusted = checksumTrusted;
        Source = source;
        Destination = destination;
        Protocol = protocol;
        IsUnicast = unicast;
        Header = header;
        Payload = payload;
    }

    public uint Source { get; }

    public uint Destination { get; }

    public byte Protocol { get; }

    /// <summary>Addressed to our own address (not a broadcast, and not received before we have one).</summary>
    public bool IsUnicast { get; }

    /// <summary>The IP header (of the first fragment), for ICMP errors that quote it.</summary>
    public ReadOnlySpan<byte> Header { get; }

    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>The device vouched for the TCP or UDP checksum (never for a reassembled datagram): do not verify it.</summary>
    public bool IsChecksumTrusted { get; }
}

/// <summary>The lock held for one operation; disposing it flushes the frames queued meanwhile and releases the lock.</summary>
internal ref struct IPv4Scope
{
    private readonly IPv4Layer _layer;
    private Lock.Scope _scope;

    internal IPv4Scope(IPv4Layer layer)
    {
        _layer = layer;
        _scope = layer.Gate.EnterScope();
    }

    public void Dispose()
    {
        try
        {
            _layer.FlushLocked();
        }
        finally
        {
            _scope.Dispose();
        }
    }
}

/// <summary>An ICMP layer's error sender, as the IPv4 layer and the transports use it.</summary>
internal interface IIcmpErrors
{
    void SendErrorLocked(byte type, byte code, in IPv4Datagram original);
}

/// <summary>
/// The IPv4 layer (RFC 791, 815, 1122): checks and filters received packets, reassembles fragments, dispatches by
/// protocol number to the registered <see cref="IIPv4Handler"/>s (protocol unreachable for the rest), and sends with
/// routing (on-link or the gateway), identification and fragmentation above the MTU over the <see cref="EthernetLayer"/>.
/// </summary>
internal sealed class IPv4Layer : IIPv4, IEthernetClient, IStackTimer
{
    private const byte DefaultTtl = 64;

    private readonly StackContext _context;
    private readonly EthernetLayer _link;
    private readonly IIPv4Handler?[] _handlers = new IIPv4Handler?[256];
    private readonly IStackTimer?[] _timers = new IStackTimer?[8];
    private readonly byte[] _payloadBuffer = GC.AllocateArray<byte>(IPv4Packet.MaxLength, pinned: true);
    private int _timerCount;
    private ushort _nextIdentification;

    public IPv4Layer(StackContext context, EthernetLayer link, ushort firstIdentification)
    {
        _context = context;
        _link = link;
        _nextIdentification = firstIdentification;
        Reassembly = new Reassembler();
        link.IPv4 = this;
    }

    public Lock Gate => _context.Gate;

    public long Now => _context.Now;

    public DirectStackCounters Counters => _context.Counters;

    public IPv4Settings Settings => _context.IPv4;

    public int MaxUnfragmentedPayload => _link.Mtu - IPv4Repr.HeaderLength;

    public int SegmentOffload => _link.SegmentOffload > 0 ? _link.SegmentOffload - IPv4Repr.HeaderLength : 0;

    public Span<byte> PayloadBufferLocked => _payloadBuffer;

    public Reassembler Reassembly { get; }

    /// <summary>Where ICMP errors go (the ICMP layer); none until set.</summary>
    public IIcmpErrors? Errors { get; set; }

    public IPv4Scope Enter() => new(this);

    public void FlushLocked() => _link.FlushLocked();

    public void Register(byte protocol, IIPv4Handler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        lock (Gate)
        {
            if (_handlers[protocol] is not null)
            {
                throw new InvalidOperationException($"IP protocol {protocol} already has a handler");
            }
            _handlers[protocol] = handler;
        }
    }

    public void AddTimer(IStackTimer timer)
    {
        ArgumentNullException.ThrowIfNull(timer);
        lock (Gate)
        {
            if (_timerCount == _timers.Length)
            {
                throw new InvalidOperationException("too many stack timers");
            }
            _timers[_timerCount++] = timer;
        }
    }

    public void WakeTimerLocked(long deadline) => _context.WakeTimerLocked(deadline);

    public void SendIcmpErrorLocked(byte type, byte code, in IPv4Datagram original) => Errors?.SendErrorLocked(type, code, original);

    // ---- receive ----

    public void ReceiveLocked(MacAddress source, ReadOnlySpan<byte> bytes, bool checksumTrusted)
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
        var settings = Settings;
        var destination = packet.Destination;
        var broadcast = settings.IsBroadcast(destination);
        var unicast = settings.IsConfigured && destination == settings.Address;
        // Before we have an address, UDP is accepted whatever its destination (a DHCP offer may be unicast to the offer).
        if (!unicast && !broadcast && (settings.IsConfigured || packet.Protocol != IPProtocol.Udp))
        {
            Counters.NotForUs++;
            return;
        }
        var sender = packet.Source;
        if (settings.IsInvalidSource(sender))
        {
            Counters.InvalidSource++;
            return;
        }
        Counters.PacketsReceived++;
        if (settings.IsOnLink(sender))
        {
            _link.LearnLocked(sender, source);
        }
        if (!packet.IsFragment)
        {
            // The IP header checksum was checked above whatever the device says (it never offloads that one).
            DispatchLocked(new IPv4Datagram(packet.Source, destination, packet.Protocol, unicast, packet.Header, packet.Payload, checksumTrusted));
            return;
        }
        Counters.FragmentsReceived++;
        var overlaps = Reassembly.Overlaps;
        var dropped = Reassembly.Dropped;
        var timeouts = Reassembly.Timeouts;
        var evicted = Reassembly.Evicted;
        var complete = Reassembly.Add(packet, Now, out var header, out var payload);
        Counters.ReassemblyOverlaps += Reassembly.Overlaps - overlaps;
        Counters.ReassemblyDrops += Reassembly.Dropped - dropped;
        Counters.ReassemblyTimeouts += Reassembly.Timeouts - timeouts;
        Counters.ReassemblyEvictions += Reassembly.Evicted - evicted;
        if (complete)
        {
            Counters.Reassembled++;
            DispatchLocked(new IPv4Datagram(packet.Source, destination, packet.Protocol, unicast, header, payload));
        }
        else
        {
            WakeTimerLocked(Reassembly.NextDeadline);
        }
    }

    private void DispatchLocked(in IPv4Datagram datagram)
    {
        if (_handlers[datagram.Protocol] is { } handler)
        {
            handler.ReceiveLocked(datagram);
            return;
        }
        Counters.UnknownProtocol++;
        if (datagram.IsUnicast)
        {
            SendIcmpErrorLocked(IcmpType.DestinationUnreachable, IcmpUnreachableCode.Protocol, datagram);
        }
    }

    // ---- timers ----

    /// <summary>Reassembly timeouts, then the registered timers.</summary>
    public void PollLocked(long now)
    {
        var settings = Settings;
        while (Reassembly.TryExpire(now, out var header, out var firstBytes))
        {
            Counters.ReassemblyTimeouts++;
            // RFC 1122 §3.3.2: time exceeded (fragment reassembly) when the first fragment had arrived.
            if (header.Length >= IPv4Packet.MinHeaderLength && settings.IsConfigured
                && IPv4Address.Read(header[IPv4Packet.DestinationOffset..]) == settings.Address)
            {
                var source = IPv4Address.Read(header[IPv4Packet.SourceOffset..]);
                var protocol = header[IPv4Packet.ProtocolOffset];
                SendIcmpErrorLocked(IcmpType.TimeExceeded, IcmpTimeExceededCode.Reassembly,
                    new IPv4Datagram(source, settings.Address, protocol, true, header, firstBytes));
            }
        }
        for (var i = 0; i < _timerCount; i++)
        {
            _timers[i]!.PollLocked(now);
        }
    }

    public long NextDeadline
    {
        get
        {
            var next = Reassembly.NextDeadline;
            for (var i = 0; i < _timerCount; i++)
            {
                next = Math.Min(next, _timers[i]!.NextDeadline);
            }
            return next;
        }
    }

    // ---- send ----

    public IPv4SendResult SendLocked(uint destination, byte protocol, ReadOnlySpan<byte> payload, bool dontFragment = false)
    {
        if (payload.Length > IPv4Packet.MaxLength - IPv4Repr.HeaderLength)
        {
            return IPv4SendResult.TooLong;
        }
        var settings = Settings;
        MacAddress mac;
        uint nextHop = 0;
        var resolved = true;
        if (settings.IsBroadcast(destination))
        {
            mac = MacAddress.Broadcast;
        }
        else if (IPv4Address.IsMulticast(destination))
        {
            mac = new MacAddress(0x01005E000000UL | (destination & 0x7FFFFF));
        }
        else
        {
            if (!settings.IsConfigured)
            {
                Counters.NoRoute++;
                return IPv4SendResult.NoRoute;
            }
            nextHop = settings.IsOnLink(destination) ? destination : settings.Gateway;
            if (nextHop == 0)
            {
                Counters.NoRoute++;
                return IPv4SendResult.NoRoute;
            }
            resolved = _link.TryResolveLocked(nextHop, out mac);
        }
        var mtu = _link.Mtu;
        if (dontFragment && payload.Length + IPv4Repr.HeaderLength > mtu)
        {
            return IPv4SendResult.TooLong;
        }
        var source = settings.IsConfigured ? settings.Address : 0;
        var identification = _nextIdentification++;
        var maxFragmentData = (mtu - IPv4Repr.HeaderLength) & ~7;
        var offset = 0;
        var result = resolved ? IPv4SendResult.Sent : IPv4SendResult.Queued;
        do
        {
            var left = payload.Length - offset;
            var more = left + IPv4Repr.HeaderLength > mtu;
            var chunk = more ? maxFragmentData : left;
            var frame = _link.BeginFrameLocked(mac, EtherType.IPv4);
            var ip = frame[EthernetFrame.HeaderLength..];
            new IPv4Repr(source, destination, protocol, chunk, DefaultTtl, identification, dontFragment, more, offset).TryWrite(ip, out var ipLength);
            payload.Slice(offset, chunk).CopyTo(ip[ipLength..]);
            var length = EthernetFrame.HeaderLength + ipLength + chunk;
            if (offset != 0 || more)
            {
                Counters.FragmentsSent++;
            }
            if (resolved)
            {
                _link.CommitLocked(length);
            }
            else if (!_link.QueueLocked(nextHop, length))
            {
                result = IPv4SendResult.QueueFull;
            }
            offset += chunk;
        }
        while (offset < payload.Length);
        Counters.PacketsSent++;
        return result;
    }

    public IPv4SendResult SendSegmentedLocked(uint destination, ReadOnlySpan<byte> segment, int segmentSize)
    {
        if (segment.Length > SegmentOffload || segmentSize <= 0 || segment.Length < TcpPacket.MinHeaderLength)
        {
            return IPv4SendResult.TooLong;
        }
        var settings = Settings;
        if (!settings.IsConfigured || IPv4Address.IsMulticast(destination) || settings.IsBroadcast(destination))
        {
            Counters.NoRoute++;
            return IPv4SendResult.NoRoute;
        }
        var nextHop = settings.IsOnLink(destination) ? destination : settings.Gateway;
        if (nextHop == 0)
        {
            Counters.NoRoute++;
            return IPv4SendResult.NoRoute;
        }
        if (!_link.TryResolveLocked(nextHop, out var mac))
        {
            Counters.ArpQueueDrops++;
            return IPv4SendResult.QueueFull;
        }
        var frame = _link.BeginOffloadFrameLocked(mac, EtherType.IPv4);
        var ip = frame[EthernetFrame.HeaderLength..];
        var identification = _nextIdentification;
        // The link gives each segment the next identification (RFC 6864 allows any with DF): skip the ones it uses.
        var tcpHeader = (segment[12] >> 4) * 4;
        var segments = Math.Max(1, (segment.Length - tcpHeader + segmentSize - 1) / segmentSize);
        _nextIdentification += (ushort)segments;
        new IPv4Repr(settings.Address, destination, IPProtocol.Tcp, segment.Length, DefaultTtl, identification, true, false, 0).TryWrite(ip, out var ipLength);
        segment.CopyTo(ip[ipLength..]);
        _link.CommitOffloadLocked(EthernetFrame.HeaderLength + ipLength + segment.Length, segmentSize);
        Counters.PacketsSent++;
        return IPv4SendResult.Sent;
    }
}
