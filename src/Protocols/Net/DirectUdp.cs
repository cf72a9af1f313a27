using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using System.Threading;
using Unikernel.Devices;

namespace Unikernel.Protocols.Net;

/// <summary>Something bound to a UDP port of the direct stack: a socket's queue, or a consumer inside the stack (DHCP).</summary>
internal interface IUdpReceiver
{
    /// <summary>Called under the stack's lock (must not block); false when the datagram was dropped (a full queue).</summary>
    bool DeliverLocked(uint source, ushort sourcePort, ReadOnlySpan<byte> payload);

    /// <summary>True for a consumer that needs datagrams before the interface has an address (the DHCP client).</summary>
    bool ReceivesWhileUnconfigured { get; }
}

/// <summary>
/// UDP over the IPv4 seam (RFC 768): checksums, a port table of <see cref="IUdpReceiver"/>s (sockets with bounded
/// queues, and in-stack consumers such as the DHCP client), ICMP port unreachable for closed ports, ephemeral ports.
/// </summary>
internal sealed class DirectUdp : IUdp, IIPv4Handler
{
    private const int EphemeralFirst = 49152;
    private const int EphemeralCount = 65536 - EphemeralFirst;

    private readonly IIPv4 _ip;
    private readonly Dictionary<ushort, IUdpReceiver> _ports = [];
    private int _nextEphemeral;

    /// <param name="ephemeralSeed">Where the search for a free ephemeral port starts (from the stack's random source).</param>
    public DirectUdp(IIPv4 ip, int ephemeralSeed)
    {
        _ip = ip;
        _nextEphemeral = ephemeralSeed & 0x3FFF;
        ip.Register(IPProtocol.Udp, this);
    }

    private DirectStackCounters Counters => _ip.Counters;

    /// <summary>Set by the started stack: sockets read the interface on their own thread through it (run to completion).</summary>
    internal IFramePump? Pump
    {
        get => Volatile.Read(ref _pump);
        set => Volatile.Write(ref _pump, value);
    }

    private IFramePump? _pump;

    /// <summary>Where a payload is built in place for <see cref="SendLocked"/> without a copy (after the UDP header).</summary>
    public Span<byte> PayloadBufferLocked => _ip.PayloadBufferLocked[UdpPacket.HeaderLength..(IPv4Packet.MaxLength - IPv4Repr.HeaderLength)];

