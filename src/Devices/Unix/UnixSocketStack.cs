using System;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace Unikernel.Devices.Unix;

/// <summary>
/// The host's sockets as a network stack (the <c>socket</c> stack). UDP goes straight to the kernel with
/// <c>recvmmsg</c>/<c>sendmmsg</c> (one system call per batch, no managed socket objects on the packet path); TCP uses
/// non-blocking file descriptors and one epoll thread (<see cref="TcpPoller"/>), not System.Net.Sockets' async engine
/// (which costs image size). IPv4 and IPv6; Linux only.
/// </summary>
[SystemCalls("socket", "setsockopt", "bind", "getsockname", "close", Reason = "UDP and TCP: the jobs open, bind and close their sockets after start")]
[SystemCalls("recvmmsg", "sendmmsg", Reason = "UDP: datagrams in batches")]
[SystemCalls("listen", "accept4", "connect", "getpeername", "getsockopt", "recvfrom", "sendto", "shutdown", Reason = "TCP: connections (recv and send are recvfrom and sendto)")]
[SystemCalls("epoll_create1", "epoll_ctl", "epoll_wait", Reason = "TCP: the epoll thread")]
public sealed class UnixSocketStack : INetworkStack
{
    public UnixSocketStack()
    {
        Udp = new UnixUdp();
        Tcp = new UnixTcp();
    }

    public IUdp Udp { get; }

    public ITcp Tcp { get; }
}

internal sealed class UnixUdp : IUdp
{
    public IUdpSocket Bind(IPEndPoint localEndPoint)
    {
        ArgumentNullException.ThrowIfNull(localEndPoint);
        return new UnixUdpSocket(localEndPoint);
    }
}

internal static unsafe partial class Libc
{
    public const int AfInet = 2;
    public const int AfInet6 = 10;
    public const int SockDgram = 2;
    public const int SockCloexec = 0x80000;
    public const int SolSocket = 1;
    public const int SoReuseAddr = 2;
    public const int SoSndBuf = 7;
    public const int SoRcvBuf = 8;
    public const int SoRcvTimeo = 20;
    public const int MsgWaitForOne = 0x10000;
    public const int MsgDontWait = 0x40;
    public const int EIntr = 4;
    public const int EAgain = 11;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MMsgHdr
    {
        public MsgHdr Header;
        public uint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct TimeVal
    {
        public long Seconds;
        public long Microseconds;
    }




    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    public static partial int GetSockName(int fd, void* address, uint* length);


    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    public static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    [LibraryImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    public static partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);

    public const int SockStream = 1;
    public const int SockNonBlock = 0x800;
    public const int SoError = 4;
    public const int IpProtoTcp = 6;
    public const int TcpNoDelay = 1;
    public const int IpProtoIPv6 = 41;
    public const int IPv6V6Only = 26;
    public const int MsgNoSignal = 0x4000;
    public const int ShutWr = 1;
    public const int EInProgress = 115;
    public const int EConnReset = 104;
    public const int EBadF = 9;
    public const uint EpollIn = 0x1;
    public const uint EpollOut = 0x4;
    public const uint EpollErr = 0x8;
    public const uint EpollHup = 0x10;
    public const uint EpollRdHup = 0x2000;
    public const uint EpollEt = 0x80000000;
    public const int EpollCtlAdd = 1;

    [LibraryImport("libc", EntryPoint = "listen", SetLastError = true)]
    public static partial int Listen(int fd, int backlog);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    public static partial int Accept4(int fd, void* address, uint* length, int flags);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    public static partial int Connect(int fd, void* address, uint length);

    [LibraryImport("libc", EntryPoint = "getpeername", SetLastError = true)]
    public static partial int GetPeerName(int fd, void* address, uint* length);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    public static partial int GetSockOpt(int fd, int level, int name, void* value, uint* length);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, void* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, void* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epfd, int op, int fd, void* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, void* events, int maxEvents, int timeout);

    public static System.Net.Sockets.SocketException Error(string what)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new System.Net.Sockets.SocketException(errno, what + ": " + Marshal.GetPInvokeErrorMessage(errno));
    }
}

