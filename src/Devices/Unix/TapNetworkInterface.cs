using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using Microsoft.Win32.SafeHandles;

namespace Unikernel.Devices.Unix;

/// <summary>
/// A Linux tap device (<c>/dev/net/tun</c> with <c>IFF_TAP | IFF_NO_PI</c>): the kernel's side is the netdev of that
/// name, ours is the "wire". The device is created if absent and, unless made persistent, vanishes when disposed.
/// Non-blocking reads and writes straight from and into the pinned batch slots; no allocation per frame.
/// Our MAC address is a locally administered one derived from the interface name (the netdev keeps its own).
/// </summary>
public sealed class TapNetworkInterface : INetworkInterface
{
    public const string DevicePath = "/dev/net/tun";

    private const int ORdWr = 0x2;
    private const int ONonBlock = 0x800;
    private const int OCloExec = 0x80000;
    private const ulong TunSetIff = 0x400454CA;
    private const short IffTap = 0x0002;
    private const short IffNoPi = 0x1000;
    private const int PollSliceMilliseconds = 100;

    private readonly TapHandle _handle;
    private readonly byte[] _mac = new byte[6];

    public TapNetworkInterface(string interfaceName)
    {
        ArgumentException.ThrowIfNullOrEmpty(interfaceName);
        var nameBytes = Encoding.ASCII.GetBytes(interfaceName);
        if (nameBytes.Length >= Interop.IFNAMSIZ)
        {
            throw new ArgumentException($"interface name '{interfaceName}' is longer than {Interop.IFNAMSIZ - 1} characters", nameof(interfaceName));
        }
        Name = interfaceName;
        var fd = Interop.Open(DevicePath, ORdWr | ONonBlock | OCloExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                Interop.ENOENT => new IOException($"{DevicePath} does not exist: load the tun module (modprobe tun) or run where tap devices are available"),
                Interop.EACCES or Interop.EPERM => new UnauthorizedAccessException($"permission denied opening {DevicePath}: the tap backend needs root or CAP_NET_ADMIN"),
                _ => new IOException($"cannot open {DevicePath}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})"),
            };
        }
        _handle = new TapHandle(fd);
        Span<byte> request = stackalloc byte[Interop.IfReqSize];
        request.Clear();
        nameBytes.CopyTo(request);
        MemoryMarshal.Write(request[Interop.IFNAMSIZ..], (short)(IffTap | IffNoPi));
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
                Interop.EPERM or Interop.EACCES => new UnauthorizedAccessException($"creating tap '{interfaceName}' was refused: the tap backend needs root or CAP_NET_ADMIN"),
                Interop.EBUSY => new IOException($"tap '{interfaceName}' is already in use by another process"),
                _ => new IOException($"cannot attach to tap '{interfaceName}' (TUNSETIFF): {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})"),
            };
        }
        // A locally administered unicast address derived from the name: stable across restarts (the same DHCP lease,
        // no stale neighbour entries), different from the netdev's own address.
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.ASCII.GetBytes("unikernel-tap:" + interfaceName), hash);
        hash[..6].CopyTo(_mac);
        _mac[0] = (byte)((_mac[0] & 0xFC) | 0x02);
    }

    public string Name { get; }

    public ReadOnlySpan<byte> MacAddress => _mac;

    public int Mtu => 1500;

    public int Receive(DatagramBatch frames, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(frames);
        var added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            var fd = (int)_handle.DangerousGetHandle();
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
                        if (errno == Interop.EINTR)
                        {
                            continue;
                        }
                        if (errno == Interop.EAGAIN)
                        {
                            break;
                        }
                        throw new IOException($"read from tap '{Name}' failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
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
                WaitFor(fd, Interop.POLLIN);
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
                    if (errno == Interop.EINTR)
                    {
                        continue;
                    }
                    if (errno == Interop.EAGAIN && !retried)
                    {
                        // The kernel's queue is full: wait once (bounded), then give up on the rest.
                        retried = true;
                        WaitFor(fd, Interop.POLLOUT);
                        continue;
                    }
                    return sent;
                }
                sent++;
            }
            return sent;
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
