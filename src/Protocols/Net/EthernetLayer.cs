using System;
using Unikernel.Devices;

namespace Unikernel.Protocols.Net;

/// <summary>What the Ethernet layer hands IPv4 packets to (the IPv4 layer).</summary>
internal interface IEthernetClient
{
    /// <summary>
    /// An IPv4 packet from <paramref name="source"/> (the frame's source MAC), under the lock;
    /// <paramref name="checksumTrusted"/>: the device vouches for its TCP or UDP checksum (<see cref="DatagramBatch.IsChecksumTrusted"/>).
    /// </summary>
    void ReceiveLocked(MacAddress source, ReadOnlySpan<byte> packet, bool checksumTrusted);
}

/// <summary>
/// The link layer: Ethernet II framing over the <see cref="INetworkInterface"/>, the transmit batch, and ARP (RFC 826)
/// with its neighbour table (<see cref="ArpCache"/>) holding frames while their next hop resolves. Everything runs
/// under the stack's lock (see <see cref="StackContext"/>).
/// </summary>
internal sealed class EthernetLayer : IStackTimer
{
    private const int TxBatchCapacity = 64;
    private const int RxBatchCapacity = 32;

    /// <summary>Slots of the batch for frames the device segments (64 KiB each, allocated on first use).</summary>
    private const int OffloadBatchCapacity = 4;

    /// <summary>RFC 5227 DEFEND_INTERVAL: we defend our address (and log the conflict) at most once per 10 s.</summary>
    private const long DefendInterval = 10_000_000_000L;

    private readonly INetworkInterface _network;
    private readonly StackContext _context;
    private readonly DatagramBatch _tx;
    private DatagramBatch? _offloadTx;
    private long _lastDefence = long.MinValue;

    public EthernetLayer(INetworkInterface network, StackContext context)
    {
        _network = network;
        _context = context;
        if (network.MacAddress.Length != MacAddress.Length)
        {
            throw new ArgumentException($"the network interface's MAC address has {network.MacAddress.Length} bytes, not 6", nameof(network));
        }
        Mac = MacAddress.Read(network.MacAddress);
        Mtu = network.Mtu;
        if (Mtu < 68 || Mtu > IPv4Packet.MaxLength)
        {
            throw new ArgumentException($"the network interface's MTU {Mtu} is outside 68..65535 (RFC 791)", nameof(network));
        }
        var frameSize = Math.Max(EthernetFrame.HeaderLength + Mtu, EthernetFrame.MinimumLength);
        var offload = network.SegmentOffload;
        SegmentOffload = offload > Mtu ? Math.Min(offload, IPv4Packet.MaxLength) : 0;
        // Room for a VLAN tag and an FCS some drivers pass up, beyond the MTU; with receive offload, for a whole 64 KiB
        // packet in every slot (the device may hand any frame over unsegmented).
        var receiveOffload = SegmentOffload > 0 && network.TryEnableReceiveOffload();
        Rx = new DatagramBatch(RxBatchCapacity, EthernetFrame.HeaderLength + Math.Max(Math.Max(Mtu, 1500), receiveOffload ? SegmentOffload : 0) + 18);
        _tx = new DatagramBatch(TxBatchCapacity, frameSize);
        Arp = new ArpCache(capacity: 64, pendingCapacity: 64, frameSize: frameSize);
    }

    /// <summary>The largest IP packet of a frame the device segments (<see cref="INetworkInterface.SegmentOffload"/>); 0 without.</summary>
    public int SegmentOffload { get; }

    public MacAddress Mac { get; }

    /// <summary>The largest IP packet a frame carries.</summary>
    public int Mtu { get; }

    public ArpCache Arp { get; }

    /// <summary>The receive batch (only the receive thread uses it).</summary>
    public DatagramBatch Rx { get; }

    public INetworkInterface Network => _network;

    public IEthernetClient? IPv4 { get; set; }

    private DirectStackCounters Counters => _context.Counters;

    private IPv4Settings Settings => _context.IPv4;

    // ---- receive ----

    public void ReceiveLocked(ReadOnlySpan<byte> bytes, bool checksumTrusted = false)
    {
        Counters.FramesReceived++;
        if (checksumTrusted)
        {
            Counters.ChecksumTrustedFramesReceived++;
            if (bytes.Length > EthernetFrame.HeaderLength + Mtu)
            {
                Counters.OffloadFramesReceived++;
            }
        }
        if (!EthernetFrame.TryCreate(bytes, out var frame))
        {
            Counters.Malformed++;
            return;
        }
        var destination = frame.Destination;
        if (destination != Mac && !destination.IsBroadcast)
        {
            Counters.NotForUs++;
            return;
        }
        if (!frame.Source.IsUnicast)
        {
            // A group or zero source address is never a station's own (IEEE 802.3): nothing can be answered.
            Counters.InvalidSource++;
            return;
        }
        switch (frame.EtherType)
        {
            case EtherType.Arp:
                ReceiveArpLocked(frame.Payload);
                break;
            case EtherType.IPv4 when IPv4 is not null:
                IPv4.ReceiveLocked(frame.Source, frame.Payload, checksumTrusted);
                break;
            default:
                Counters.UnknownProtocol++;
                break;
        }
    }

