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
/// </summary>
[SystemCalls("read", "write", "poll", Reason = "frames from and to the tap device")]
public sealed class TapNetworkInterface : INetworkInterface
{
    public const string DevicePath = "/dev/net/tun";

    private const int ORdWr = 0x2;
    private const int ONonBlock = 0x800;
    private const int OCloExec = 0x80000;
    private const ulong TunSetIff = 0x400454CA;
    private const short IffTap = 0x0002;
    private const short IffNoPi = 0x1000;
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
    private int _mtu = DefaultMtu;

    // The last Receive ended on EAGAIN (the kernel's queue was empty): the next one polls first rather than paying for
    // another read that would most likely say EAGAIN again (poll returns at once when frames came in the meantime).
    private bool _drained;

    public TapNetworkInterface(string interfaceName)
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
        MemoryMarshal.Write(request[IfNameSize..], (short)(IffTap | IffNoPi));
        int result;
        unsafe
        {
            fixed (byte* pointer = request)
            {
                result = Interop.Ioctl(fd, TunSetIff, pointer);
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
                        {
                            n = Interop.Read(fd, pointer, (nuint)slot.Length);
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
                    frames.SetLength(count, (int)n);
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
                nint n;
                unsafe
                {
                    fixed (byte* pointer = frame)
                    {
                        n = Interop.Write(fd, pointer, (nuint)frame.Length);
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
