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
    public IPEndPoint LocalEndPoint { get; } = descriptor.EndPoint(peer: false);

    public async ValueTask<ITcpConnection> AcceptAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var seq = descriptor.Sequence(write: false);
                var fd = descriptor.Accept();
                if (fd >= 0)
                {
                    var accepted = new TcpDescriptor(fd);
                    accepted.SetOption(Interop.IPPROTO_TCP, Interop.TCP_NODELAY, 1);
                    return new UnixTcpConnection(accepted);
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Interop.EAGAIN)
                {
                    await descriptor.WaitAsync(false, seq, cancellationToken).ConfigureAwait(false);
                }
                else if (errno != Interop.EINTR && errno != Interop.ECONNRESET)
                {
                    throw Interop.SocketError(errno, "accept");
                }
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or System.Net.Sockets.SocketException && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    public void Dispose() => descriptor.Close();
}

internal sealed class UnixTcpConnection(TcpDescriptor descriptor) : ITcpConnection
{
    public IPEndPoint RemoteEndPoint { get; } = descriptor.EndPoint(peer: true);

    // The read sequence number taken before a recv that returned less than it was offered (so the socket's receive
    // queue was empty right after it), or -1. The descriptor is edge-triggered: anything that arrives after that recv
    // raises a readiness edge, which moves the sequence number on. The next read therefore waits for that edge first
    // instead of trying a recv that would only say EAGAIN (one system call less per request-response exchange; h2o
    // reads once per request too). If the edge came already, the wait returns at once. Not once the peer has ended
    // its side or the socket failed (ReadEnded): a FIN or an error that came with the data, or before that recv, has
    // had its edge already, and the next recv reports it (0 or the error), so it is always tried then.
    private long _drainedAt = -1;

    // Pooled state machines: a read or write that waits allocates nothing.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_drainedAt >= 0 && !buffer.IsEmpty && !descriptor.ReadEnded)
        {
            var drained = (int)_drainedAt;
            _drainedAt = -1;
            cancellationToken.ThrowIfCancellationRequested();
            await descriptor.WaitAsync(false, drained, cancellationToken).ConfigureAwait(false);
        }
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var seq = descriptor.Sequence(write: false);
            var n = Transfer(descriptor.Fd, buffer, send: false);
            if (n >= 0)
            {
                if (n > 0 && n < buffer.Length && !descriptor.ReadEnded)
                {
                    _drainedAt = (uint)seq;
                }
                return (int)n;
            }
            var errno = (int)-n;
            if (errno == Interop.EAGAIN)
            {
                await descriptor.WaitAsync(false, seq, cancellationToken).ConfigureAwait(false);
            }
            else if (errno == Interop.ECONNRESET)
            {
                return 0;
            }
            else if (errno != Interop.EINTR)
            {
                throw Interop.SocketError(errno, "recv");
            }
        }
    }

    // Pooled state machines: a read or write that waits allocates nothing.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var seq = descriptor.Sequence(write: true);
            var n = Transfer(descriptor.Fd, MemoryMarshal.AsMemory(data), send: true);
            if (n >= 0)
            {
                data = data[(int)n..];
                continue;
            }
            var errno = (int)-n;
            if (errno == Interop.EAGAIN)
            {
                await descriptor.WaitAsync(true, seq, cancellationToken).ConfigureAwait(false);
            }
            else if (errno != Interop.EINTR)
            {
                throw Interop.SocketError(errno, "send");
            }
        }
    }

    /// <summary>One recv or send; the byte count, or minus errno.</summary>
    private static unsafe nint Transfer(int fd, Memory<byte> buffer, bool send)
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
        return ValueTask.CompletedTask;
    }
}