    public IUdpSocket Bind(IPEndPoint localEndPoint)
    {
        ArgumentNullException.ThrowIfNull(localEndPoint);
        var address = localEndPoint.Address;
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && !address.Equals(IPAddress.IPv6Any))
        {
            throw new NotSupportedException($"the direct stack speaks IPv4 only; cannot bind {localEndPoint}");
        }
        var local = address.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.Any : address;
        lock (_ip.Gate)
        {
            var port = (ushort)localEndPoint.Port;
            if (port == 0)
            {
                for (var i = 0; i < EphemeralCount && port == 0; i++)
                {
                    var candidate = (ushort)(EphemeralFirst + (_nextEphemeral++ % EphemeralCount));
                    if (!_ports.ContainsKey(candidate))
                    {
                        port = candidate;
                    }
                }
                if (port == 0)
                {
                    throw new SocketException((int)SocketError.AddressAlreadyInUse);
                }
            }
            else if (_ports.ContainsKey(port))
            {
                throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }
            var socket = new DirectUdpSocket(this, new IPEndPoint(local, port), port);
            _ports.Add(port, socket);
            return socket;
        }
    }

    /// <summary>Binds an in-stack consumer to <paramref name="port"/>.</summary>
    public void BindLocked(ushort port, IUdpReceiver receiver)
    {
        if (!_ports.TryAdd(port, receiver))
        {
            throw new SocketException((int)SocketError.AddressAlreadyInUse);
        }
    }

    public void ReceiveLocked(in IPv4Datagram datagram)
    {
        if (!UdpPacket.TryCreate(datagram.Payload, out var packet))
        {
            Counters.Malformed++;
            return;
        }
        UdpRepr udp;
        if (datagram.IsChecksumTrusted)
        {
            udp = new UdpRepr(packet.SourcePort, packet.DestinationPort, packet.Payload); // left partial by the host, or checked by the device
        }
        else if (!UdpRepr.TryParse(packet, datagram.Source, datagram.Destination, out udp))
        {
            Counters.BadChecksum++;
            return;
        }
        var configured = _ip.Settings.IsConfigured;
        if (_ports.TryGetValue(udp.DestinationPort, out var receiver) && (configured || receiver.ReceivesWhileUnconfigured))
        {
            if (receiver.DeliverLocked(datagram.Source, udp.SourcePort, udp.Payload))
            {
                Counters.UdpDelivered++;
            }
            else
            {
                Counters.UdpQueueDrops++;
            }
            return;
        }
        if (!configured)
        {
            return;
        }
        Counters.UdpNoPort++;
        if (datagram.IsUnicast)
        {
            _ip.SendIcmpErrorLocked(IcmpType.DestinationUnreachable, IcmpUnreachableCode.Port, datagram);
        }
    }

    /// <summary>Sends one datagram from <paramref name="sourcePort"/> (the payload may be a slice of <see cref="PayloadBufferLocked"/>).</summary>
    public IPv4SendResult SendLocked(ushort sourcePort, uint destination, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        if (destinationPort == 0)
        {
            // Port 0 is reserved (RFC 768 lets a sender leave its port 0 to mean "no reply"): never send to it.
            return IPv4SendResult.NoRoute;
        }
        var buffer = _ip.PayloadBufferLocked;
        var source = _ip.Settings.IsConfigured ? _ip.Settings.Address : 0;
        if (!new UdpRepr(sourcePort, destinationPort, payload).TryWrite(buffer, source, destination, out var written))
        {
            return IPv4SendResult.TooLong;
        }
        return _ip.SendLocked(destination, IPProtocol.Udp, buffer[..written]);
    }

    /// <summary>Sends UDP datagrams from a socket's port; returns how many were accepted (sent or queued for ARP).</summary>
    public int Send(ushort sourcePort, DatagramBatch batch)
    {
        var sent = 0;
        using (_ip.Enter())
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
                var result = SendLocked(sourcePort, peer.IPv4Address, peer.Port, payload);
                if (result is not (IPv4SendResult.Sent or IPv4SendResult.Queued))
                {
                    Counters.SendErrors++;
                    continue;
                }
                sent++;
            }
        }
        return sent;
    }

    public void Unbind(DirectUdpSocket socket)
    {
        lock (_ip.Gate)
        {
            if (_ports.TryGetValue(socket.Port, out var bound) && bound == socket)
            {
                _ports.Remove(socket.Port);
            }
        }
    }

    public void CloseAll()
    {
        List<DirectUdpSocket> sockets = [];
        lock (_ip.Gate)
        {
            foreach (var receiver in _ports.Values)
            {
                if (receiver is DirectUdpSocket socket)
                {
                    sockets.Add(socket);
                }
            }
        }
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
    }
}

/// <summary>
/// A bound UDP socket: a bounded queue of received datagrams and sends through the stack. Buffers move between the
/// queue and a spare stack, so a socket holds only as many as it ever had queued at once (not one per queue slot).
/// </summary>
internal sealed class DirectUdpSocket : IUdpSocket, IUdpReceiver
{
    public const int QueueCapacity = 512;
    private const int InitialBufferSize = 2048;
    private const int WaitSliceMilliseconds = 100;
    private const int PumpRetryMilliseconds = 10;

    private readonly DirectUdp _owner;
    private readonly object _queueGate = new();
    private readonly byte[]?[] _data = new byte[QueueCapacity][];
    private readonly int[] _lengths = new int[QueueCapacity];
    private readonly uint[] _sources = new uint[QueueCapacity];
    private readonly ushort[] _sourcePorts = new ushort[QueueCapacity];
    private readonly byte[]?[] _spare = new byte[QueueCapacity][];
    private int _spareCount;
    private int _head;
    private int _count;
    private int _waiters;
    private bool _disposed;
    private readonly CancellationTokenSource _closing = new();
    private CancellationToken _linkedFor;
    private CancellationTokenSource? _linked;

    public DirectUdpSocket(DirectUdp owner, IPEndPoint localEndPoint, ushort port)
    {
        _owner = owner;
        LocalEndPoint = localEndPoint;
        Port = port;
    }

    public IPEndPoint LocalEndPoint { get; }

    public ushort Port { get; }

    public bool ReceivesWhileUnconfigured => false;

