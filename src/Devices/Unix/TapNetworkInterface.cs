using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Microsoft.Win32.SafeHandles;

namespace Unikernel.Devices.Unix;

/// <summary>
/// A Linux tap device (<c>/dev/net/tun</c> with <c>IFF_TAP | IFF_NO_PI</c>): the kernel's side is the netdev of that
/// name, ours is the "wire". The device is created if absent and, unless made persistent, vanishes when disposed.
/// Non-blocking reads and writes straight from and into the pinned batch slots; no allocation per frame.
/// Our MAC address is a locally administered one derived from the interface name (the netdev keeps its own). The MTU
/// is the netdev's (<c>SIOCGIFMTU</c>), so a tap with MTU 9000 carries 9000-byte packets. When the netdev is deleted
/// the fd answers <c>EBADFD</c>: <see cref="Receive"/> and <see cref="Send"/> then throw
/// <see cref="NetworkInterfaceGoneException"/> (a tap that is only down gives <c>EIO</c> on write: those frames are
/// dropped and counted by the caller, nothing is thrown).
/// With segmentation offload (the default) the device is opened with <c>IFF_VNET_HDR</c>: every frame is read and
/// written behind a 10-byte <c>struct virtio_net_hdr</c> (<c>readv</c>/<c>writev</c>, no copy). A frame whose
/// <see cref="DatagramBatch.SegmentSize"/> is set is a TCP/IPv4 packet of up to 64 KiB that the kernel cuts into
/// segments (<c>VIRTIO_NET_HDR_GSO_TCPV4</c> with a partial checksum); every other frame goes out behind a zero
/// header. Receive offload too, when the consumer asks (<see cref="TryEnableReceiveOffload"/>: a switch forwarding
/// frames must not get them): <c>TUNSETOFFLOAD</c> with <c>TUN_F_CSUM | TUN_F_TSO4</c> lets the kernel hand us a
/// TCP/IPv4 packet of up to 64 KiB in one read (<c>GSO_TCPV4</c>: the IP total length covers the whole packet, the IP
/// header checksum is valid) and frames whose TCP or UDP checksum it checked (<c>DATA_VALID</c>) or never computed
/// (<c>NEEDS_CSUM</c>, from the host's own stack: the field holds the pseudo-header sum); those are marked
/// <see cref="DatagramBatch.IsChecksumTrusted"/>. A header asking for anything else (UDP or IPv6 segmentation, ECN
/// segmentation, which we never offered) is dropped and counted.
/// </summary>
[SystemCalls("read", "write", "readv", "writev", "poll", Reason = "frames from and to the tap device")]
public sealed class TapNetworkInterface : INetworkInterface
{
    public const string DevicePath = "/dev/net/tun";

    private const int ORdWr = 0x2;
    private const int ONonBlock = 0x800;
    private const int OCloExec = 0x80000;
    private const ulong TunSetIff = 0x400454CA;
    private const short IffTap = 0x0002;
    private const short IffNoPi = 0x1000;
    private const short IffVnetHdr = 0x4000;
    private const ulong TunSetVnetHdrSz = 0x400454D8;
    private const ulong TunSetOffload = 0x400454D0; // _IOW('T', 208, unsigned int)
    private const uint TunFCsum = 0x01;
    private const uint TunFTso4 = 0x02;

    /// <summary>struct virtio_net_hdr (without num_buffers): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset.</summary>
    public const int VnetHeaderLength = 10;
    private const byte VnetNeedsCsum = 1;
    private const byte VnetDataValid = 2;
    private const byte VnetGsoTcpV4 = 1;
    private const int TcpChecksumOffset = 16;

    /// <summary>What <see cref="SegmentOffload"/> reports: the largest IPv4 packet the kernel takes in one write.</summary>
    public const int MaxOffloadPacket = 65535;
    private const int IfNameSize = 16;
    private const int IfReqSize = 40;
    private const short PollIn = 0x1;
    private const short PollOut = 0x4;
    private const int EIntr = 4;
    private const int EAgain = 11;
    private const int ENoent = 2;
    private const int EAcces = 13;
    private const int EPerm = 1;
    private const int EBusy = 16;
    private const int EIo = 5;
    private const int ENxio = 6;
    private const int ENodev = 19;
    private const int EBadFd = 77;
    private const int AfInet = 2;
    private const int SockDgram = 2;
    private const int DefaultMtu = 1500;
    private const int PollSliceMilliseconds = 100;

