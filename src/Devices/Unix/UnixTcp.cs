using System;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace Unikernel.Devices.Unix;

internal sealed class UnixTcp : ITcp
{
    public unsafe ITcpListener Listen(IPEndPoint localEndPoint, int backlog = 128)
    {
        ArgumentNullException.ThrowIfNull(localEndPoint);
        var fd = TcpDescriptor.Open(localEndPoint.AddressFamily);
        try
        {
            var one = 1;
            Interop.SetSockOpt(fd, Interop.SOL_SOCKET, Interop.SO_REUSEADDR, &one, sizeof(int));
            if (localEndPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && localEndPoint.Address.Equals(IPAddress.IPv6Any))
            {
                var zero = 0;
                Interop.SetSockOpt(fd, Interop.IPPROTO_IPV6, Interop.IPV6_V6ONLY, &zero, sizeof(int));
            }
            var address = DatagramPeer.FromEndPoint(localEndPoint);
            if (Interop.Bind(fd, Unsafe.AsPointer(ref address), localEndPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 16u : 28u) != 0)
            {
                throw Interop.SocketError("bind " + localEndPoint);
            }
            if (Interop.Listen(fd, backlog) != 0)
            {
                throw Interop.SocketError("listen");
            }
        }
        catch
        {
            Interop.Close(fd);
            throw;
        }
        return new UnixTcpListener(new TcpDescriptor(fd));
    }

    public async ValueTask<ITcpConnection> ConnectAsync(IPEndPoint remoteEndPoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(remoteEndPoint);
        var descriptor = new TcpDescriptor(TcpDescriptor.Open(remoteEndPoint.AddressFamily));
        try
        {
            descriptor.SetOption(Interop.IPPROTO_TCP, Interop.TCP_NODELAY, 1);
            var seq = descriptor.Sequence(write: true);
            var errno = StartConnect(descriptor.Fd, remoteEndPoint);
            if (errno == Interop.EINPROGRESS)
            {
                await descriptor.WaitAsync(true, seq, cancellationToken).ConfigureAwait(false);
                errno = PendingError(descriptor.Fd);
            }
            if (errno != 0)
            {
                throw Interop.SocketError(errno, "connect " + remoteEndPoint);
            }
            return new UnixTcpConnection(descriptor);
        }
        catch
        {
            descriptor.Close();
            throw;
        }
    }

    private static unsafe int StartConnect(int fd, IPEndPoint remoteEndPoint)
    {
        var address = DatagramPeer.FromEndPoint(remoteEndPoint);
        var length = remoteEndPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 16u : 28u;
        return Interop.Connect(fd, Unsafe.AsPointer(ref address), length) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    private static unsafe int PendingError(int fd)
    {
        int error;
        uint length = sizeof(int);
        return Interop.GetSockOpt(fd, Interop.SOL_SOCKET, Interop.SO_ERROR, &error, &length) == 0 ? error : Marshal.GetLastPInvokeError();
    }
}

internal sealed class UnixTcpListener(TcpDescriptor descriptor) : ITcpListener
{
    private readonly AcceptOperation _accept = new(descriptor);

    public IPEndPoint LocalEndPoint { get; } = descriptor.EndPoint(peer: false);

    // Hand-written (TcpOperation), not async: see there.
    public ValueTask<ITcpConnection> AcceptAsync(CancellationToken cancellationToken) =>
        _accept.Start(cancellationToken, out var connection) ? new ValueTask<ITcpConnection>(connection) : new ValueTask<ITcpConnection>(_accept, _accept.Version);

    public void Dispose() => descriptor.Close();

    private sealed class AcceptOperation(TcpDescriptor descriptor) : TcpOperation<ITcpConnection>(descriptor, write: false)
    {
        public bool Start(CancellationToken cancellationToken, out ITcpConnection connection) => Begin(cancellationToken, out connection);

        protected override bool TryComplete(out ITcpConnection result, out int seq)
        {
            while (true)
            {
                Token.ThrowIfCancellationRequested();
                seq = Descriptor.Sequence(write: false);
                var fd = Descriptor.Accept();
                if (fd >= 0)
                {
                    var accepted = new TcpDescriptor(fd);
                    accepted.SetOption(Interop.IPPROTO_TCP, Interop.TCP_NODELAY, 1);
                    result = new UnixTcpConnection(accepted);
                    return true;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Interop.EAGAIN)
                {
                    result = null!;
                    return false;
                }
                if (errno != Interop.EINTR && errno != Interop.ECONNRESET)
                {
                    throw Interop.SocketError(errno, "accept");
                }
            }
        }