    private void ReceiveArpLocked(ReadOnlySpan<byte> bytes)
    {
        if (!ArpRepr.TryParse(bytes, out var arp))
        {
            Counters.Malformed++;
            return;
        }
        if (!Settings.IsConfigured)
        {
            return;
        }
        if (!arp.SenderHardwareAddress.IsUnicast)
        {
            // Never answer (or learn) a broadcast or multicast sender: the reply would go to every station.
            Counters.InvalidSource++;
            return;
        }
        var address = Settings.Address;
        Arp.Protected = Settings.Gateway;
        if (arp.SenderProtocolAddress == address)
        {
            if (arp.SenderHardwareAddress != Mac)
            {
                DefendLocked(arp.SenderHardwareAddress);
            }
            return;
        }
        if (arp.SenderProtocolAddress != 0 && Settings.IsInvalidSource(arp.SenderProtocolAddress))
        {
            Counters.InvalidSource++;
            return;
        }
        if (arp.SenderProtocolAddress == 0)
        {
            // An ARP probe (RFC 5227) for our address: answer so the prober sees the address is taken.
            if (arp.Operation == ArpOperation.Request && arp.TargetProtocolAddress == address)
            {
                SendArpLocked(ArpOperation.Reply, arp.SenderHardwareAddress, 0, arp.SenderHardwareAddress);
                Counters.ArpRepliesSent++;
            }
            return;
        }
        var now = _context.Now;
        var request = arp.Operation == ArpOperation.Request;
        var forUs = arp.TargetProtocolAddress == address;
        // RFC 826: merge into an existing entry; add one only for a request naming us (a reply we did not ask for
        // adds nothing, else anyone could fill the table with unsolicited replies).
        if (Arp.Update(arp.SenderProtocolAddress, arp.SenderHardwareAddress, now, create: forUs && request))
        {
            ReleaseQueuedLocked(arp.SenderProtocolAddress, arp.SenderHardwareAddress);
        }
        if (forUs && request)
        {
            SendArpLocked(ArpOperation.Reply, arp.SenderHardwareAddress, arp.SenderProtocolAddress, arp.SenderHardwareAddress);
            Counters.ArpRepliesSent++;
        }
    }

    /// <summary>
    /// Someone else claims our address (RFC 5227 §2.4): log it and defend the address with a gratuitous ARP, at most
    /// once per <see cref="DefendInterval"/> (two hosts defending forever would flood the link).
    /// </summary>
    private void DefendLocked(MacAddress claimant)
    {
        Counters.ArpConflicts++;
        var now = _context.Now;
        if (_lastDefence != long.MinValue && now - _lastDefence < DefendInterval)
        {
            return;
        }
        _lastDefence = now;
        _context.Log($"direct-stack: error: address conflict: {claimant} claims our address {IPv4Address.Format(Settings.Address)} (we are {Mac}); defending it");
        SendGratuitousArpLocked();
    }

    /// <summary>
    /// An on-link host sent us an IPv4 frame from <paramref name="mac"/>: remember it so the answer needs no ARP
    /// (weakly: it never changes a known mapping, see <see cref="ArpCache.Learn"/>).
    /// </summary>
    public void LearnLocked(uint address, MacAddress mac)
    {
        Arp.Protected = Settings.Gateway;
        if (Arp.Learn(address, mac, _context.Now) && Arp.HasQueued(address))
        {
            ReleaseQueuedLocked(address, mac);
        }
    }

    /// <summary>Sends the frames that waited for <paramref name="address"/> now that it resolved to <paramref name="mac"/>.</summary>
    private void ReleaseQueuedLocked(uint address, MacAddress mac)
    {
        while (Arp.TryDequeue(address, out var queued))
        {
            mac.Write(queued[EthernetFrame.DestinationOffset..]);
            var slot = NextSlotLocked();
            queued.CopyTo(slot);
            CommitLocked(queued.Length);
        }
    }

    // ---- send ----

    /// <summary>
    /// Looks up the MAC of an on-link next hop. When it is not known, starts (or continues) resolving it and returns false:
    /// frames for it then go through <see cref="QueueLocked"/>.
    /// </summary>
    public bool TryResolveLocked(uint nextHop, out MacAddress mac)
    {
        var now = _context.Now;
        if (Arp.TryGet(nextHop, now, out mac))
        {
            return true;
        }
        Arp.Protected = Settings.Gateway;
        switch (Arp.BeginResolve(nextHop, now))
        {
            case ResolveStart.Started:
                SendArpLocked(ArpOperation.Request, MacAddress.Broadcast, nextHop, default);
                _context.WakeTimerLocked(Arp.NextDeadline);
                break;
            case ResolveStart.TableFull:
                Counters.ArpTableFull++;
                break;
        }
        return false;
    }

