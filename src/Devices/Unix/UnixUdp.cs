using System;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace Unikernel.Devices.Unix;

internal sealed class UnixUdp : IUdp
{
    public IUdpSocket Bind(IPEndPoint localEndPoint)
    {
        ArgumentNullException.ThrowIfNull(localEndPoint);
        return new UnixUdpSocket(localEndPoint);
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
        _fd = Interop.Socket(v4 ? Interop.AF_INET : Interop.AF_INET6, Interop.SOCK_DGRAM | Interop.SOCK_CLOEXEC, 0);
        if (_fd < 0)
        {
            throw Interop.SocketError("socket");
        }
        try
        {
            // No SO_REUSEADDR: for UDP on Linux it would let a second socket silently share the port.
            var buffer = 4 * 1024 * 1024;
            Interop.SetSockOpt(_fd, Interop.SOL_SOCKET, Interop.SO_RCVBUF, &buffer, sizeof(int));
            Interop.SetSockOpt(_fd, Interop.SOL_SOCKET, Interop.SO_SNDBUF, &buffer, sizeof(int));
            var timeout = new Interop.TimeVal { Seconds = 0, Microseconds = (long)PollInterval.TotalMicroseconds };
            if (Interop.SetSockOpt(_fd, Interop.SOL_SOCKET, Interop.SO_RCVTIMEO, &timeout, (uint)sizeof(Interop.TimeVal)) != 0)
            {
                throw Interop.SocketError("setsockopt(SO_RCVTIMEO)");
            }
            var address = (byte*)Unsafe.AsPointer(ref peer);
            if (Interop.Bind(_fd, address, v4 ? 16u : 28u) != 0)
            {
                throw Interop.SocketError($"bind {localEndPoint}");
            }
            var bound = default(DatagramPeer);
            uint length = DatagramPeer.Size;
            if (Interop.GetSockName(_fd, Unsafe.AsPointer(ref bound), &length) != 0)
            {
                throw Interop.SocketError("getsockname");
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

    public int Receive(DatagramBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.Count = 0;
        Interlocked.Increment(ref _inFlight);
        try
        {
            var count = Math.Min(batch.Capacity, StackBatchLimit);
            var messages = stackalloc Interop.MMsgHdr[count];
            var iovs = stackalloc Interop.IoVec[count];
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
                var n = Interop.RecvMMsg(_fd, messages, (uint)count, Interop.MSG_WAITFORONE, null);
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
                    if (errno is Interop.EAGAIN or Interop.EINTR)
                    {
                        continue;
                    }
                    if (Volatile.Read(ref _disposed) != 0)
                    {
                        return 0;
                    }
                    throw Interop.SocketError(errno, "recvmmsg");
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
            var messages = stackalloc Interop.MMsgHdr[count];
            var iovs = stackalloc Interop.IoVec[count];
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
                var n = Interop.SendMMsg(_fd, messages, (uint)chunk, 0);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Interop.EINTR)
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
