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
[SystemCalls("sync", "reboot", Reason = "PID 1 at exit: sync, then power off or reset the VM")]
public static partial class VmInit
{
    private static bool s_initialized;

    // Read while starting: a sealed image may open no file at exit.
    private static bool s_canPowerOff;

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

        Mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
        Mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
        Mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
        Mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
        Mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");

        EnsureConsole();

        // Children of PID 1 (and orphans re-parented to it) are reaped by the kernel when SIGCHLD is ignored.
        Interop.Signal(SIGCHLD, SIG_IGN);

        BringUp("lo");

        // Only Xen is sure to power off: an ACPI-enabled kernel without ACPI tables (the xen kernel under QEMU) halts.
        s_canPowerOff = IsXenHypervisorType();
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
        // System.Console is never used by a sealed image (StdIo writes with write(2)); touching it now would make it
        // look at its file descriptors, which the seal does not allow.
        if (!Runtime.Seal.IsSealed)
        {
            try
            {
                Console.Out.Flush();
                Console.Error.Flush();
            }
            catch (IOException)
            {
                // The console is gone: nothing left to say.
            }
        }
        WriteConsole($"unikernel: exit {exitCode}\n");
        Interop.Sync();

        Interop.Reboot(s_canPowerOff ? RB_POWER_OFF : RB_AUTOBOOT);
        // Only reached when the kernel refused.
        Interop.Reboot(RB_AUTOBOOT);
        Interop.Exit(exitCode);
        return exitCode;
    }

    private static bool IsXenHypervisorType()
    {
        try
        {
            return File.Exists("/sys/hypervisor/type") && Runtime.TextFile.ReadAllText("/sys/hypervisor/type").Trim() == "xen";
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static void Mount(string source, string target, string fsType, ulong flags, string? data = null)
    {
        Interop.Mkdir(target, 0x1ed /* 0755 */);
        if (Interop.Mount(source, target, fsType, flags, data) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Interop.EBUSY)
            {
                WriteConsole($"unikernel: mount {fsType} on {target} failed: errno {errno}\n");
            }
        }
    }

    /// <summary>The kernel opens /dev/console as fds 0-2 for init when the initramfs has it; otherwise do it now.</summary>
    private static void EnsureConsole()
    {
        if (Interop.Fcntl(1, F_GETFD) != -1)
        {
            return;
        }
        int fd = Interop.Open("/dev/console", O_RDWR | O_NOCTTY);
        if (fd < 0)
        {
            return;
        }
        for (int i = 0; i <= 2; i++)
        {
            if (fd != i)
            {
                Interop.Dup2(fd, i);
            }
        }
        if (fd > 2)
        {
            Interop.Close(fd);
        }
    }

    private static unsafe void BringUp(string interfaceName)
    {
        // An AF_UNIX socket for the interface ioctls: the direct-stack kernel has no AF_INET (CONFIG_INET off).
        int fd = Interop.Socket(Interop.AF_UNIX, Interop.SOCK_DGRAM | Interop.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            WriteConsole($"unikernel: no socket to bring {interfaceName} up: errno {Marshal.GetLastPInvokeError()}\n");
            return;
        }
        try
        {
            byte* ifr = stackalloc byte[Interop.IfReqSize];
            if (!Interop.TryWriteInterfaceName(new Span<byte>(ifr, Interop.IfReqSize), interfaceName)
                || Interop.Ioctl(fd, Interop.SIOCGIFFLAGS, ifr) != 0)
            {
                return;
            }
            short* flags = (short*)(ifr + Interop.IFNAMSIZ);
            if ((*flags & Interop.IFF_UP) == 0)
            {
                *flags |= Interop.IFF_UP;
                Interop.Ioctl(fd, Interop.SIOCSIFFLAGS, ifr);
            }
        }
        finally
        {
            Interop.Close(fd);
        }
    }

    /// <summary>Writes straight to fd 1, bypassing <see cref="Console"/> (usable at any point, also after a flush).</summary>
    private static unsafe void WriteConsole(string text)
    {
        Span<byte> bytes = stackalloc byte[512];
        int length = System.Text.Encoding.UTF8.GetBytes(text.AsSpan(0, Math.Min(text.Length, 128)), bytes);
        fixed (byte* p = bytes)
        {
            Interop.Write(1, p, (nuint)length);
        }
    }

    // Constants of the init's own calls (<sys/mount.h>, <fcntl.h>, <signal.h>, <sys/reboot.h>); the calls are in Interop.
    private const ulong MS_NOSUID = 2;
    private const ulong MS_NODEV = 4;
    private const ulong MS_NOEXEC = 8;
    private const int F_GETFD = 1;
    private const int O_RDWR = 2;
    private const int O_NOCTTY = 0x100;
    private const int SIGCHLD = 17;
    private static readonly nint SIG_IGN = 1;
    private const int RB_AUTOBOOT = 0x01234567;
    private const int RB_POWER_OFF = 0x4321fedc;
}
