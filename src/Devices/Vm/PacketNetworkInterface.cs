using System;
using System.Buffers.Binary;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using Microsoft.Win32.SafeHandles;

namespace Unikernel.Devices.Vm;

/// <summary>
/// The VM's NIC (virtio-net on microvm, Xen netfront on xen) as a raw Ethernet interface for the direct stack:
/// an <c>AF_PACKET</c> socket bound to it with memory-mapped <c>TPACKET_V2</c> rings (<c>PACKET_RX_RING</c> and
/// <c>PACKET_TX_RING</c>). The kernel writes received frames into the RX ring's slots and sends what we put into
/// the TX ring's slots, so a batch of frames costs one <c>poll</c> to wait and one <c>sendto</c> to kick, not a
/// system call per frame; frames are copied between the rings and the pinned batch slots, allocation-free.
/// The MAC address and MTU are the interface's own. The interface is brought up here: in a direct-stack VM the
/// kernel has no IP stack (CONFIG_INET off) and nothing else configures it.
/// </summary>
/// <remarks>
/// RX latency: every TPACKET_V2 slot has its own status word, so a frame is ours as soon as the kernel has written
/// it, and a lone request waits for nothing. (TPACKET_V3, used before, hands a block over only when it is full or
/// when its retire timer fires: 1 ms, rounded up to a kernel tick, 10 ms with the VM kernel's HZ=100, so every lone
/// frame waited up to a tick, and the OpenFlow latency benchmark made 14k round trips a second over it.) Under load
/// a Receive still takes every frame that is ready at once. Receive and Send may run on different threads; sends
/// are serialised.
/// </remarks>
[SystemCalls("poll", "sendto", Reason = "the packet rings: wait for frames, kick the transmit ring")]
public sealed class PacketNetworkInterface : INetworkInterface
{
    // <linux/if_packet.h>, <linux/if_ether.h>
    private const int SolPacket = 263;
    private const int PacketRxRing = 5;
    private const int PacketVersion = 10;
    private const int PacketTxRing = 13;
    private const int PacketIgnoreOutgoing = 23;
    private const int TPacketV2 = 1;
    private const ushort EthPAll = 0x0003;
    private const uint TpStatusKernel = 0;
    private const uint TpStatusUser = 1;
    private const uint TpStatusAvailable = 0;
    private const uint TpStatusSendRequest = 1;
    private const uint TpStatusWrongFormat = 4;
    private const uint TpStatusCsumNotReady = 8;
    private const byte PacketOutgoing = 4;

    // Ring geometry: slots of 2048 bytes (MTU 1500 + headers), two to a page-sized block; 1024 RX slots (2 MiB: a
    // consumer kept off the CPU for a while finds up to 1024 frames waiting, not dropped) and 128 TX slots (256 KiB).
    private const int BlockSize = 4 * 1024;
    private const int FrameSize = 2048;
    private const int RxFrames = 1024;
    private const int TxFrames = 128;
    private const int FramesPerBlock = BlockSize / FrameSize;

    // struct tpacket2_hdr (32 bytes, TPACKET_ALIGN'ed), then struct sockaddr_ll.
    private const int HdrStatus = 0;
    private const int HdrLength = 4;
    private const int HdrSnapLength = 8;
    private const int HdrMac = 12;
    private const int Tpacket2HeaderSize = 32;
    private const int SllPacketTypeOffset = Tpacket2HeaderSize + 10;
    // A TX frame's data follows the aligned header (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)).
    private const int TxDataOffset = Tpacket2HeaderSize;
    private const int PollSliceMilliseconds = 100;

    private readonly RingHandle _ring;
    private readonly byte[] _mac = new byte[6];
    private readonly Lock _sendGate = new();
    private readonly int _maxFrame;

    private int _rxNext; // the RX slot to look at next
    private int _txNext;

    /// <summary>Counters, for diagnostics and tests.</summary>
    public long FramesReceived { get; private set; }

    public long FramesSent { get; private set; }

    /// <summary>Frames longer than a batch slot (or than a ring slot: the kernel truncated them) that were dropped.</summary>
    public long Oversized { get; private set; }

    /// <summary>Received frames whose TCP/UDP checksum the sender left to offload and this device finished.</summary>
    public long ChecksumsCompleted { get; private set; }

    /// <summary>Frames the kernel rejected or that found no free TX slot.</summary>
    public long TransmitDrops { get; private set; }

