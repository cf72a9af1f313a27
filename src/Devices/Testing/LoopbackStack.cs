using System;
using System.Collections.Concurrent;
using System.Net;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;

namespace Unikernel.Devices.Testing;

/// <summary>
/// The test target's network: an in-memory network where every socket of this stack reaches every other by port,
/// whatever the address. Deterministic (no kernel, no timing), so appliances can be tested in-process.
/// </summary>
public sealed class LoopbackStack : INetworkStack
{
    public LoopbackStack()
    {
        Udp = new LoopbackUdp();
        Tcp = new LoopbackTcp();
    }

    public IUdp Udp { get; }

    public ITcp Tcp { get; }

    /// <summary>At most this many datagrams wait in one socket; more are dropped, as a real network would.</summary>
    public const int QueueLimit = 1024;

    private sealed class LoopbackUdp : IUdp
    {
        private readonly ConcurrentDictionary<int, LoopbackUdpSocket> _ports = new();
        private int _nextEphemeral = 49152;

        public IUdpSocket Bind(IPEndPoint localEndPoint)
        {
            ArgumentNullException.ThrowIfNull(localEndPoint);
            var port = localEndPoint.Port != 0 ? localEndPoint.Port : Interlocked.Increment(ref _nextEphemeral);
            var socket = new LoopbackUdpSocket(this, new IPEndPoint(localEndPoint.Address, port));
            if (!_ports.TryAdd(port, socket))
            {
                throw new InvalidOperationException($"UDP port {port} is already bound");
            }
            return socket;
        }

        public void Deliver(DatagramPeer from, in DatagramPeer to, ReadOnlySpan<byte> payload)
        {
            if (_ports.TryGetValue(to.Port, out var socket))
            {
                socket.Enqueue(from, payload);
            }
        }

        public void Release(int port) => _ports.TryRemove(port, out _);
    }

    private sealed class LoopbackUdpSocket(LoopbackUdp network, IPEndPoint local) : IUdpSocket
    {
        private readonly Channel<(DatagramPeer Peer, byte[] Payload)> _queue = Channel.CreateBounded<(DatagramPeer, byte[])>(
            new BoundedChannelOptions(QueueLimit) { FullMode = BoundedChannelFullMode.DropWrite });
        private readonly DatagramPeer _self = DatagramPeer.FromEndPoint(local);

        public IPEndPoint LocalEndPoint { get; } = local;

        public void Enqueue(DatagramPeer from, ReadOnlySpan<byte> payload) => _queue.Writer.TryWrite((from, payload.ToArray()));

        public int Receive(DatagramBatch batch, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(batch);
            batch.Count = 0;
            try
            {
                if (!_queue.Reader.WaitToReadAsync(cancellationToken).AsTask().GetAwaiter().GetResult())
                {
                    return 0;
                }
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
            while (batch.Count < batch.Capacity && _queue.Reader.TryRead(out var item))
            {
                var length = Math.Min(item.Payload.Length, batch.SlotSize);
                batch.TryAdd(item.Payload.AsSpan(0, length), item.Peer);
            }
            return batch.Count;
        }

        public int Send(DatagramBatch batch)
        {
            ArgumentNullException.ThrowIfNull(batch);
            for (var i = 0; i < batch.Count; i++)
            {
                network.Deliver(_self, batch.Peer(i), batch.Datagram(i));
            }
            return batch.Count;
        }

        public void Dispose()
        {
            _queue.Writer.TryComplete();
            network.Release(LocalEndPoint.Port);
        }
    }

    private sealed class LoopbackTcp : ITcp
    {
        private readonly ConcurrentDictionary<int, LoopbackListener> _listeners = new();
        private int _nextEphemeral = 49152;

        public ITcpListener Listen(IPEndPoint localEndPoint, int backlog = 128)
        {
            ArgumentNullException.ThrowIfNull(localEndPoint);
            var port = localEndPoint.Port != 0 ? localEndPoint.Port : Interlocked.Increment(ref _nextEphemeral);
            var listener = new LoopbackListener(this, new IPEndPoint(localEndPoint.Address, port), backlog);
            if (!_listeners.TryAdd(port, listener))
            {
                throw new InvalidOperationException($"TCP port {port} is already in use");
            }
            return listener;
        }

        public ValueTask<ITcpConnection> ConnectAsync(IPEndPoint remoteEndPoint, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(remoteEndPoint);
            if (!_listeners.TryGetValue(remoteEndPoint.Port, out var listener))
            {
                throw new InvalidOperationException($"connection refused: nothing listens on port {remoteEndPoint.Port}");
            }
            var clientEnd = new IPEndPoint(IPAddress.Loopback, Interlocked.Increment(ref _nextEphemeral));
            var toServer = Channel.CreateUnbounded<byte[]>();
            var toClient = Channel.CreateUnbounded<byte[]>();
            var client = new LoopbackConnection(remoteEndPoint, toClient.Reader, toServer.Writer);
            var server = new LoopbackConnection(clientEnd, toServer.Reader, toClient.Writer);
            if (!listener.Offer(server))
            {
                throw new InvalidOperationException($"connection refused: the backlog of port {remoteEndPoint.Port} is full");
            }
            return ValueTask.FromResult<ITcpConnection>(client);
        }

        public void Release(int port) => _listeners.TryRemove(port, out _);
    }

    private sealed class LoopbackListener(LoopbackTcp network, IPEndPoint local, int backlog) : ITcpListener
    {
        private readonly Channel<ITcpConnection> _pending = Channel.CreateBounded<ITcpConnection>(Math.Max(1, backlog));

        public IPEndPoint LocalEndPoint { get; } = local;

        public bool Offer(ITcpConnection connection) => _pending.Writer.TryWrite(connection);

        public async ValueTask<ITcpConnection> AcceptAsync(CancellationToken cancellationToken) =>
            await _pending.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);

        public void Dispose()
        {
            _pending.Writer.TryComplete();
            network.Release(LocalEndPoint.Port);
        }
    }

    private sealed class LoopbackConnection(IPEndPoint remote, ChannelReader<byte[]> incoming, ChannelWriter<byte[]> outgoing) : ITcpConnection
    {
        private byte[] _current = [];
        private int _offset;

        public IPEndPoint RemoteEndPoint { get; } = remote;

        public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            while (_offset == _current.Length)
            {
                if (!await incoming.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    return 0;
                }
                if (incoming.TryRead(out var next))
                {
                    _current = next;
                    _offset = 0;
                }
            }
            var count = Math.Min(buffer.Length, _current.Length - _offset);
            _current.AsMemory(_offset, count).CopyTo(buffer);
            _offset += count;
            return count;
        }

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            if (!outgoing.TryWrite(data.ToArray()))
            {
                throw new InvalidOperationException("the connection is closed");
            }
            return ValueTask.CompletedTask;
        }

        public void ShutdownSend() => outgoing.TryComplete();

        public ValueTask DisposeAsync()
        {
            outgoing.TryComplete();
            return ValueTask.CompletedTask;
        }
    }
}
