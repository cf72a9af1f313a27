using System.Runtime.InteropServices;

namespace Unikernel.Devices;

/// <summary>
/// The libc calls of the devices, declared once each (source-generated <see cref="LibraryImportAttribute"/> stubs:
/// no reflection, AOT safe). The library is glibc's soname: a VM's initramfs holds libc.so.6 only (no libc.so
/// linker script), and the name resolves the same way under the JIT and NativeAOT.
/// Errors come back as -1 with errno in <see cref="Marshal.GetLastPInvokeError"/>.
/// </summary>
internal static unsafe partial class Interop
{
    private const string Libc = "libc.so.6";

    // errno values (x86-64 Linux)
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ENOBUFS = 105;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int ENODEV = 19;
    public const int ENOTDIR = 20;
    public const int EAFNOSUPPORT = 97;
    public const int EBADF = 9;
    public const int ECONNRESET = 104;
    public const int EINPROGRESS = 115;
    public const int EADDRINUSE = 98;
    public const int EADDRNOTAVAIL = 99;
    public const int ECONNREFUSED = 111;
    public const int ETIMEDOUT = 110;
    public const int ENETUNREACH = 101;
    public const int EHOSTUNREACH = 113;
    public const int EINVAL = 22;
    public const int EMFILE = 24;
    public const int EPIPE = 32;
    public const int ENOSYS = 38;

    // socket()
    public const int AF_UNIX = 1;
    public const int AF_PACKET = 17;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_RAW = 3;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int MSG_DONTWAIT = 0x40;
    public const int AF_INET = 2;
    public const int AF_INET6 = 10;
    public const int SOCK_STREAM = 1;
    public const int SOCK_NONBLOCK = 0x800;
    public const int MSG_WAITFORONE = 0x10000;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int SHUT_WR = 1;

    // setsockopt()/getsockopt()
    public const int SOL_SOCKET = 1;
    public const int SO_REUSEADDR = 2;
    public const int SO_ERROR = 4;
    public const int SO_SNDBUF = 7;
    public const int SO_RCVBUF = 8;
    public const int SO_RCVTIMEO = 20;
    public const int IPPROTO_TCP = 6;
    public const int TCP_NODELAY = 1;
    public const int IPPROTO_IPV6 = 41;
    public const int IPV6_V6ONLY = 26;

    // epoll
    public const uint EPOLLIN = 0x1;
    public const uint EPOLLOUT = 0x4;
    public const uint EPOLLERR = 0x8;
    public const uint EPOLLHUP = 0x10;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLET = 0x80000000;
    public const int EPOLL_CTL_ADD = 1;

    // poll()
    public const short POLLIN = 0x1;
    public const short POLLOUT = 0x4;

    // struct ifreq: char ifr_name[16]; then a union (an int, short flags or struct sockaddr), 40 bytes in all.
    public const int IFNAMSIZ = 16;
    public const int IfReqSize = 40;
    public const ulong SIOCGIFFLAGS = 0x8913;
    public const ulong SIOCSIFFLAGS = 0x8914;
    public const ulong SIOCGIFMTU = 0x8921;
    public const ulong SIOCGIFHWADDR = 0x8927;
    public const ulong SIOCGIFINDEX = 0x8933;
    public const short IFF_UP = 0x1;

    // mmap()
    public const int PROT_READ = 0x1;
    public const int PROT_WRITE = 0x2;
    public const int MAP_SHARED = 0x1;
    public static readonly nint MAP_FAILED = -1;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

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