        protected override Exception Translate(Exception error) =>
            error is ObjectDisposedException or System.Net.Sockets.SocketException && Token.IsCancellationRequested ? new OperationCanceledException(Token) : error;
    }
}

internal sealed class UnixTcpConnection(TcpDescriptor descriptor) : ITcpConnection
{
    private readonly ReadOperation _read = new(descriptor);
    private readonly WriteOperation _write = new(descriptor);

    public IPEndPoint RemoteEndPoint { get; } = descriptor.EndPoint(peer: true);

    // Hand-written operations (TcpOperation), not async methods: see there. A read or write that waits allocates nothing.
    public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _read.Start(buffer, cancellationToken, out var n) ? new ValueTask<int>(n) : new ValueTask<int>(_read, _read.Version);

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        _write.Start(data, cancellationToken) ? default : new ValueTask(_write, _write.Version);

    private sealed class ReadOperation(TcpDescriptor descriptor) : TcpOperation<int>(descriptor, write: false)
    {
        // The read sequence number taken before a recv that returned less than it was offered (so the socket's receive
        // queue was empty right after it), or -1. The descriptor is edge-triggered: anything that arrives after that recv
        // raises a readiness edge, which moves the sequence number on. The next read therefore waits for that edge first
        // instead of trying a recv that would only say EAGAIN (one system call less per request-response exchange; h2o
        // reads once per request too). If the edge came already, the wait returns at once. Not once the peer has ended
        // its side or the socket failed (ReadEnded): a FIN or an error that came with the data, or before that recv, has
        // had its edge already, and the next recv reports it (0 or the error), so it is always tried then.
        private long _drainedAt = -1;
        private Memory<byte> _buffer;
        private bool _waitFirst;

        public bool Start(Memory<byte> buffer, CancellationToken cancellationToken, out int n)
        {
            _buffer = buffer;
            _waitFirst = _drainedAt >= 0 && !buffer.IsEmpty && !Descriptor.ReadEnded;
            var done = Begin(cancellationToken, out n);
            if (done)
            {
                _buffer = default;
            }
            return done;
        }

        protected override bool TryComplete(out int result, out int seq)
        {
            result = 0;
            if (_waitFirst)
            {
                _waitFirst = false;
                seq = (int)_drainedAt;
                _drainedAt = -1;
                Token.ThrowIfCancellationRequested();
                return false;
            }
            while (true)
            {
                Token.ThrowIfCancellationRequested();
                seq = Descriptor.Sequence(write: false);
                var n = UnixTcpConnection.Transfer(Descriptor.Fd, _buffer, send: false);
                if (n >= 0)
                {
                    if (n > 0 && n < _buffer.Length && !Descriptor.ReadEnded)
                    {
                        _drainedAt = (uint)seq;
                    }
                    result = (int)n;
                    _buffer = default;
                    return true;
                }
                var errno = (int)-n;
                if (errno == Interop.EAGAIN)
                {
                    return false;
                }
                if (errno == Interop.ECONNRESET)
                {
                    _buffer = default;
                    return true;
                }
                if (errno != Interop.EINTR)
                {
                    throw Interop.SocketError(errno, "recv");
                }
            }
        }
    }

    private sealed class WriteOperation(TcpDescriptor descriptor) : TcpOperation<bool>(descriptor, write: true)
    {
        private ReadOnlyMemory<byte> _data;

        public bool Start(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            _data = data;
            return Begin(cancellationToken, out _);
        }

        protected override bool TryComplete(out bool result, out int seq)
        {
            result = true;
            seq = 0;
            while (!_data.IsEmpty)
            {
                Token.ThrowIfCancellationRequested();
                seq = Descriptor.Sequence(write: true);
                var n = UnixTcpConnection.Transfer(Descriptor.Fd, MemoryMarshal.AsMemory(_data), send: true);
                if (n >= 0)
                {
                    _data = _data[(int)n..];
                    continue;
                }
                var errno = (int)-n;
                if (errno == Interop.EAGAIN)
                {
                    return false;
                }
                if (errno != Interop.EINTR)
                {
                    _data = default;
                    throw Interop.SocketError(errno, "send");
                }
            }
            _data = default;
            return true;
        }
    }

    /// <summary>One recv or send; the byte count, or minus errno.</summary>
    internal static unsafe nint Transfer(int fd, Memory<byte> buffer, bool send)
    {
        fixed (byte* p = buffer.Span)
        {
            var n = send
                ? Interop.Send(fd, p, (nuint)buffer.Length, Interop.MSG_NOSIGNAL | Interop.MSG_DONTWAIT)
                : Interop.Recv(fd, p, (nuint)buffer.Length, Interop.MSG_DONTWAIT);
            return n >= 0 ? n : -Marshal.GetLastPInvokeError();
        }
    }

    public void ShutdownSend() => Interop.Shutdown(descriptor.Fd, Interop.SHUT_WR);

    public ValueTask DisposeAsync()
    {
        descriptor.Close();
        return default;
    }
}
