using System;
using System.IO;
using System.Runtime.InteropServices;

namespace Unikernel.Devices.Vm;

/// <summary>
/// What an init must do when the appliance is PID 1 of a Unikernel VM (targets microvm and xen): the Linux kernel
/// below is only the hardware layer and the initramfs holds nothing but the appliance. Outside a VM (not PID 1)
/// every member is a no-op, so the same binary still runs on unix.
/// </summary>
/// <remarks>
/// The generated Main calls <see cref="Initialize"/> first and ends with <c>return VmInit.Exit(code);</c>.
/// Only <see cref="LibraryImportAttribute"/> P/Invokes are used (no reflection, trimming and AOT safe).
/// Meant for the VM targets only: an appliance that is PID 1 of a container would also try to mount and reboot
/// (without CAP_SYS_ADMIN / CAP_SYS_BOOT both are refused, mount errors are printed and <see cref="Exit"/> ends
/// the process with the exit code).
/// </remarks>
public static partial class VmInit
{
    private static bool s_initialized;

    /// <summary>True when this process is the VM's init (PID 1).</summary>
    public static bool IsInit => Environment.ProcessId == 1;

    /// <summary>
    /// When PID 1: mounts /proc, /sys, /dev (devtmpfs) and /tmp (tmpfs), makes sure stdin/stdout/stderr are the
    /// console, brings the loopback interface up and lets the kernel reap children. Otherwise does nothing.
    /// The NICs are configured by the kernel itself from the <c>ip=</c> kernel command line parameter.
    /// </summary>
    public static void Initialize()
    {
        if (s_initialized || !IsInit)
        {
            return;
        }
        s_initialized = true;

        Mount("proc", "/proc", "proc", Native.MS_NOSUID | Native.MS_NODEV | Native.MS_NOEXEC);
        Mount("sysfs", "/sys", "sysfs", Native.MS_NOSUID | Native.MS_NODEV | Native.MS_NOEXEC);
        Mount("devtmpfs", "/dev", "devtmpfs", Native.MS_NOSUID, "mode=0755");
        Mount("tmpfs", "/tmp", "tmpfs", Native.MS_NOSUID | Native.MS_NODEV, "mode=1777");
        Mount("tmpfs", "/dev/shm", "tmpfs", Native.MS_NOSUID | Native.MS_NODEV, "mode=1777");

        EnsureConsole();

        // Children of PID 1 (and orphans re-parented to it) are reaped by the kernel when SIGCHLD is ignored.
        Native.signal(Native.SIGCHLD, Native.SIG_IGN);

        BringUp("lo");
    }

    /// <summary>
    /// When PID 1: flushes the console, syncs and powers the VM off; never returns. Otherwise returns
    /// <paramref name="exitCode"/> (for <c>return VmInit.Exit(code);</c> in Main).
    /// </summary>
    /// <remarks>
    /// Power-off path per hypervisor: on Xen the kernel powers off
    /// (<c>reboot(RB_POWER_OFF)</c>). QEMU <c>-M microvm</c> without ACPI and Firecracker have no power-off
    /// device: there the VM reboots (<c>reboot(RB_AUTOBOOT)</c>) and the VMM is told to exit on reset
    /// (QEMU <c>-no-reboot</c> with <c>reboot=t</c>, Firecracker's i8042 reset with <c>reboot=k</c>).
    /// If that fails too, init exits and the kernel panics, which with <c>panic=1</c> also resets.
    /// </remarks>
    public static int Exit(int exitCode)
    {
        if (!IsInit)
        {
            return exitCode;
        }
        try
        {
            Console.Out.Flush();
            Console.Error.Flush();
        }
        catch (IOException)
        {
            // The console is gone: nothing left to say.
        }
        WriteConsole($"unikernel: exit {exitCode}\n");
        Native.sync();

        // Only Xen is sure to power off: an ACPI-enabled kernel without ACPI tables (the xen kernel under QEMU) halts.
        bool canPowerOff = IsXenHypervisorType();
        Native.reboot(canPowerOff ? Native.RB_POWER_OFF : Native.RB_AUTOBOOT);
        // Only reached when the kernel refused.
        Native.reboot(Native.RB_AUTOBOOT);
        Native._exit(exitCode);
        return exitCode;
    }