/// <summary>
/// A UDP socket over a raw file descriptor. Receive blocks in <c>recvmmsg</c> with a short <c>SO_RCVTIMEO</c> so
/// cancellation is noticed within <see cref="PollInterval"/>. Several threads may call Receive/Send at once (each
/// with its own batch): the kernel spreads datagrams among them.
/// </summary>
internal sealed unsafe class UnixUdpSocket : IUdpSocket
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private const int StackBatchLimit = 128;

    private readonly int _fd;
    private int _disposed;
    private int _inFlight;

    public UnixUdpSocket(IPEndPoint localEndPoint)
    {
        var peer = DatagramPeer.FromEndPoint(localEndPoint);
        var v4 = localEndPoint.AddressFamily == AddressFamily.InterNetwork;
        _fd = Interop.Socket(v4 ? Libc.AfInet : Libc.AfInet6, Libc.SockDgram | Libc.SockCloexec, 0);
        if (_fd < 0)
        {
            throw Error("socket");
        }
        try
        {
            // No SO_REUSEADDR: for UDP on Linux it would let a second socket silently share the port.
            var buffer = 4 * 1024 * 1024;
            Interop.SetSockOpt(_fd, Libc.SolSocket, Libc.SoRcvBuf, &buffer, sizeof(int));
            Interop.SetSockOpt(_fd, Libc.SolSocket, Libc.SoSndBuf, &buffer, sizeof(int));
            var timeout = new Libc.TimeVal { Seconds = 0, Microseconds = (long)PollInterval.TotalMicroseconds };
            if (Interop.SetSockOpt(_fd, Libc.SolSocket, Libc.SoRcvTimeo, &timeout, (uint)sizeof(Libc.TimeVal)) != 0)
            {
                throw Error("setsockopt(SO_RCVTIMEO)");
            }
            var address = (byte*)Unsafe.AsPointer(ref peer);
            if (Interop.Bind(_fd, address, v4 ? 16u : 28u) != 0)
            {
                throw Error($"bind {localEndPoint}");
            }
            var bound = default(DatagramPeer);
            uint length = DatagramPeer.Size;
            if (Libc.GetSockName(_fd, Unsafe.AsPointer(ref bound), &length) != 0)
            {
                throw Error("getsockname");
            }
            LocalEndPoint = bound.ToEndPoint();
        }
        catch
        {
            Interop.Close(_fd);
            throw;
        }
    }

    public IPEndPoint LocalEndPoint { get; }

    private static SocketException Error(string what)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new SocketException(errno, $"{what}: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    public int Receive(DatagramBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.Count = 0;
        Interlocked.Increment(ref _inFlight);
        try
        {
            var count = Math.Min(batch.Capacity, StackBatchLimit);
            var messages = stackalloc Libc.MMsgHdr[count];
            var iovs = stackalloc Libc.IoVec[count];
            for (var i = 0; i < count; i++)
            {
                var slot = batch.Slot(i);
                iovs[i].Base = Unsafe.AsPointer(ref MemoryMarshal.GetReference(slot)); // the batch's memory is pinned
                iovs[i].Length = (nuint)slot.Length;
                messages[i] = default;
                messages[i].Header.Name = Unsafe.AsPointer(ref batch.Peer(i));
                messages[i].Header.NameLength = DatagramPeer.Size;
                messages[i].Header.Iov = &iovs[i];
                messages[i].Header.IovLength = 1;
            }
            while (true)
            {
                if (cancellationToken.IsCancellationRequested || Volatile.Read(ref _disposed) != 0)
                {
                    return 0;
                }
                var n = Libc.RecvMMsg(_fd, messages, (uint)count, Libc.MsgWaitForOne, null);
                if (n > 0)
                {
                    for (var i = 0; i < n; i++)
                    {
                        batch.SetLength(i, (int)Math.Min(messages[i].Length, (uint)batch.SlotSize));
                    }
                    batch.Count = n;
                    return n;
                }
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno is Libc.EAgain or Libc.EIntr)
                    {
                        continue;
                    }
                    if (Volatile.Read(ref _disposed) != 0)
                    {
                        return 0;
                    }
                    throw new SocketException(errno, "recvmmsg: " + Marshal.GetPInvokeErrorMessage(errno));
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public int Send(DatagramBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0 || Volatile.Read(ref _disposed) != 0)
        {
            return 0;
        }
        Interlocked.Increment(ref _inFlight);
        try
        {
            var total = batch.Count;
            var count = Math.Min(total, StackBatchLimit);
            var messages = stackalloc Libc.MMsgHdr[count];
            var iovs = stackalloc Libc.IoVec[count];
            var sent = 0;
            while (sent < total)
            {
                var chunk = Math.Min(count, total - sent);
                for (var i = 0; i < chunk; i++)
                {
                    var slot = sent + i;
                    iovs[i].Base = Unsafe.AsPointer(ref MemoryMarshal.GetReference(batch.Slot(slot)));
                    iovs[i].Length = (nuint)batch.Length(slot);
                    messages[i] = default;
                    ref var peer = ref batch.Peer(slot);
                    messages[i].Header.Name = Unsafe.AsPointer(ref peer);
                    messages[i].Header.NameLength = peer.IsIPv4 ? 16u : 28u;
                    messages[i].Header.Iov = &iovs[i];
                    messages[i].Header.IovLength = 1;
                }
                var n = Libc.SendMMsg(_fd, messages, (uint)chunk, 0);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EIntr)
                    {
                        continue;
                    }
                    // The first datagram could not be sent (e.g. an unreachable peer): skip it, keep the rest.
                    sent++;
                    continue;
                }
                sent += Math.Max(n, 1);
            }
            return total;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // Receivers notice within one poll interval; close only when none is inside a system call on this fd.
        var deadline = Environment.TickCount64 + 2000;
        while (Volatile.Read(ref _inFlight) > 0 && Environment.TickCount64 < deadline)
        {
            Thread.Sleep(5);
        }
        Interop.Close(_fd);
    }
}

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
                    var fd = Libc.EpollCreate1(Libc.SockCloexec);
                    if (fd < 0)
                    {
                        throw Libc.Error("epoll_create1");
                    }
                    new Thread(Run) { IsBackground = true, Name = "tcp epoll" }.Start(fd);
                    Volatile.Write(ref _epoll, fd);
                }
                epoll = _epoll;
            }
        }
        Descriptors[descriptor.Fd] = descriptor;
        var ev = stackalloc byte[16];
        *(uint*)ev = Libc.EpollIn | Libc.EpollOut | Libc.EpollRdHup | Libc.EpollEt;
        *(ulong*)(ev + DataOffset) = (ulong)descriptor.Fd;
        if (Libc.EpollCtl(epoll, Libc.EpollCtlAdd, descriptor.Fd, ev) != 0)
        {
            Descriptors.TryRemove(descriptor.Fd, out _);
            throw Libc.Error("epoll_ctl");
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
            var n = Libc.EpollWait(epoll, events, max, -1);
            for (var i = 0; i < n; i++)
            {
                var ev = events + i * EventSize;
                var fd = (int)*(ulong*)(ev + DataOffset);
                if (Descriptors.TryGetValue(fd, out var descriptor))
                {
                    var flags = *(uint*)ev;
                    const uint failed = Libc.EpollErr | Libc.EpollHup;
                    descriptor.Signal((flags & (Libc.EpollIn | Libc.EpollRdHup | failed)) != 0, (flags & (Libc.EpollOut | failed)) != 0);
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
        var rc = peer ? Libc.GetPeerName(Fd, Unsafe.AsPointer(ref address), &length) : Libc.GetSockName(Fd, Unsafe.AsPointer(ref address), &length);
        if (rc != 0)
        {
            throw Libc.Error(peer ? "getpeername" : "getsockname");
        }
        return address.ToEndPoint();
    }

    public static int Open(System.Net.Sockets.AddressFamily family)
    {
        var fd = Interop.Socket(family == System.Net.Sockets.AddressFamily.InterNetwork ? Libc.AfInet : Libc.AfInet6, Libc.SockStream | Libc.SockNonBlock | Libc.SockCloexec, 0);
        if (fd < 0)
        {
            throw Libc.Error("socket");
        }
        return fd;
    }

    public int Accept() => Libc.Accept4(Fd, null, null, Libc.SockNonBlock | Libc.SockCloexec);

    public void SetOption(int level, int name, int value) => Interop.SetSockOpt(Fd, level, name, &value, sizeof(int));
}

internal sealed class UnixTcp : ITcp
{
    public unsafe ITcpListener Listen(IPEndPoint localEndPoint, int backlog = 128)
    {
        ArgumentNullException.ThrowIfNull(localEndPoint);
        var fd = TcpDescriptor.Open(localEndPoint.AddressFamily);
        try
        {
            var one = 1;
            Interop.SetSockOpt(fd, Libc.SolSocket, Libc.SoReuseAddr, &one, sizeof(int));
            if (localEndPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && localEndPoint.Address.Equals(IPAddress.IPv6Any))
            {
                var zero = 0;
                Interop.SetSockOpt(fd, Libc.IpProtoIPv6, Libc.IPv6V6Only, &zero, sizeof(int));
            }
            var address = DatagramPeer.FromEndPoint(localEndPoint);
            if (Interop.Bind(fd, Unsafe.AsPointer(ref address), localEndPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 16u : 28u) != 0)
            {
                throw Libc.Error("bind " + localEndPoint);
            }
            if (Libc.Listen(fd, backlog) != 0)
            {
                throw Libc.Error("listen");
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
            descriptor.SetOption(Libc.IpProtoTcp, Libc.TcpNoDelay, 1);
            var seq = descriptor.Sequence(write: true);
            var errno = StartConnect(descriptor.Fd, remoteEndPoint);
            if (errno == Libc.EInProgress)
            {
                await descriptor.WaitAsync(true, seq, cancellationToken).ConfigureAwait(false);
                errno = PendingError(descriptor.Fd);
            }
            if (errno != 0)
            {
                throw new System.Net.Sockets.SocketException(errno, "connect " + remoteEndPoint + ": " + Marshal.GetPInvokeErrorMessage(errno));
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
        return Libc.Connect(fd, Unsafe.AsPointer(ref address), length) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    private static unsafe int PendingError(int fd)
    {
        int error;
        uint length = sizeof(int);
        return Libc.GetSockOpt(fd, Libc.SolSocket, Libc.SoError, &error, &length) == 0 ? error : Marshal.GetLastPInvokeError();
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
                    accepted.SetOption(Libc.IpProtoTcp, Libc.TcpNoDelay, 1);
                    return new UnixTcpConnection(accepted);
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EAgain)
                {
                    await descriptor.WaitAsync(false, seq, cancellationToken).ConfigureAwait(false);
                }
                else if (errno != Libc.EIntr && errno != Libc.EConnReset)
                {
                    throw new System.Net.Sockets.SocketException(errno, "accept: " + Marshal.GetPInvokeErrorMessage(errno));
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

    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var seq = descriptor.Sequence(write: false);
            var n = Transfer(descriptor.Fd, buffer, send: false);
            if (n >= 0)
            {
                return (int)n;
            }
            var errno = (int)-n;
            if (errno == Libc.EAgain)
            {
                await descriptor.WaitAsync(false, seq, cancellationToken).ConfigureAwait(false);
            }
            else if (errno == Libc.EConnReset)
            {
                return 0;
            }
            else if (errno != Libc.EIntr)
            {
                throw new System.Net.Sockets.SocketException(errno, "recv: " + Marshal.GetPInvokeErrorMessage(errno));
            }
        }
    }

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
            if (errno == Libc.EAgain)
            {
                await descriptor.WaitAsync(true, seq, cancellationToken).ConfigureAwait(false);
            }
            else if (errno != Libc.EIntr)
            {
                throw new System.Net.Sockets.SocketException(errno, "send: " + Marshal.GetPInvokeErrorMessage(errno));
            }
        }
    }

    /// <summary>One recv or send; the byte count, or minus errno.</summary>
    private static unsafe nint Transfer(int fd, Memory<byte> buffer, bool send)
    {
        fixed (byte* p = buffer.Span)
        {
            var n = send
                ? Libc.Send(fd, p, (nuint)buffer.Length, Libc.MsgNoSignal | Libc.MsgDontWait)
                : Libc.Recv(fd, p, (nuint)buffer.Length, Libc.MsgDontWait);
            return n >= 0 ? n : -Marshal.GetLastPInvokeError();
        }
    }

    public void ShutdownSend() => Libc.Shutdown(descriptor.Fd, Libc.ShutWr);

    public ValueTask DisposeAsync()
    {
        descriptor.Close();
        return ValueTask.CompletedTask;
    }
}
