using System;
using System.Buffers.Binary;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using Microsoft.Win32.SafeHandles;

namespace Unikernel.Devices.Vm;

/// <summary>
/// The VM's NIC (virtio-net on microvm, Xen netfront on xen) as a raw Ethernet interface for the direct stack:
/// an <c>AF_PACKET</c> socket bound to it with memory-mapped <c>TPACKET_V3</c> rings (<c>PACKET_RX_RING</c> and
/// <c>PACKET_TX_RING</c>). The kernel writes received frames into the RX ring's blocks and sends what we put into
/// the TX ring's slots, so a batch of frames costs one <c>poll</c> to wait and one <c>sendto</c> to kick, not a
/// system call per frame; frames are copied between the rings and the pinned batch slots, allocation-free.
/// The MAC address and MTU are the interface's own. The interface is brought up here: in a direct-stack VM the
/// kernel has no IP stack (CONFIG_INET off) and nothing else configures it.
/// </summary>
/// <remarks>
/// RX latency: a TPACKET_V3 block is handed to us when it is full or when its retire timer (1 ms, rounded up to
/// one kernel tick: 10 ms with the VM kernel's HZ=100) fires, so a lone frame waits up to a tick; under load blocks
/// fill and are handed over at once. Receive and Send may run on different threads; sends are serialised.
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
    private const int TPacketV3 = 2;
    private const ushort EthPAll = 0x0003;
    private const uint TpStatusKernel = 0;
    private const uint TpStatusUser = 1;
    private const uint TpStatusAvailable = 0;
    private const uint TpStatusSendRequest = 1;
    private const uint TpStatusWrongFormat = 4;
    private const uint TpStatusCsumNotReady = 8;
    private const byte PacketOutgoing = 4;

    // Ring geometry: frames of at most 2048 bytes (MTU 1500 + headers) in one-page blocks, 512 KiB of RX ring and 256 KiB
    // (128 slots) of TX ring. Small blocks and many of them: the retire timer hands over a block however few frames it
    // holds, so with 32 KiB blocks a consumer kept off the CPU for 16 timer ticks (64 ms at HZ=250, as on a loaded
    // host) found every block retired and the kernel dropped frames; 128 blocks stand 128 ticks, and a block fills
    // (and is handed over before its timer) after about 25 small frames.
    private const int BlockSize = 4 * 1024;
    private const int FrameSize = 2048;
    private const int RxBlocks = 128;
    private const int TxBlocks = 64;
    private const int RetireBlockMilliseconds = 1;

    // struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1.
    private const int BlockStatusOffset = 8;
    private const int BlockNumPacketsOffset = 12;
    private const int BlockFirstPacketOffset = 16;
    // struct tpacket3_hdr (48 bytes, TPACKET_ALIGN'ed), then struct sockaddr_ll.
    private const int HdrNextOffset = 0;
    private const int HdrSnapLength = 12;
    private const int HdrLength = 16;
    private const int HdrStatus = 20;
    private const int HdrMac = 24;
    private const int Tpacket3HeaderSize = 48;
    private const int SllPacketTypeOffset = Tpacket3HeaderSize + 10;
    // A TX frame's data follows the aligned header (TPACKET3_HDRLEN - sizeof(struct sockaddr_ll)).
    private const int TxDataOffset = Tpacket3HeaderSize;
    private const int PollSliceMilliseconds = 100;

    private readonly RingHandle _ring;
    private readonly byte[] _mac = new byte[6];
    private readonly Lock _sendGate = new();
    private readonly int _txFrames;
    private readonly int _maxFrame;

    // Receive position: the current RX block, and within a block handed to us, the next packet to copy.
    private int _rxBlock;
    private int _rxPacketsLeft;
    private int _rxPacketOffset;
    private int _txNext;

    /// <summary>Counters, for diagnostics and tests.</summary>
    public long FramesReceived { get; private set; }

    public long FramesSent { get; private set; }

    /// <summary>Frames longer than a batch slot (or than the TX slot) that were dropped.</summary>
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

                    SetOption(fd, PacketVersion, TPacketV3, "PACKET_VERSION TPACKET_V3");
                    // Best effort: our own transmissions are not looped back into the RX ring (Linux 4.20+; the
                    // packet type is checked too). The qdisc stays (PACKET_QDISC_BYPASS would drop frames when the
                    // driver's queue is momentarily full instead of queueing them).
                    TrySetOption(fd, PacketIgnoreOutgoing, 1);

                    // struct tpacket_req3: block_size, block_nr, frame_size, frame_nr, retire_blk_tov, sizeof_priv, feature_req_word.
                    uint* req = stackalloc uint[7];
                    req[0] = BlockSize;
                    req[1] = RxBlocks;
                    req[2] = FrameSize;
                    req[3] = RxBlocks * (BlockSize / FrameSize);
                    req[4] = RetireBlockMilliseconds;
                    req[5] = 0;
                    req[6] = 0;
                    SetRing(fd, PacketRxRing, req, "PACKET_RX_RING");
                    req[1] = TxBlocks;
                    req[3] = TxBlocks * (BlockSize / FrameSize);
                    req[4] = 0; // TX rings take no retire timer
                    SetRing(fd, PacketTxRing, req, "PACKET_TX_RING");

                    var length = (nuint)(BlockSize * (RxBlocks + TxBlocks));
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
        _txFrames = TxBlocks * (BlockSize / FrameSize);
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

    /// <summary>Copies frames from the blocks the kernel handed over into the batch; releases each finished block.</summary>
    private unsafe int Drain(DatagramBatch frames)
    {
        byte* rx = (byte*)_ring.Mapping;
        int count = 0;
        while (count < frames.Capacity)
        {
            byte* block = rx + (long)_rxBlock * BlockSize;
            uint* status = (uint*)(block + BlockStatusOffset);
            if (_rxPacketsLeft == 0)
            {
                if ((Volatile.Read(ref *status) & TpStatusUser) == 0)
                {
                    break; // the kernel still fills this block
                }
                _rxPacketsLeft = (int)*(uint*)(block + BlockNumPacketsOffset);
                _rxPacketOffset = (int)*(uint*)(block + BlockFirstPacketOffset);
                if (_rxPacketsLeft == 0)
                {
                    ReleaseBlock(status);
                    continue;
                }
            }
            // The kernel wrote the offsets; check them against the block so no bad value can reach outside it.
            if ((uint)_rxPacketOffset > BlockSize - Tpacket3HeaderSize - 20)
            {
                ReleaseBlock(status);
                continue;
            }
            byte* packet = block + _rxPacketOffset;
            uint next = *(uint*)(packet + HdrNextOffset);
            uint mac = *(ushort*)(packet + HdrMac);
            uint snap = *(uint*)(packet + HdrSnapLength);
            bool checksumPending = (*(uint*)(packet + HdrStatus) & TpStatusCsumNotReady) != 0;
            bool outgoing = packet[SllPacketTypeOffset] == PacketOutgoing;
            if (!outgoing && (ulong)_rxPacketOffset + mac + snap <= BlockSize)
            {
                int length = (int)snap;
                if (length <= frames.SlotSize)
                {
                    var slot = frames.Slot(count);
                    new ReadOnlySpan<byte>(packet + mac, length).CopyTo(slot);
                    frames.SetLength(count, length);
                    if (checksumPending && CompleteChecksum(slot[..length]))
                    {
                        ChecksumsCompleted++;
                    }
                    count++;
                }
                else
                {
                    Oversized++;
                }
            }
            _rxPacketsLeft--;
            _rxPacketOffset += (int)next;
            if (_rxPacketsLeft == 0 || next == 0)
            {
                _rxPacketsLeft = 0;
                ReleaseBlock(status);
            }
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

    private unsafe void ReleaseBlock(uint* status)
    {
        Volatile.Write(ref *status, TpStatusKernel);
        _rxBlock = (_rxBlock + 1) % RxBlocks;
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
        byte* tx = (byte*)_ring.Mapping + (long)RxBlocks * BlockSize;
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
            *(uint*)(slot + HdrNextOffset) = 0;
            *(uint*)(slot + HdrLength) = (uint)frame.Length;
            *(uint*)(slot + HdrSnapLength) = (uint)frame.Length;
            Volatile.Write(ref *status, TpStatusSendRequest);
            _txNext = (_txNext + 1) % _txFrames;
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
        if (Interop.SetSockOpt(fd, SolPacket, option, request, 7 * sizeof(uint)) != 0)
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
