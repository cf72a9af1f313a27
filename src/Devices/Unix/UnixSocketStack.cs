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
/// <see cref="System.Net.Sockets"/>. IPv4 and IPv6; Linux only.
/// </summary>
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

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOpt(int fd, int level, int name, void* value, uint length);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    public static partial int Bind(int fd, void* address, uint length);

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    public static partial int GetSockName(int fd, void* address, uint* length);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    public static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    [LibraryImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    public static partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);
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
        _fd = Libc.Socket(v4 ? Libc.AfInet : Libc.AfInet6, Libc.SockDgram | Libc.SockCloexec, 0);
        if (_fd < 0)
        {
            throw Error("socket");
        }
        try
        {
            // No SO_REUSEADDR: for UDP on Linux it would let a second socket silently share the port.
            var buffer = 4 * 1024 * 1024;
            Libc.SetSockOpt(_fd, Libc.SolSocket, Libc.SoRcvBuf, &buffer, sizeof(int));
            Libc.SetSockOpt(_fd, Libc.SolSocket, Libc.SoSndBuf, &buffer, sizeof(int));
            var timeout = new Libc.TimeVal { Seconds = 0, Microseconds = (long)PollInterval.TotalMicroseconds };
            if (Libc.SetSockOpt(_fd, Libc.SolSocket, Libc.SoRcvTimeo, &timeout, (uint)sizeof(Libc.TimeVal)) != 0)
            {
                throw Error("setsockopt(SO_RCVTIMEO)");
            }
            var address = (byte*)Unsafe.AsPointer(ref peer);
            if (Libc.Bind(_fd, address, v4 ? 16u : 28u) != 0)
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
            Libc.Close(_fd);
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
        Libc.Close(_fd);
    }
}

internal sealed class UnixTcp : ITcp
{
    public ITcpListener Listen(IPEndPoint localEndPoint, int backlog = 128)
    {
        ArgumentNullException.ThrowIfNull(localEndPoint);
        var socket = new Socket(localEndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (localEndPoint.AddressFamily == AddressFamily.InterNetworkV6 && localEndPoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }
            socket.Bind(localEndPoint);
            socket.Listen(backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new UnixTcpListener(socket);
    }

    public async ValueTask<ITcpConnection> ConnectAsync(IPEndPoint remoteEndPoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(remoteEndPoint);
        var socket = new Socket(remoteEndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(remoteEndPoint, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new UnixTcpConnection(socket);
    }
}

internal sealed class UnixTcpListener(Socket socket) : ITcpListener
{
    public IPEndPoint LocalEndPoint { get; } = (IPEndPoint)socket.LocalEndPoint!;

    public async ValueTask<ITcpConnection> AcceptAsync(CancellationToken cancellationToken)
    {
        try
        {
            var accepted = await socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
            accepted.NoDelay = true;
            return new UnixTcpConnection(accepted);
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    public void Dispose() => socket.Dispose();
}

internal sealed class UnixTcpConnection(Socket socket) : ITcpConnection
{
    public IPEndPoint RemoteEndPoint { get; } = (IPEndPoint)socket.RemoteEndPoint!;

    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            return await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
        {
            return 0;
        }
    }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var n = await socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            data = data[n..];
        }
    }

    public void ShutdownSend()
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // already closed by the peer
        }
    }

    public ValueTask DisposeAsync()
    {
        socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
