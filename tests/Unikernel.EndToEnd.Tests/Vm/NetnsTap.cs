using System.Runtime.InteropServices;

namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>
/// A network namespace made for one test, holding a tap device for QEMU with the host side's address. Traffic
/// stays inside the namespace: the VM is only reachable from it (<see cref="RunInside{T}"/>).
/// Needs root (or CAP_NET_ADMIN) and iproute2.
/// </summary>
public sealed partial class NetnsTap : IDisposable
{
    public string Namespace { get; }
    public string Tap { get; } = "tap0";
    public string HostAddress { get; }
    public string GuestAddress { get; }
    public string Netmask { get; } = "255.255.255.0";

    /// <summary>The kernel's static IP autoconfiguration for the guest NIC (CONFIG_IP_PNP).</summary>
    public string KernelIpArgument => $"ip={GuestAddress}::{HostAddress}:{Netmask}:unikernel:eth0:off";

    public NetnsTap(string prefix = "10.200.0")
    {
        VmTools.Require("ip");
        Namespace = $"ukvm{Environment.ProcessId}x{Interlocked.Increment(ref s_count)}";
        HostAddress = $"{prefix}.1";
        GuestAddress = $"{prefix}.2";
        Ip("netns", "add", Namespace);
        try
        {
            Ip("-n", Namespace, "link", "set", "lo", "up");
            Ip("-n", Namespace, "tuntap", "add", "dev", Tap, "mode", "tap");
            Ip("-n", Namespace, "addr", "add", $"{HostAddress}/24", "dev", Tap);
            Ip("-n", Namespace, "link", "set", Tap, "up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private static int s_count;

    /// <summary>The command prefix that runs a program (the VMM) inside the namespace.</summary>
    public IReadOnlyList<string> ExecPrefix => ["ip", "netns", "exec", Namespace];

    /// <summary>Runs <paramref name="action"/> on a thread that joined the namespace (sockets it makes live there).</summary>
    public T RunInside<T>(Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle($"/var/run/netns/{Namespace}");
                if (setns((int)ns.DangerousGetHandle(), CLONE_NEWNET) != 0)
                {
                    throw new InvalidOperationException($"setns failed: errno {Marshal.GetLastPInvokeError()}");
                }
                result = action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException("action inside the network namespace failed", failure);
        }
        return result;
    }

    /// <summary>Deletes the namespace (and with it the tap); fails loudly when that did not work.</summary>
    public void Dispose()
    {
        var delete = VmProcess.Run("ip", ["netns", "delete", Namespace], TimeSpan.FromSeconds(30));
        if (delete.ExitCode != 0 || File.Exists($"/var/run/netns/{Namespace}"))
        {
            throw new InvalidOperationException($"deleting network namespace {Namespace} failed: {delete.Output}");
        }
    }

    private static void Ip(params string[] arguments)
    {
        var run = VmProcess.Run("ip", arguments, TimeSpan.FromSeconds(30));
        if (run.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', arguments)} failed: {run.Output}");
        }
    }

    private const int CLONE_NEWNET = 0x40000000;

    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}