    /// <summary>True when a datagram waits in the queue (checked by the pump before it blocks on the interface).</summary>
    internal bool HasQueued => Volatile.Read(ref _count) > 0;

    /// <summary>Queues a datagram for <see cref="Receive"/>; false when the queue is full (or the socket closed).</summary>
    public bool DeliverLocked(uint source, ushort sourcePort, ReadOnlySpan<byte> payload)
    {
        lock (_queueGate)
        {
            if (_disposed || _count == QueueCapacity)
            {
                return false;
            }
            var slot = (_head + _count) % QueueCapacity;
            byte[]? buffer = null;
            if (_spareCount > 0)
            {
                buffer = _spare[--_spareCount];
                _spare[_spareCount] = null;
            }
            if (buffer is null || buffer.Length < payload.Length)
            {
                // A bigger one replaces the spare (it is dropped), so buffers only grow to the largest datagram seen.
                buffer = new byte[Math.Max(InitialBufferSize, (int)BitOperations.RoundUpToPowerOf2((uint)payload.Length))];
            }
            _data[slot] = buffer;
            payload.CopyTo(buffer);
            _lengths[slot] = payload.Length;
            _sources[slot] = source;
            _sourcePorts[slot] = sourcePort;
            _count++;
            if (_waiters > 0)
            {
                Monitor.Pulse(_queueGate);
            }
            return true;
        }
    }

    /// <remarks>
    /// With the stack started, an empty queue makes this thread read the interface itself (see
    /// <see cref="DirectStack"/>): the datagrams it brings in for this socket are queued and returned at once, with no
    /// wake-up of another thread; while another thread pumps, this one waits on its queue as before.
    /// </remarks>
    public int Receive(DatagramBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        lock (_queueGate)
        {
            if (_count > 0)
            {
                return DequeueLocked(batch);
            }
        }
        var pump = _owner.Pump;
        pump?.BeginReceive();
        try
        {
            while (true)
            {
                lock (_queueGate)
                {
                    if (_count > 0)
                    {
                        return DequeueLocked(batch);
                    }
                    if (_disposed || cancellationToken.IsCancellationRequested)
                    {
                        batch.Count = 0;
                        return 0;
                    }
                }
                if (pump is not null && pump.TryPump(this, PumpToken(cancellationToken)))
                {
                    continue;
                }
                lock (_queueGate)
                {
                    if (_count == 0 && !_disposed && !cancellationToken.IsCancellationRequested)
                    {
                        // Another thread pumps (or none may): it queues what comes for us and pulses. A short slice when a
                        // pump exists, so that this thread takes over when that one stops.
                        _waiters++;
                        Monitor.Wait(_queueGate, pump is null ? WaitSliceMilliseconds : PumpRetryMilliseconds);
                        _waiters--;
                    }
                }
            }
        }
        finally
        {
            pump?.EndReceive();
        }
    }

    private int DequeueLocked(DatagramBatch batch)
    {
        Span<byte> address = stackalloc byte[4];
        var n = 0;
        while (_count > 0 && n < batch.Capacity)
        {
            var length = Math.Min(_lengths[_head], batch.SlotSize);
            _data[_head].AsSpan(0, length).CopyTo(batch.Slot(n));
            batch.SetLength(n, length);
            IPv4Address.Write(address, _sources[_head]);
            batch.Peer(n) = DatagramPeer.FromIPv4(address, _sourcePorts[_head]);
            _spare[_spareCount++] = _data[_head];
            _data[_head] = null;
            _head = (_head + 1) % QueueCapacity;
            _count--;
            n++;
        }
        batch.Count = n;
        return n;
    }

    /// <summary>The caller's token joined with this socket's closing (so a pump blocked on the interface ends when the socket is disposed); made once per caller token.</summary>
    private CancellationToken PumpToken(CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return _closing.Token;
        }
        lock (_queueGate)
        {
            // The previous one is left to the collector: another thread sharing this socket may still be pumping with it.
            if (_linked is null || !_linkedFor.Equals(cancellationToken))
            {
                _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
                _linkedFor = cancellationToken;
            }
            return _linked.Token;
        }
    }

    public int Send(DatagramBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _owner.Send(Port, batch);
    }

    public void Dispose()
    {
        lock (_queueGate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            Monitor.PulseAll(_queueGate);
        }
        _closing.Cancel();
        _owner.Unbind(this);
    }
}
