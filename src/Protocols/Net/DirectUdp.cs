using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using System.Threading;
using Unikernel.Devices;

namespace Unikernel.Protocols.Net;

/// <summary>UDP sockets of the direct stack: a port table under the stack's lock.</summary>
internal sealed class DirectUdp : IUdp
{
    private const int EphemeralFirst = 49152;
    private const int EphemeralCount = 65536 - EphemeralFirst;

    private readonly DirectStack _stack;
    private readonly Dictionary<ushort, DirectUdpSocket> _sockets = [];
    private int _nextEphemeral;

    /// <param name="ephemeralSeed">Where the search for a free ephemeral port starts (from the stack's random source).</param>
    public DirectUdp(DirectStack stack, int ephemeralSeed)
    {
        _stack = stack;
        _nextEphemeral = ephemeralSeed & 0x3FFF;
    }

    public IUdpSocket Bind(IPEndPoint localEndPoint)
    {
        ArgumentNullException.ThrowIfNull(localEndPoint);
        var address = localEndPoint.Address;
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && !address.Equals(IPAddress.IPv6Any))
        {
            throw new NotSupportedException($"the direct stack speaks IPv4 only; cannot bind {localEndPoint}");
        }
        var local = address.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.Any : address;
        lock (_stack.Gate)
        {
            var port = (ushort)localEndPoint.Port;
            if (port == 0)
            {
                for (var i = 0; i < EphemeralCount && port == 0; i++)
                {
                    var candidate = (ushort)(EphemeralFirst + (_nextEphemeral++ % EphemeralCount));
                    if (!_sockets.ContainsKey(candidate))
                    {
                        port = candidate;
                    }
                }
                if (port == 0)
                {
                    throw new SocketException((int)SocketError.AddressAlreadyInUse);
                }
            }
            else if (_sockets.ContainsKey(port) || port == DhcpPacket.ClientPort && _stack.Dhcp is not null)
            {
                throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }
            var socket = new DirectUdpSocket(this, new IPEndPoint(local, port), port);
            _sockets.Add(port, socket);
            return socket;
        }
    }

    public bool TryDeliverLocked(ushort port, uint source, ushort sourcePort, ReadOnlySpan<byte> payload)
    {
        if (!_sockets.TryGetValue(port, out var socket))
        {
            return false;
        }
        if (!socket.Enqueue(source, sourcePort, payload))
        {
            _stack.Counters.UdpQueueDrops++;
        }
        return true;
    }

    public int Send(ushort port, DatagramBatch batch) => _stack.SendUdp(port, batch);

    public void Unbind(DirectUdpSocket socket)
    {
        lock (_stack.Gate)
        {
            if (_sockets.TryGetValue(socket.Port, out var bound) && bound == socket)
            {
                _sockets.Remove(socket.Port);
            }
        }
    }

    public void CloseAll()
    {
        DirectUdpSocket[] sockets;
        lock (_stack.Gate)
        {
            sockets = [.. _sockets.Values];
        }
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
    }
}

/// <summary>A bound UDP socket: a bounded queue of received datagrams (buffers reused once grown) and sends through the stack.</summary>
internal sealed class DirectUdpSocket : IUdpSocket
{
    public const int QueueCapacity = 512;
    private const int InitialBufferSize = 2048;
    private const int WaitSliceMilliseconds = 100;

    private readonly DirectUdp _owner;
    private readonly object _queueGate = new();
    private readonly byte[]?[] _data = new byte[QueueCapacity][];
    private readonly int[] _lengths = new int[QueueCapacity];
    private readonly uint[] _sources = new uint[QueueCapacity];
    private readonly ushort[] _sourcePorts = new ushort[QueueCapacity];
    private int _head;
    private int _count;
    private int _waiters;
    private bool _disposed;

    public DirectUdpSocket(DirectUdp owner, IPEndPoint localEndPoint, ushort port)
    {
        _owner = owner;
        LocalEndPoint = localEndPoint;
        Port = port;
    }

    public IPEndPoint LocalEndPoint { get; }

    public ushort Port { get; }

    public bool Enqueue(uint source, ushort sourcePort, ReadOnlySpan<byte> payload)
    {
        lock (_queueGate)
        {
            if (_disposed || _count == QueueCapacity)
            {
                return false;
            }
            var slot = (_head + _count) % QueueCapacity;
            var buffer = _data[slot];
            if (buffer is null || buffer.Length < payload.Length)
            {
                buffer = new byte[Math.Max(InitialBufferSize, (int)BitOperations.RoundUpToPowerOf2((uint)payload.Length))];
                _data[slot] = buffer;
            }
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

    public int Receive(DatagramBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        Span<byte> address = stackalloc byte[4];
        lock (_queueGate)
        {
            while (_count == 0)
            {
                if (_disposed || cancellationToken.IsCancellationRequested)
                {
                    batch.Count = 0;
                    return 0;
                }
                _waiters++;
                Monitor.Wait(_queueGate, WaitSliceMilliseconds);
                _waiters--;
            }
            var n = 0;
            while (_count > 0 && n < batch.Capacity)
            {
                var length = Math.Min(_lengths[_head], batch.SlotSize);
                _data[_head].AsSpan(0, length).CopyTo(batch.Slot(n));
                batch.SetLength(n, length);
                IPv4Address.Write(address, _sources[_head]);
                batch.Peer(n) = DatagramPeer.FromIPv4(address, _sourcePorts[_head]);
                _head = (_head + 1) % QueueCapacity;
                _count--;
                n++;
            }
            batch.Count = n;
            return n;
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
        _owner.Unbind(this);
    }
}