    /// <summary>
    /// The next transmit slot (room for the Ethernet header and an MTU-sized packet) with the Ethernet header written;
    /// fill in the payload after <see cref="EthernetFrame.HeaderLength"/>, then <see cref="CommitLocked"/> or
    /// <see cref="QueueLocked"/> it.
    /// </summary>
    public Span<byte> BeginFrameLocked(MacAddress destination, ushort etherType)
    {
        var frame = NextSlotLocked();
        new EthernetRepr(destination, Mac, etherType).TryWrite(frame, out _);
        return frame;
    }

    /// <summary>Sends the frame begun in the current slot (padded to the Ethernet minimum).</summary>
    public void CommitLocked(int length)
    {
        length = PadLocked(length);
        _tx.SetLength(_tx.Count, length);
        _tx.Count++;
    }

    /// <summary>
    /// Like <see cref="BeginFrameLocked"/>, for a frame whose packet may be up to <see cref="SegmentOffload"/> bytes
    /// (only when that is not 0): a TCP segment the device cuts into <c>segmentSize</c> pieces, sent with
    /// <see cref="CommitOffloadLocked"/>. Such frames have their own batch of 64 KiB slots; frames go out in the order
    /// they were begun (beginning one in the other batch sends what this one holds first).
    /// </summary>
    public Span<byte> BeginOffloadFrameLocked(MacAddress destination, ushort etherType)
    {
        _offloadTx ??= new DatagramBatch(OffloadBatchCapacity, EthernetFrame.HeaderLength + SegmentOffload);
        if (_tx.Count > 0 || _offloadTx.Count == _offloadTx.Capacity)
        {
            FlushLocked();
        }
        var frame = _offloadTx.Slot(_offloadTx.Count);
        new EthernetRepr(destination, Mac, etherType).TryWrite(frame, out _);
        return frame;
    }

    public void CommitOffloadLocked(int length, int segmentSize)
    {
        var batch = _offloadTx!;
        batch.SetLength(batch.Count, length);
        batch.SetSegmentSize(batch.Count, segmentSize);
        batch.Count++;
        Counters.OffloadFramesSent++;
    }

    /// <summary>Moves the frame begun in the current slot to the ARP queue of <paramref name="nextHop"/>; false when that queue is full.</summary>
    public bool QueueLocked(uint nextHop, int length)
    {
        length = PadLocked(length);
        if (Arp.TryQueue(nextHop, _tx.Slot(_tx.Count)[..length]))
        {
            return true;
        }
        Counters.ArpQueueDrops++;
        return false;
    }

    /// <summary>Sends what the batches hold to the interface (at most one of them holds frames: see <see cref="BeginOffloadFrameLocked"/>).</summary>
    public void FlushLocked()
    {
        SendLocked(_tx);
        if (_offloadTx is { } offload)
        {
            SendLocked(offload);
        }
    }

    private void SendLocked(DatagramBatch batch)
    {
        var count = batch.Count;
        if (count == 0)
        {
            return;
        }
        int sent;
        if (_context.IsInterfaceLost)
        {
            sent = 0;
        }
        else
        {
            try
            {
                sent = _network.Send(batch);
            }
            catch (ObjectDisposedException)
            {
                sent = 0;
            }
            catch (NetworkInterfaceGoneException exception)
            {
                sent = 0;
                _context.ReportInterfaceLost(exception);
            }
        }
        Counters.FramesSent += sent;
        Counters.TransmitDrops += count - sent;
        batch.Count = 0;
    }

    public void SendArpLocked(ArpOperation operation, MacAddress ethernetDestination, uint target, MacAddress targetMac)
    {
        var frame = BeginFrameLocked(ethernetDestination, EtherType.Arp);
        new ArpRepr(operation, Mac, Settings.Address, targetMac, target).TryWrite(frame[EthernetFrame.HeaderLength..], out var arpLength);
        CommitLocked(EthernetFrame.HeaderLength + arpLength);
        if (operation == ArpOperation.Request)
        {
            Counters.ArpRequestsSent++;
        }
    }

    /// <summary>A gratuitous ARP request (sender and target both our address) announces us and refreshes neighbours.</summary>
    public void SendGratuitousArpLocked() => SendArpLocked(ArpOperation.Request, MacAddress.Broadcast, Settings.Address, default);

    /// <summary>ARP retries and give-ups.</summary>
    public void PollLocked(long now)
    {
        while (true)
        {
            var retry = Arp.Poll(now, out var failed);
            if (failed != 0)
            {
                Counters.ArpFailures++;
                Counters.ArpQueueDrops += Arp.DropQueued(failed);
                continue;
            }
            if (retry == 0)
            {
                break;
            }
            SendArpLocked(ArpOperation.Request, MacAddress.Broadcast, retry, default);
        }
    }

    public long NextDeadline => Arp.NextDeadline;

    private Span<byte> NextSlotLocked()
    {
        if (_tx.Count == _tx.Capacity || _offloadTx is { Count: > 0 })
        {
            FlushLocked();
        }
        return _tx.Slot(_tx.Count);
    }

    private int PadLocked(int length)
    {
        if (length < EthernetFrame.MinimumLength)
        {
            _tx.Slot(_tx.Count)[length..EthernetFrame.MinimumLength].Clear();
            return EthernetFrame.MinimumLength;
        }
        return length;
    }
}
