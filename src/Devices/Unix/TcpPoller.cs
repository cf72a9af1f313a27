using System;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace Unikernel.Devices.Unix;

/// <summary>
/// One epoll thread for every TCP descriptor (registered once, edge-triggered). An operation tries its system call;
/// on EAGAIN it waits for the descriptor's next readiness edge. Sequence numbers close the race between the failed
/// call and the wait: an edge that arrives in between makes the wait return at once.
/// </summary>
internal static unsafe class TcpPoller
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, TcpDescriptor> Descriptors = new();
    private static readonly Lock StartLock = new();
    private static int _epoll = -1;

    // struct epoll_event is packed (12 bytes) on x86-64, naturally aligned (16 bytes) elsewhere.
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    public static void Register(TcpDescriptor descriptor)
    {
        var epoll = Volatile.Read(ref _epoll);
        if (epoll < 0)
        {
            lock (StartLock)
            {
                if (_epoll < 0)
                {
                    var fd = Interop.EpollCreate1(Interop.SOCK_CLOEXEC);
                    if (fd < 0)
                    {
                        throw Interop.SocketError("epoll_create1");
                    }
                    new Thread(Run) { IsBackground = true, Name = "tcp epoll" }.Start(fd);
                    Volatile.Write(ref _epoll, fd);
                }
                epoll = _epoll;
            }
        }
        Descriptors[descriptor.Fd] = descriptor;
        var ev = stackalloc byte[16];
        *(uint*)ev = Interop.EPOLLIN | Interop.EPOLLOUT | Interop.EPOLLRDHUP | Interop.EPOLLET;
        *(ulong*)(ev + DataOffset) = (ulong)descriptor.Fd;
        if (Interop.EpollCtl(epoll, Interop.EPOLL_CTL_ADD, descriptor.Fd, ev) != 0)
        {
            Descriptors.TryRemove(descriptor.Fd, out _);
            throw Interop.SocketError("epoll_ctl");
        }
    }

    public static void Unregister(int fd) => Descriptors.TryRemove(fd, out _);

    private static void Run(object? state)
    {
        var epoll = (int)state!;
        const int max = 64;
        var events = stackalloc byte[max * 16];
        while (true)
        {
            var n = Interop.EpollWait(epoll, events, max, -1);
            for (var i = 0; i < n; i++)
            {
                var ev = events + i * EventSize;
                var fd = (int)*(ulong*)(ev + DataOffset);
                if (Descriptors.TryGetValue(fd, out var descriptor))
                {
                    var flags = *(uint*)ev;
                    const uint failed = Interop.EPOLLERR | Interop.EPOLLHUP;
                    descriptor.Signal((flags & (Interop.EPOLLIN | Interop.EPOLLRDHUP | failed)) != 0, (flags & (Interop.EPOLLOUT | failed)) != 0);
                }
            }
        }
    }
}

/// <summary>A non-blocking TCP descriptor and its waiters (at most one reader and one writer at a time).</summary>
internal sealed unsafe class TcpDescriptor
{
    private readonly Lock _gate = new();
    private int _readSeq;
    private int _writeSeq;
    private TaskCompletionSource? _read;
    private TaskCompletionSource? _write;
    private bool _closed;

    public TcpDescriptor(int fd)
    {
        Fd = fd;
        TcpPoller.Register(this);
    }

    public int Fd { get; }

    public int Sequence(bool write)
    {
        lock (_gate)
        {
            return write ? _writeSeq : _readSeq;
        }
    }

    /// <summary>Waits for readiness after <paramref name="seq"/> (from <see cref="Sequence"/> before the failed call).</summary>
    public Task WaitAsync(bool write, int seq, CancellationToken cancellationToken)
    {
        TaskCompletionSource tcs;
        lock (_gate)
        {
            if (_closed)
            {
                throw new ObjectDisposedException(nameof(TcpDescriptor));
            }
            if ((write ? _writeSeq : _readSeq) != seq)
            {
                return Task.CompletedTask;
            }
            tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (write)
            {
                _write = tcs;
            }
            else
            {
                _read = tcs;
            }
        }
        return cancellationToken.CanBeCanceled ? tcs.Task.WaitAsync(cancellationToken) : tcs.Task;
    }

    public void Signal(bool read, bool write)
    {
        TaskCompletionSource? r = null, w = null;
        lock (_gate)
        {
            if (read)
            {
                _readSeq++;
                r = _read;
                _read = null;
            }
            if (write)
            {
                _writeSeq++;
                w = _write;
                _write = null;
            }
        }
        r?.TrySetResult();
        w?.TrySetResult();
    }

    public void Close()
    {
        TaskCompletionSource? r, w;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            r = _read;
            w = _write;
            _read = _write = null;
        }
        TcpPoller.Unregister(Fd);
        Interop.Close(Fd);
        r?.TrySetException(new ObjectDisposedException(nameof(TcpDescriptor)));
        w?.TrySetException(new ObjectDisposedException(nameof(TcpDescriptor)));
    }

    public IPEndPoint EndPoint(bool peer)
    {
        var address = default(DatagramPeer);
        uint length = DatagramPeer.Size;
        var rc = peer ? Interop.GetPeerName(Fd, Unsafe.AsPointer(ref address), &length) : Interop.GetSockName(Fd, Unsafe.AsPointer(ref address), &length);
        if (rc != 0)
        {
            throw Interop.SocketError(peer ? "getpeername" : "getsockname");
        }
        return address.ToEndPoint();
    }

    public static int Open(System.Net.Sockets.AddressFamily family)
    {
        var fd = Interop.Socket(family == System.Net.Sockets.AddressFamily.InterNetwork ? Interop.AF_INET : Interop.AF_INET6, Interop.SOCK_STREAM | Interop.SOCK_NONBLOCK | Interop.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw Interop.SocketError("socket");
        }
        return fd;
    }

    public int Accept() => Interop.Accept4(Fd, null, null, Interop.SOCK_NONBLOCK | Interop.SOCK_CLOEXEC);

    public void SetOption(int level, int name, int value) => Interop.SetSockOpt(Fd, level, name, &value, sizeof(int));
}