    [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "readv", SetLastError = true)]
    public static partial nint Readv(int fd, IoVec* iov, int count);

    [LibraryImport(Libc, EntryPoint = "writev", SetLastError = true)]
    public static partial nint Writev(int fd, IoVec* iov, int count);

    [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    [LibraryImport(Libc, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initialValue, int flags);

    [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, ulong request, void* argument);

    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int command);

    [LibraryImport(Libc, EntryPoint = "dup2", SetLastError = true)]
    public static partial int Dup2(int oldFd, int newFd);

    [LibraryImport(Libc, EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(Libc, EntryPoint = "bind", SetLastError = true)]
    public static partial int Bind(int fd, void* address, uint length);

    [LibraryImport(Libc, EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOpt(int fd, int level, int name, void* value, uint length);

    [LibraryImport(Libc, EntryPoint = "sendto", SetLastError = true)]
    public static partial nint SendTo(int fd, void* buffer, nuint length, int flags, void* address, uint addressLength);

    [LibraryImport(Libc, EntryPoint = "getsockopt", SetLastError = true)]
    public static partial int GetSockOpt(int fd, int level, int name, void* value, uint* length);

    [LibraryImport(Libc, EntryPoint = "getsockname", SetLastError = true)]
    public static partial int GetSockName(int fd, void* address, uint* length);

    [LibraryImport(Libc, EntryPoint = "getpeername", SetLastError = true)]
    public static partial int GetPeerName(int fd, void* address, uint* length);

    [LibraryImport(Libc, EntryPoint = "listen", SetLastError = true)]
    public static partial int Listen(int fd, int backlog);

    [LibraryImport(Libc, EntryPoint = "accept4", SetLastError = true)]
    public static partial int Accept4(int fd, void* address, uint* length, int flags);

    [LibraryImport(Libc, EntryPoint = "connect", SetLastError = true)]
    public static partial int Connect(int fd, void* address, uint length);

    [LibraryImport(Libc, EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, void* buffer, nuint length, int flags);

    [LibraryImport(Libc, EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, void* buffer, nuint length, int flags);

    [LibraryImport(Libc, EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);

    [LibraryImport(Libc, EntryPoint = "recvmmsg", SetLastError = true)]
    public static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    [LibraryImport(Libc, EntryPoint = "sendmmsg", SetLastError = true)]
    public static partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);

    [LibraryImport(Libc, EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport(Libc, EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epfd, int op, int fd, void* ev);

    [LibraryImport(Libc, EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, void* events, int maxEvents, int timeout);

    [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport(Libc, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);

    [LibraryImport(Libc, EntryPoint = "getrandom", SetLastError = true)]
    public static partial nint GetRandom(byte* buffer, nuint length, uint flags);

    [LibraryImport(Libc, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string source, string target, string fileSystemType, ulong flags, string? data);

    [LibraryImport(Libc, EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mkdir(string path, uint mode);

    [LibraryImport(Libc, EntryPoint = "signal")]
    public static partial nint Signal(int signal, nint handler);

    [LibraryImport(Libc, EntryPoint = "sync")]
    public static partial void Sync();

    [LibraryImport(Libc, EntryPoint = "reboot", SetLastError = true)]
    public static partial int Reboot(int command);

    [LibraryImport(Libc, EntryPoint = "_exit")]
    public static partial void Exit(int status);

    /// <summary>A <see cref="System.Net.Sockets.SocketException"/> for the last call's errno, prefixed by <paramref name="what"/>.</summary>
    public static System.Net.Sockets.SocketException SocketError(string what)
    {
        return SocketError(Marshal.GetLastPInvokeError(), what);
    }

    public static System.Net.Sockets.SocketException SocketError(int errno, string what) =>
        new((int)ToSocketError(errno), what + ": " + Marshal.GetPInvokeErrorMessage(errno));

    // SocketException's code is a SocketError, not an errno: callers filter on SocketErrorCode (a port taken, refused).
    private static System.Net.Sockets.SocketError ToSocketError(int errno) => errno switch
    {
        EADDRINUSE => System.Net.Sockets.SocketError.AddressAlreadyInUse,
        EADDRNOTAVAIL => System.Net.Sockets.SocketError.AddressNotAvailable,
        ECONNREFUSED => System.Net.Sockets.SocketError.ConnectionRefused,
        ECONNRESET => System.Net.Sockets.SocketError.ConnectionReset,
        ETIMEDOUT => System.Net.Sockets.SocketError.TimedOut,
        ENETUNREACH => System.Net.Sockets.SocketError.NetworkUnreachable,
        EHOSTUNREACH => System.Net.Sockets.SocketError.HostUnreachable,
        EACCES => System.Net.Sockets.SocketError.AccessDenied,
        EAGAIN => System.Net.Sockets.SocketError.WouldBlock,
        EINVAL => System.Net.Sockets.SocketError.InvalidArgument,
        EMFILE => System.Net.Sockets.SocketError.TooManyOpenSockets,
        ENOBUFS => System.Net.Sockets.SocketError.NoBufferSpaceAvailable,
        EAFNOSUPPORT => System.Net.Sockets.SocketError.AddressFamilyNotSupported,
        EPIPE => System.Net.Sockets.SocketError.Shutdown,
        _ => System.Net.Sockets.SocketError.SocketError,
    };

    // prctl(2) is variadic in glibc; its options take unsigned longs, passed here in registers as glibc reads them.
    [LibraryImport(Libc, EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint argument2, nuint argument3, nuint argument4, nuint argument5);

    /// <summary>mallopt(3): <c>M_ARENA_MAX</c> (-8) fixes how many malloc arenas threads get.</summary>
    [LibraryImport(Libc, EntryPoint = "mallopt")]
    public static partial int Mallopt(int parameter, int value);

    /// <summary>syscall(2), for calls glibc has no wrapper for (seccomp): integer arguments only.</summary>
    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    public static partial nint Syscall(nint number, nint argument1, nint argument2, nint argument3);

    // The runtime's own native library (CoreLib's PosixSignalRegistration uses these exports): NativeAOT links it
    // into the image, so these bind at link time like libc's; under the JIT they resolve to the shared framework's copy.
    private const string SystemNative = "libSystem.Native";

    /// <summary>Starts System.Native's signal thread (idempotent); 0 on failure, with errno.</summary>
    [LibraryImport(SystemNative, EntryPoint = "SystemNative_InitializeTerminalAndSignalHandling", SetLastError = true)]
    public static partial int InitializeTerminalAndSignalHandling();

    /// <summary>The one callback System.Native's signal thread calls for an enabled signal (signal number, PosixSignal); nonzero: handled.</summary>
    [LibraryImport(SystemNative, EntryPoint = "SystemNative_SetPosixSignalHandler")]
    public static partial void SetPosixSignalHandler(delegate* unmanaged<int, int, int> handler);

    [LibraryImport(SystemNative, EntryPoint = "SystemNative_EnablePosixSignalHandling", SetLastError = true)]
    public static partial int EnablePosixSignalHandling(int signal);

    [LibraryImport(SystemNative, EntryPoint = "SystemNative_DisablePosixSignalHandling")]
    public static partial void DisablePosixSignalHandling(int signal);

    /// <summary>The platform's number for a <see cref="PosixSignal"/> (0 when it has none).</summary>
    [LibraryImport(SystemNative, EntryPoint = "SystemNative_GetPlatformSignalNumber")]
    public static partial int GetPlatformSignalNumber(int signal);

    /// <summary>Fills <paramref name="request"/> (an <c>ifreq</c>) with the interface name; false if it does not fit.</summary>
    public static bool TryWriteInterfaceName(System.Span<byte> request, string name)
    {
        request[..IfReqSize].Clear();
        if (name.Length == 0 || name.Length >= IFNAMSIZ)
        {
            return false;
        }
        for (int i = 0; i < name.Length; i++)
        {
            if (name[i] is <= ' ' or > '~')
            {
                return false;
            }
            request[i] = (byte)name[i];
        }
        return true;
    }
}