    public PacketNetworkInterface(string interfaceName)
    {
        ArgumentNullException.ThrowIfNull(interfaceName);
        Span<byte> request = stackalloc byte[Interop.IfReqSize];
        if (!Interop.TryWriteInterfaceName(request, interfaceName))
        {
            throw new ArgumentException($"'{interfaceName}' is not an interface name (1 to {Interop.IFNAMSIZ - 1} printable ASCII characters)", nameof(interfaceName));
        }
        Name = interfaceName;

        // Protocol 0: no frames are queued before the rings exist; bind() below starts reception.
        int fd = Interop.Socket(Interop.AF_PACKET, Interop.SOCK_RAW | Interop.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                Interop.EPERM or Interop.EACCES => new UnauthorizedAccessException("an AF_PACKET socket needs root or CAP_NET_RAW"),
                Interop.EAFNOSUPPORT => new IOException("the kernel has no AF_PACKET (CONFIG_PACKET)"),
                _ => Failure("socket(AF_PACKET)", errno),
            };
        }
        var ring = new RingHandle(fd);
        try
        {
            unsafe
            {
                fixed (byte* ifr = request)
                {
                    int index = InterfaceIoctl(fd, Interop.SIOCGIFINDEX, ifr, interfaceName);
                    InterfaceIoctl(fd, Interop.SIOCGIFHWADDR, ifr, interfaceName);
                    // ifr_hwaddr: struct sockaddr { sa_family; sa_data[14] }, the MAC in its first 6 bytes.
                    request.Slice(Interop.IFNAMSIZ + 2, 6).CopyTo(_mac);
                    InterfaceIoctl(fd, Interop.SIOCGIFMTU, ifr, interfaceName);
                    Mtu = BinaryPrimitives.ReadInt32LittleEndian(request[Interop.IFNAMSIZ..]);
                    InterfaceIoctl(fd, Interop.SIOCGIFFLAGS, ifr, interfaceName);
                    short flags = BinaryPrimitives.ReadInt16LittleEndian(request[Interop.IFNAMSIZ..]);
                    if ((flags & Interop.IFF_UP) == 0)
                    {
                        BinaryPrimitives.WriteInt16LittleEndian(request[Interop.IFNAMSIZ..], (short)(flags | Interop.IFF_UP));
                        InterfaceIoctl(fd, Interop.SIOCSIFFLAGS, ifr, interfaceName);
                    }

                    SetOption(fd, PacketVersion, TPacketV2, "PACKET_VERSION TPACKET_V2");
                    // Best effort: our own transmissions are not looped back into the RX ring (Linux 4.20+; the
                    // packet type is checked too). The qdisc stays (PACKET_QDISC_BYPASS would drop frames when the
                    // driver's queue is momentarily full instead of queueing them).
                    TrySetOption(fd, PacketIgnoreOutgoing, 1);

                    // struct tpacket_req: block_size, block_nr, frame_size, frame_nr.
                    uint* req = stackalloc uint[4];
                    req[0] = BlockSize;
                    req[1] = RxFrames / FramesPerBlock;
                    req[2] = FrameSize;
                    req[3] = RxFrames;
                    SetRing(fd, PacketRxRing, req, "PACKET_RX_RING");
                    req[1] = TxFrames / FramesPerBlock;
                    req[3] = TxFrames;
                    SetRing(fd, PacketTxRing, req, "PACKET_TX_RING");

                    var length = (nuint)(FrameSize * (RxFrames + TxFrames));
                    nint map = Interop.Mmap(0, length, Interop.PROT_READ | Interop.PROT_WRITE, Interop.MAP_SHARED, fd, 0);
                    if (map == Interop.MAP_FAILED)
                    {
                        throw Failure("mmap of the packet rings", Marshal.GetLastPInvokeError());
                    }
                    ring.SetMapping(map, length);

                    // struct sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8].
                    byte* sll = stackalloc byte[20];
                    new Span<byte>(sll, 20).Clear();
                    BinaryPrimitives.WriteUInt16LittleEndian(new Span<byte>(sll, 2), Interop.AF_PACKET);
                    BinaryPrimitives.WriteUInt16BigEndian(new Span<byte>(sll + 2, 2), EthPAll);
                    BinaryPrimitives.WriteInt32LittleEndian(new Span<byte>(sll + 4, 4), index);
                    if (Interop.Bind(fd, sll, 20) != 0)
                    {
                        throw Failure($"bind to '{interfaceName}'", Marshal.GetLastPInvokeError());
                    }
                }
            }
        }
        catch
        {
            ring.Dispose();
            throw;
        }
        _ring = ring;
        _maxFrame = FrameSize - TxDataOffset;
    }

    public string Name { get; }

    public ReadOnlySpan<byte> MacAddress => _mac;

    public int Mtu { get; }

    public int Receive(DatagramBatch frames, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(frames);
        var added = false;
        try
        {
            _ring.DangerousAddRef(ref added);
            while (true)
            {
                int count = Drain(frames);
                if (count > 0)
                {
                    frames.Count = count;
                    FramesReceived += count;
                    return count;
                }
                if (cancellationToken.IsCancellationRequested || _ring.IsClosed)
                {
                    frames.Count = 0;
                    return 0;
                }
                Wait(Interop.POLLIN);
            }
        }
        catch (ObjectDisposedException)
        {
            frames.Count = 0;
            return 0;
        }
        finally
        {
            if (added)
            {
                _ring.DangerousRelease();
            }
        }
    }

    /// <summary>Copies the frames the kernel handed over into the batch, giving each slot back as it goes.</summary>
    private unsafe int Drain(DatagramBatch frames)
    {
        byte* rx = (byte*)_ring.Mapping;
        int count = 0;
        while (count < frames.Capacity)
        {
            // Slots are contiguous: two to a block, blocks back to back.
            byte* slot = rx + (long)_rxNext * FrameSize;
            uint* status = (uint*)(slot + HdrStatus);
            uint flags = Volatile.Read(ref *status);
            if ((flags & TpStatusUser) == 0)
            {
                break; // the kernel has not filled this slot yet
            }
            // The kernel wrote the offsets; check them against the slot so no bad value can reach outside it.
            uint mac = *(ushort*)(slot + HdrMac);
            uint snap = *(uint*)(slot + HdrSnapLength);
            uint length = *(uint*)(slot + HdrLength);
            bool outgoing = slot[SllPacketTypeOffset] == PacketOutgoing;
            if (!outgoing)
            {
                if ((ulong)mac + snap <= FrameSize && snap == length && length <= (uint)frames.SlotSize)
                {
                    var target = frames.Slot(count);
                    new ReadOnlySpan<byte>(slot + mac, (int)length).CopyTo(target);
                    frames.SetLength(count, (int)length);
                    if ((flags & TpStatusCsumNotReady) != 0 && CompleteChecksum(target[..(int)length]))
                    {
                        ChecksumsCompleted++;
                    }
                    count++;
                }
                else
                {
                    Oversized++; // longer than the batch slot, or truncated to the ring slot
                }
            }
            Volatile.Write(ref *status, TpStatusKernel);
            _rxNext = (_rxNext + 1) % RxFrames;
        }
        return count;
    }

    /// <summary>
    /// A frame from the host with checksum offload (virtio-net's VIRTIO_NET_F_GUEST_CSUM, as QEMU and Firecracker
    /// offer it) carries a TCP/UDP checksum the sender left for hardware to finish (TP_STATUS_CSUMNOTREADY); the
    /// direct stack checks checksums, so finish it here: the full sum over the pseudo-header and the segment.
    /// Other frames (not IPv4, fragments, short ones) are left as they are.
    /// </summary>
    private static bool CompleteChecksum(Span<byte> frame)
    {
        const int ip = 14;
        if (frame.Length < ip + 20 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != 0x0800 || (frame[ip] >> 4) != 4)
        {
            return false;
        }
        int headerLength = (frame[ip] & 0xf) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(frame[(ip + 2)..]);
        bool fragment = (BinaryPrimitives.ReadUInt16BigEndian(frame[(ip + 6)..]) & 0x3fff) != 0;
        if (headerLength < 20 || totalLength < headerLength || ip + totalLength > frame.Length || fragment)
        {
            return false;
        }
        byte protocol = frame[ip + 9];
        int checksumAt = protocol switch { 6 => 16, 17 => 6, _ => -1 };
        int segmentLength = totalLength - headerLength;
        if (checksumAt < 0 || segmentLength < checksumAt + 2)
        {
            return false;
        }
        var segment = frame.Slice(ip + headerLength, segmentLength);
        segment.Slice(checksumAt, 2).Clear();
        // Pseudo-header: source, destination, zero + protocol, segment length.
        ulong sum = Sum(frame.Slice(ip + 12, 8)) + protocol + (uint)segmentLength + Sum(segment);
        while (sum > 0xffff)
        {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        ushort checksum = (ushort)~sum;
        if (checksum == 0 && protocol == 17)
        {
            checksum = 0xffff; // UDP: 0 means "no checksum"
        }
        BinaryPrimitives.WriteUInt16BigEndian(segment[checksumAt..], checksum);
        return true;
    }

    private static ulong Sum(ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }
        if (i < data.Length)
        {
            sum += (ulong)data[i] << 8;
        }
        return sum;
    }

    public int Send(DatagramBatch frames)
    {
        ArgumentNullException.ThrowIfNull(frames);
        var added = false;
        try
        {
            _ring.DangerousAddRef(ref added);
            lock (_sendGate)
            {
                return SendLocked(frames);
            }
        }
        catch (ObjectDisposedException)
        {
            return 0;
        }
        finally
        {
            if (added)
            {
                _ring.DangerousRelease();
            }
        }
    }

    private unsafe int SendLocked(DatagramBatch frames)
    {
        byte* tx = (byte*)_ring.Mapping + (long)RxFrames * FrameSize;
        int queued = 0;
        bool waited = false;
        for (int i = 0; i < frames.Count; i++)
        {
            var frame = frames.Datagram(i);
            if (frame.Length > _maxFrame)
            {
                Oversized++;
                continue;
            }
            byte* slot = tx + (long)_txNext * FrameSize;
            uint* status = (uint*)(slot + HdrStatus);
            uint current = Volatile.Read(ref *status);
            if (current == TpStatusWrongFormat)
            {
                TransmitDrops++; // an earlier frame the kernel refused; the slot is ours again
                current = TpStatusAvailable;
            }
            if (current != TpStatusAvailable)
            {
                // Ring full: hand over what is queued and wait once (bounded) for the kernel to free slots.
                if (waited || !Kick(blocking: false) || !WaitForSlot(status))
                {
                    TransmitDrops += frames.Count - i;
                    break;
                }
                waited = true;
            }
            frame.CopyTo(new Span<byte>(slot + TxDataOffset, _maxFrame));
            *(uint*)(slot + HdrLength) = (uint)frame.Length;
            *(uint*)(slot + HdrSnapLength) = (uint)frame.Length;
            Volatile.Write(ref *status, TpStatusSendRequest);
            _txNext = (_txNext + 1) % TxFrames;
            queued++;
        }
        if (queued > 0 && !Kick(blocking: false))
        {
            return 0;
        }
        FramesSent += queued;
        return queued;
    }

    /// <summary>One sendto() hands every slot marked SEND_REQUEST to the driver.</summary>
    private unsafe bool Kick(bool blocking)
    {
        int fd = (int)_ring.DangerousGetHandle();
        while (true)
        {
            if (Interop.SendTo(fd, null, 0, blocking ? 0 : Interop.MSG_DONTWAIT, null, 0) >= 0)
            {
                return true;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Interop.EINTR)
            {
                continue;
            }
            // EAGAIN / ENOBUFS: the driver's queue is full; the slots stay requested and go with the next kick.
            return errno is Interop.EAGAIN or Interop.ENOBUFS;
        }
    }

    private unsafe bool WaitForSlot(uint* status)
    {
        for (int attempt = 0; attempt < 10; attempt++)
        {
            uint current = Volatile.Read(ref *status);
            if (current is TpStatusAvailable or TpStatusWrongFormat)
            {
                return true;
            }
            Wait(Interop.POLLOUT, 10);
        }
        return false;
    }

    public void Dispose() => _ring.Dispose();

    private unsafe void Wait(short events, int milliseconds = PollSliceMilliseconds)
    {
        var poll = new Interop.PollFd { Fd = (int)_ring.DangerousGetHandle(), Events = events };
        Interop.Poll(&poll, 1, milliseconds);
    }

    private static unsafe int InterfaceIoctl(int fd, ulong request, byte* ifr, string name)
    {
        if (Interop.Ioctl(fd, request, ifr) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno == Interop.ENODEV
                ? new IOException($"no network interface '{name}' (in a VM the NIC is eth0; is a NIC attached to the VM?)")
                : Failure($"ioctl 0x{request:x} on '{name}'", errno);
        }
        return BinaryPrimitives.ReadInt32LittleEndian(new ReadOnlySpan<byte>(ifr + Interop.IFNAMSIZ, 4));
    }

    private static unsafe void SetOption(int fd, int option, int value, string what)
    {
        if (Interop.SetSockOpt(fd, SolPacket, option, &value, sizeof(int)) != 0)
        {
            throw Failure($"setsockopt {what}", Marshal.GetLastPInvokeError());
        }
    }

    private static unsafe void TrySetOption(int fd, int option, int value) =>
        Interop.SetSockOpt(fd, SolPacket, option, &value, sizeof(int));

    private static unsafe void SetRing(int fd, int option, uint* request, string what)
    {
        if (Interop.SetSockOpt(fd, SolPacket, option, request, 4 * sizeof(uint)) != 0)
        {
            throw Failure($"setsockopt {what}", Marshal.GetLastPInvokeError());
        }
    }

    private static IOException Failure(string what, int errno) =>
        new($"{what} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");

    /// <summary>The socket and its ring mapping: unmapped and closed when the last user (a Receive or Send in flight) is done.</summary>
    private sealed class RingHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        private nuint _length;

        public RingHandle(int fd) : base(ownsHandle: true) => SetHandle(fd);

        public nint Mapping { get; private set; }

        public void SetMapping(nint address, nuint length)
        {
            Mapping = address;
            _length = length;
        }

        protected override bool ReleaseHandle()
        {
            if (Mapping != 0)
            {
                Interop.Munmap(Mapping, _length);
                Mapping = 0;
            }
            return Interop.Close((int)handle) == 0;
        }
    }
}
