using System;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace ForbiddenAppliance;

/// <summary>
/// After start, makes one call the seal forbids, then reports what it got: a sealed image never gets to report,
/// because the call ends the process (SIGSYS). Unsealed, each call works and leaves its mark.
/// </summary>
public sealed partial class ForbiddenJob(IConsole console, INetworkStack stack, string @try, string marker, string peer) : IJob
{
    public async Job RunAsync(CancellationToken cancellationToken)
    {
        GC.KeepAlive(stack);
        console.WriteLine($"forbidden: started (sealed: {(Unikernel.Runtime.Seal.IsSealed ? "yes" : "no")}), trying '{@try}'");
        switch (@try)
        {
            case "":
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                return;
            case "execve":
                Execve(marker);
                break;
            case "openat":
                var fd = OpenAt(-100 /* AT_FDCWD */, "/etc/passwd", 0);
                console.WriteLine($"forbidden: openat returned {fd}");
                if (fd >= 0 && marker.Length > 0)
                {
                    System.IO.File.WriteAllText(marker, "read /etc/passwd\n");
                }
                break;
            case "socket":
                console.WriteLine($"forbidden: socket returned {Socket(2 /* AF_INET */, 2 /* SOCK_DGRAM */, 0)}");
                break;
            case "write-socket":
                WriteToNewSocket();
                break;
            case "write-fd":
                // A descriptor number nothing opened: unsealed, EBADF.
                console.WriteLine($"forbidden: write to fd 1000 returned {WriteNative(1000, "x"u8.ToArray(), 1)}");
                break;
            case "ptrace":
                console.WriteLine($"forbidden: ptrace returned {Ptrace(0 /* PTRACE_TRACEME */, 0, 0, 0)}");
                break;
            default:
                console.WriteLine($"forbidden: unknown call '{@try}'");
                break;
        }
        console.WriteLine("forbidden: still alive");
    }

    /// <summary>execve("/bin/sh", ["/bin/sh", "-c", "echo ... > marker"]): on success the shell replaces the appliance.</summary>
    private void Execve(string file)
    {
        string[] argv = ["/bin/sh", "-c", $"echo executed > '{file}'"];
        var pointers = new IntPtr[argv.Length + 1];
        for (var i = 0; i < argv.Length; i++)
        {
            pointers[i] = Marshal.StringToCoTaskMemUTF8(argv[i]);
        }
        var envp = new IntPtr[1];
        var result = ExecveNative("/bin/sh", pointers, envp);
        console.WriteLine($"forbidden: execve returned {result} (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>
    /// A UDP socket opened now (socket and connect are allowed on the socket stack), written with write(2) rather than
    /// send: unsealed, the datagram reaches <c>peer</c> (ADDRESS:PORT, IPv4); sealed, write is only for the
    /// descriptors open when the appliance was sealed.
    /// </summary>
    private void WriteToNewSocket()
    {
        var colon = peer.LastIndexOf(':');
        var address = System.Net.IPAddress.Parse(peer[..colon]).GetAddressBytes();
        var port = ushort.Parse(peer[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var fd = Socket(2 /* AF_INET */, 2 /* SOCK_DGRAM */, 0);
        // struct sockaddr_in: family, port (network order), address, zero padding
        var sockaddr = new byte[16];
        sockaddr[0] = 2;
        sockaddr[2] = (byte)(port >> 8);
        sockaddr[3] = (byte)port;
        address.CopyTo(sockaddr, 4);
        var connected = ConnectNative(fd, sockaddr, sockaddr.Length);
        console.WriteLine($"forbidden: socket {fd}, connect {connected}");
        var written = WriteNative(fd, "written after start"u8.ToArray(), 19);
        console.WriteLine($"forbidden: write to the new socket returned {written}");
    }

    [LibraryImport("libc.so.6", EntryPoint = "write", SetLastError = true)]
    private static partial nint WriteNative(int fd, byte[] buffer, nuint count);

    [LibraryImport("libc.so.6", EntryPoint = "connect", SetLastError = true)]
    private static partial int ConnectNative(int fd, byte[] address, int length);

    [LibraryImport("libc.so.6", EntryPoint = "execve", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ExecveNative(string path, IntPtr[] argv, IntPtr[] envp);

    [LibraryImport("libc.so.6", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenAt(int directory, string path, int flags);

    [LibraryImport("libc.so.6", EntryPoint = "socket", SetLastError = true)]
    private static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc.so.6", EntryPoint = "ptrace", SetLastError = true)]
    private static partial long Ptrace(long request, long pid, long address, long data);
}