    private static bool IsXenHypervisorType()
    {
        try
        {
            return File.Exists("/sys/hypervisor/type") && File.ReadAllText("/sys/hypervisor/type").Trim() == "xen";
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static void Mount(string source, string target, string fsType, ulong flags, string? data = null)
    {
        Native.mkdir(target, 0x1ed /* 0755 */);
        if (Native.mount(source, target, fsType, flags, data) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Native.EBUSY)
            {
                WriteConsole($"unikernel: mount {fsType} on {target} failed: errno {errno}\n");
            }
        }
    }

    /// <summary>The kernel opens /dev/console as fds 0-2 for init when the initramfs has it; otherwise do it now.</summary>
    private static void EnsureConsole()
    {
        if (Native.fcntl(1, Native.F_GETFD) != -1)
        {
            return;
        }
        int fd = Native.open("/dev/console", Native.O_RDWR | Native.O_NOCTTY);
        if (fd < 0)
        {
            return;
        }
        for (int i = 0; i <= 2; i++)
        {
            if (fd != i)
            {
                Native.dup2(fd, i);
            }
        }
        if (fd > 2)
        {
            Native.close(fd);
        }
    }

    private static unsafe void BringUp(string interfaceName)
    {
        int fd = Native.socket(Native.AF_INET, Native.SOCK_DGRAM | Native.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            return;
        }
        try
        {
            // struct ifreq: char ifr_name[16]; union { short ifr_flags; ... } (40 bytes in all on x86-64).
            byte* ifr = stackalloc byte[40];
            new Span<byte>(ifr, 40).Clear();
            for (int i = 0; i < interfaceName.Length && i < 15; i++)
            {
                ifr[i] = (byte)interfaceName[i];
            }
            if (Native.ioctl(fd, Native.SIOCGIFFLAGS, ifr) != 0)
            {
                return;
            }
            short* flags = (short*)(ifr + 16);
            if ((*flags & Native.IFF_UP) == 0)
            {
                *flags |= Native.IFF_UP;
                Native.ioctl(fd, Native.SIOCSIFFLAGS, ifr);
            }
        }
        finally
        {
            Native.close(fd);
        }
    }

    /// <summary>Writes straight to fd 1, bypassing <see cref="Console"/> (usable at any point, also after a flush).</summary>
    private static unsafe void WriteConsole(string text)
    {
        Span<byte> bytes = stackalloc byte[512];
        int length = System.Text.Encoding.UTF8.GetBytes(text.AsSpan(0, Math.Min(text.Length, 128)), bytes);
        fixed (byte* p = bytes)
        {
            Native.write(1, p, (nuint)length);
        }
    }

    private static unsafe partial class Native
    {
        // glibc's soname: the initramfs has no libc.so linker script, and "libc" alone is not mapped by NativeAOT.
        private const string Libc = "libc.so.6";

        public const ulong MS_NOSUID = 2;
        public const ulong MS_NODEV = 4;
        public const ulong MS_NOEXEC = 8;
        public const int EBUSY = 16;
        public const int F_GETFD = 1;
        public const int O_RDWR = 2;
        public const int O_NOCTTY = 0x100;
        public const int SIGCHLD = 17;
        public static readonly nint SIG_IGN = 1;
        public const int AF_INET = 2;
        public const int SOCK_DGRAM = 2;
        public const int SOCK_CLOEXEC = 0x80000;
        public const ulong SIOCGIFFLAGS = 0x8913;
        public const ulong SIOCSIFFLAGS = 0x8914;
        public const short IFF_UP = 1;
        public const int RB_AUTOBOOT = 0x01234567;
        public const int RB_POWER_OFF = 0x4321fedc;

        [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int mount(string source, string target, string fileSystemType, ulong flags, string? data);

        [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int mkdir(string path, uint mode);

        [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int open(string path, int flags);

        [LibraryImport(Libc, SetLastError = true)]
        public static partial int fcntl(int fd, int command);

        [LibraryImport(Libc, SetLastError = true)]
        public static partial int dup2(int oldFd, int newFd);

        [LibraryImport(Libc)]
        public static partial int close(int fd);

        [LibraryImport(Libc)]
        public static partial nint write(int fd, byte* buffer, nuint count);

        [LibraryImport(Libc)]
        public static partial nint signal(int signal, nint handler);

        [LibraryImport(Libc, SetLastError = true)]
        public static partial int socket(int domain, int type, int protocol);

        [LibraryImport(Libc, SetLastError = true)]
        public static partial int ioctl(int fd, ulong request, byte* argument);

        [LibraryImport(Libc)]
        public static partial void sync();

        [LibraryImport(Libc, SetLastError = true)]
        public static partial int reboot(int command);

        [LibraryImport(Libc)]
        public static partial void _exit(int status);
    }
}