    private readonly TapHandle _handle;
    private readonly byte[] _mac = new byte[6];
    private readonly byte[] _macHash = new byte[8];
    private readonly bool _vnet;
    private int _mtu = DefaultMtu;

    // The last Receive ended on EAGAIN (the kernel's queue was empty): the next one polls first rather than paying for
    // another read that would most likely say EAGAIN again (poll returns at once when frames came in the meantime).
    private bool _drained;

    public TapNetworkInterface(string interfaceName)
        : this(interfaceName, segmentOffload: true)
    {
    }

    /// <param name="interfaceName">The netdev's name.</param>
    /// <param name="segmentOffload">Open with <c>IFF_VNET_HDR</c> and offer TCP segmentation offload (see the class summary).</param>
    public TapNetworkInterface(string interfaceName, bool segmentOffload)
    {
        ArgumentException.ThrowIfNullOrEmpty(interfaceName);
        var nameBytes = Encoding.ASCII.GetBytes(interfaceName);
        if (nameBytes.Length >= IfNameSize)
        {
            throw new ArgumentException($"interface name '{interfaceName}' is longer than {IfNameSize - 1} characters", nameof(interfaceName));
        }
        Name = interfaceName;
        var fd = Interop.Open(DevicePath, ORdWr | ONonBlock | OCloExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                ENoent => new IOException($"{DevicePath} does not exist: load the tun module (modprobe tun) or run where tap devices are available"),
                EAcces or EPerm => new UnauthorizedAccessException($"permission denied opening {DevicePath}: the tap backend needs root or CAP_NET_ADMIN"),
                _ => new IOException($"cannot open {DevicePath}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})"),
            };
        }
        _handle = new TapHandle(fd);
        Span<byte> request = stackalloc byte[IfReqSize];
        request.Clear();
        nameBytes.CopyTo(request);
        MemoryMarshal.Write(request[IfNameSize..], (short)(IffTap | IffNoPi | (segmentOffload ? IffVnetHdr : 0)));
        int result;
        unsafe
        {
            fixed (byte* pointer = request)
            {
                result = Interop.Ioctl(fd, TunSetIff, pointer);
            }
            if (result >= 0 && segmentOffload)
            {
                // The header size is the device's, kept across attachments of a persistent tap: set ours.
                var size = VnetHeaderLength;
                result = Interop.Ioctl(fd, TunSetVnetHdrSz, &size);
                if (result >= 0)
                {
                    // The offloads are the device's too, kept from an attachment before: none until asked for.
                    result = Interop.Ioctl(fd, TunSetOffload, null);
                }
            }
        }
        if (result < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            _handle.Dispose();
            throw errno switch
            {
                EPerm or EAcces => new UnauthorizedAccessException($"creating tap '{interfaceName}' was refused: the tap backend needs root or CAP_NET_ADMIN"),
                EBusy => new IOException($"tap '{interfaceName}' is already in use by another process"),
                _ => new IOException($"cannot attach to tap '{interfaceName}' (TUNSETIFF): {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})"),
            };
        }
        // A locally administered unicast address derived from the name: stable across restarts (the same DHCP lease,
        // no stale neighbour entries), different from the netdev's own address. A plain hash, not SHA-256: that would
        // load OpenSSL (about 3.5 MB of resident memory) for six bytes.
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(_macHash, NameHash("unikernel-tap:" + interfaceName));
        _macHash.AsSpan(0, 6).CopyTo(_mac);
        _mac[0] = (byte)((_mac[0] & 0xFC) | 0x02);
        _mtu = QueryMtu(interfaceName) ?? DefaultMtu;
        _vnet = segmentOffload;
    }

    /// <summary>
    /// With segmentation offload (<c>IFF_VNET_HDR</c>), asks the kernel for <c>TUN_F_CSUM | TUN_F_TSO4</c> (see the
    /// class summary); false without, or when the kernel refuses.
    /// </summary>
    public bool TryEnableReceiveOffload()
    {
        if (!_vnet)
        {
            return false;
        }
        var added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            unsafe
            {
                // TUNSETOFFLOAD takes the flags as the argument itself, not through a pointer.
                return Interop.Ioctl((int)_handle.DangerousGetHandle(), TunSetOffload, (void*)(nuint)(TunFCsum | TunFTso4)) >= 0;
            }
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    /// <summary><see cref="MaxOffloadPacket"/> when opened with segmentation offload, else 0.</summary>
    public int SegmentOffload => _vnet ? MaxOffloadPacket : 0;

    /// <summary>Frames written as offloaded TCP segments (each cut by the kernel), since the device was opened.</summary>
    public long OffloadWrites { get; private set; }

    /// <summary>Bytes of those frames (Ethernet header included).</summary>
    public long OffloadBytes { get; private set; }

    /// <summary>Frames read that asked for work we never offered (a GSO type other than TCPV4), dropped.</summary>
    public long OffloadedReadsDropped { get; private set; }

    /// <summary>Frames read as one TCP/IPv4 packet longer than the MTU (<c>GSO_TCPV4</c>), since the device was opened.</summary>
    public long OffloadReads { get; private set; }

    /// <summary>Bytes of those frames (Ethernet header included).</summary>
    public long OffloadReadBytes { get; private set; }

    /// <summary>Frames read whose transport checksum the kernel vouched for (checked or partial, GSO or not).</summary>
    public long ChecksumTrustedReads { get; private set; }

    /// <summary>What a received virtio-net header asks of us.</summary>
    public enum VnetReceive
    {
        /// <summary>A whole frame with every checksum computed: check it as usual.</summary>
        Plain,

        /// <summary>The TCP or UDP checksum was checked by the kernel or never computed: do not verify it.</summary>
        ChecksumTrusted,

        /// <summary>Like <see cref="ChecksumTrusted"/>, and the frame is a TCP/IPv4 packet larger than the MTU.</summary>
        Segmented,

        /// <summary>Something we never offered (another GSO type, ECN): drop the frame.</summary>
        Unsupported,
    }

    /// <summary>Reads a received <c>struct virtio_net_hdr</c> (<see cref="VnetHeaderLength"/> bytes; flags at 0, gso_type at 1).</summary>
    public static VnetReceive ReadVnetHeader(ReadOnlySpan<byte> header)
    {
        if (header.Length < VnetHeaderLength)
        {
            return VnetReceive.Unsupported;
        }
        var flags = header[0];
        var gso = header[1];
        if (gso == VnetGsoTcpV4)
        {
            // The kernel always leaves a GSO packet's checksum partial (NEEDS_CSUM); trust it either way.
            return VnetReceive.Segmented;
        }
        if (gso != 0)
        {
            return VnetReceive.Unsupported;
        }
        return (flags & (VnetNeedsCsum | VnetDataValid)) != 0 ? VnetReceive.ChecksumTrusted : VnetReceive.Plain;
    }

    /// <summary>
    /// Fills <paramref name="header"/> (<see cref="VnetHeaderLength"/> bytes) with the virtio-net header for
    /// <paramref name="frame"/>: zero for a frame sent as it is (<paramref name="segmentSize"/> 0); for a TCP/IPv4
    /// frame to be segmented, NEEDS_CSUM with the checksum at the TCP header's offset 16 and GSO_TCPV4 with
    /// <paramref name="segmentSize"/> payload bytes per segment. False when the frame is not an Ethernet II IPv4 TCP
    /// packet with whole headers. Little-endian: the tap's byte order on a little-endian host (TUNSETVNETBE unset).
    /// </summary>
    public static bool TryWriteVnetHeader(Span<byte> header, ReadOnlySpan<byte> frame, int segmentSize)
    {
        header[..VnetHeaderLength].Clear();
        if (segmentSize == 0)
        {
            return true;
        }
        const int ethernet = 14;
        if (frame.Length < ethernet + 20 + 20 || frame[12] != 0x08 || frame[13] != 0x00 || frame[ethernet] >> 4 != 4 || frame[ethernet + 9] != 6)
        {
            return false;
        }
        var ipHeader = (frame[ethernet] & 0xF) * 4;
        var tcpStart = ethernet + ipHeader;
        if (ipHeader < 20 || frame.Length < tcpStart + 20)
        {
            return false;
        }
        var headers = tcpStart + (frame[tcpStart + 12] >> 4) * 4;
        if (headers < tcpStart + 20 || headers > frame.Length)
        {
            return false;
        }
        header[0] = VnetNeedsCsum;
        header[1] = VnetGsoTcpV4;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(header[2..], (ushort)headers);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(header[4..], (ushort)segmentSize);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(header[6..], (ushort)tcpStart);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(header[8..], TcpChecksumOffset);
        return true;
    }

    public string Name { get; }

    public ReadOnlySpan<byte> MacAddress => _mac;

    /// <summary>
    /// The netdev's MTU, asked again on each read (the netdev can change it); when the netdev is not visible from this
    /// process's network namespace (moved elsewhere after attaching), the last value seen.
    /// </summary>
    public int Mtu
    {
        get
        {
            if (QueryMtu(Name) is { } mtu)
            {
                _mtu = mtu;
            }
            return _mtu;
        }
    }

    public int Receive(DatagramBatch frames, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(frames);
        Span<byte> vnetHeader = stackalloc byte[VnetHeaderLength];
        Span<Interop.IoVec> iovs = stackalloc Interop.IoVec[2];
        var added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            var fd = (int)_handle.DangerousGetHandle();
            if (_drained)
            {
                _drained = false;
                if (cancellationToken.IsCancellationRequested)
                {
                    frames.Count = 0;
                    return 0;
                }
                WaitFor(fd, PollIn);
            }
            while (true)
            {
                var count = 0;
                while (count < frames.Capacity)
                {
                    var slot = frames.Slot(count);
                    nint n;
                    unsafe
                    {
                        fixed (byte* pointer = slot)
                        fixed (byte* vnet = vnetHeader)
                        fixed (Interop.IoVec* iov = iovs)
                        {
                            if (_vnet)
                            {
                                iov[0] = new Interop.IoVec { Base = vnet, Length = VnetHeaderLength };
                                iov[1] = new Interop.IoVec { Base = pointer, Length = (nuint)slot.Length };
                                n = Interop.Readv(fd, iov, 2);
                            }
                            else
                            {
                                n = Interop.Read(fd, pointer, (nuint)slot.Length);
                            }
                        }
                    }
                    if (n < 0)
                    {
                        var errno = Marshal.GetLastPInvokeError();
                        if (errno == EIntr)
                        {
                            continue;
                        }
                        if (errno == EAgain)
                        {
                            _drained = count > 0;
                            break;
                        }
                        throw Failure("read from", errno);
                    }
                    var receive = VnetReceive.Plain;
                    if (_vnet)
                    {
                        receive = n < VnetHeaderLength ? VnetReceive.Unsupported : ReadVnetHeader(vnetHeader);
                        if (receive == VnetReceive.Unsupported)
                        {
                            OffloadedReadsDropped++;
                            continue;
                        }
                        n -= VnetHeaderLength;
                    }
                    frames.SetLength(count, (int)n);
                    if (receive != VnetReceive.Plain)
                    {
                        frames.SetChecksumTrusted(count, true);
                        ChecksumTrustedReads++;
                        if (receive == VnetReceive.Segmented)
                        {
                            OffloadReads++;
                            OffloadReadBytes += n;
                        }
                    }
                    count++;
                }
                if (count > 0)
                {
                    frames.Count = count;
                    return count;
                }
                if (cancellationToken.IsCancellationRequested || _handle.IsClosed)
                {
                    frames.Count = 0;
                    return 0;
                }
                WaitFor(fd, PollIn);
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
                _handle.DangerousRelease();
            }
        }
    }

    public int Send(DatagramBatch frames)
    {
        ArgumentNullException.ThrowIfNull(frames);
        Span<byte> vnetHeader = stackalloc byte[VnetHeaderLength];
        Span<Interop.IoVec> iovs = stackalloc Interop.IoVec[2];
        var added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            var fd = (int)_handle.DangerousGetHandle();
            var sent = 0;
            var dropped = 0;
            var retried = false;
            while (sent < frames.Count)
            {
                var frame = frames.Datagram(sent);
                var segmentSize = _vnet ? frames.SegmentSize(sent) : 0;
                if (_vnet && !TryWriteVnetHeader(vnetHeader, frame, segmentSize))
                {
                    sent++; // not a TCP/IPv4 frame: the caller asked for something the kernel would refuse
                    dropped++;
                    continue;
                }
                nint n;
                unsafe
                {
                    fixed (byte* pointer = frame)
                    fixed (byte* vnet = vnetHeader)
                    fixed (Interop.IoVec* iov = iovs)
                    {
                        if (_vnet)
                        {
                            iov[0] = new Interop.IoVec { Base = vnet, Length = VnetHeaderLength };
                            iov[1] = new Interop.IoVec { Base = pointer, Length = (nuint)frame.Length };
                            n = Interop.Writev(fd, iov, 2);
                        }
                        else
                        {
                            n = Interop.Write(fd, pointer, (nuint)frame.Length);
                        }
                    }
                }
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EIntr)
                    {
                        continue;
                    }
                    if (errno == EAgain && !retried)
                    {
                        // The kernel's queue is full: wait once (bounded), then give up on the rest.
                        retried = true;
                        WaitFor(fd, PollOut);
                        continue;
                    }
                    if (IsGone(errno))
                    {
                        throw Failure("write to", errno);
                    }
                    // EIO: the netdev is down. The frame is lost, as on a wire with no carrier; go on with the next.
                    if (errno == EIo)
                    {
                        sent++;
                        dropped++;
                        continue;
                    }
                    return sent - dropped;
                }
                if (segmentSize != 0)
                {
                    OffloadWrites++;
                    OffloadBytes += frame.Length;
                }
                sent++;
            }
            return sent - dropped;
        }
        catch (ObjectDisposedException)
        {
            return 0;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    public void Dispose() => _handle.Dispose();

    /// <summary>FNV-1a over the name, then the splitmix64 finalizer so that names differing in one character differ in every byte.</summary>
    private static ulong NameHash(string text)
    {
        var hash = 0xCBF29CE484222325UL;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 0x100000001B3UL;
        }
        hash = (hash ^ (hash >> 30)) * 0xBF58476D1CE4E5B9UL;
        hash = (hash ^ (hash >> 27)) * 0x94D049BB133111EBUL;
        return hash ^ (hash >> 31);
    }

    private static bool IsGone(int errno) => errno is EBadFd or ENxio or ENodev;

    private IOException Failure(string what, int errno)
    {
        var message = $"{what} tap '{Name}' failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
        return IsGone(errno) ? new NetworkInterfaceGoneException(message + "; the interface was deleted") : new IOException(message);
    }

    /// <summary>The MTU of netdev <paramref name="name"/> as this network namespace sees it; null when it is not visible.</summary>
    private static int? QueryMtu(string name)
    {
        var socket = Interop.Socket(AfInet, SockDgram | OCloExec, 0);
        if (socket < 0)
        {
            return null;
        }
        try
        {
            Span<byte> request = stackalloc byte[IfReqSize];
            request.Clear();
            Encoding.ASCII.GetBytes(name, request[..(IfNameSize - 1)]);
            unsafe
            {
                fixed (byte* pointer = request)
                {
                    if (Interop.Ioctl(socket, Interop.SIOCGIFMTU, pointer) < 0)
                    {
                        return null;
                    }
                }
            }
            var mtu = MemoryMarshal.Read<int>(request[IfNameSize..]);
            return mtu > 0 ? mtu : null;
        }
        finally
        {
            Interop.Close(socket);
        }
    }

    private static void WaitFor(int fd, short events)
    {
        Interop.PollFd poll = new() { Fd = fd, Events = events };
        unsafe
        {
            Interop.Poll(&poll, 1, PollSliceMilliseconds);
        }
    }

    private sealed class TapHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public TapHandle(int fd) : base(ownsHandle: true) => SetHandle(fd);

        protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;
    }
}
