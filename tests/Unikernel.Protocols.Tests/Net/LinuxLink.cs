using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Unikernel.Devices.Unix;
using Xunit.Abstractions;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>
/// A network namespace made for one test, holding the kernel's end of a tap device whose other end (the fd) is ours.
/// Everything it creates it removes on dispose (the tap disappears with its fd, the namespace is deleted).
/// </summary>
internal sealed partial class LinuxLink : IDisposable
{
    private static int s_counter;
    private readonly ITestOutputHelper _output;
    private readonly List<Process> _processes = [];

    private LinuxLink(ITestOutputHelper output, string name)
    {
        _output = output;
        Namespace = "ukns-" + name;
        TapName = "ukt" + name;
    }

    public string Namespace { get; }

    public string TapName { get; }

    public TapNetworkInterface Tap { get; private set; } = null!;

    /// <summary>Fails (never skips) when the machine cannot run these tests: they need root, /dev/net/tun and iproute2.</summary>
    public static void RequirePrivileges(params string[] tools)
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Fail("Linux peer tests need Linux (network namespaces and tap devices)");
        }
        if (!Environment.IsPrivilegedProcess)
        {
            Assert.Fail("Linux peer tests need root (they create network namespaces and tap devices); run the tests as root, as CI does");
        }
        if (!File.Exists(TapNetworkInterface.DevicePath))
        {
            Assert.Fail($"Linux peer tests need {TapNetworkInterface.DevicePath} (the tun module)");
        }
        foreach (var tool in new[] { "ip" }.Concat(tools))
        {
            if (FindTool(tool) is null)
            {
                Assert.Fail($"Linux peer tests need the '{tool}' command (Debian packages: iproute2, iputils-ping, dnsmasq)");
            }
        }
    }

    /// <summary>Creates the namespace and tap, moves the tap into the namespace and gives it <paramref name="kernelAddress"/>.</summary>
    public static LinuxLink Create(ITestOutputHelper output, string kernelAddress, params string[] tools) => Create(output, kernelAddress, 0, tools);

    /// <summary>As <see cref="Create(ITestOutputHelper, string, string[])"/>, with the tap's MTU set to <paramref name="mtu"/> (0: the default).</summary>
    public static LinuxLink Create(ITestOutputHelper output, string kernelAddress, int mtu, params string[] tools) =>
        Create(output, kernelAddress, mtu, segmentOffload: true, tools);

    /// <summary>As <see cref="Create(ITestOutputHelper, string, string[])"/>, with the tap's segmentation offload on or off.</summary>
    public static LinuxLink Create(ITestOutputHelper output, string kernelAddress, bool segmentOffload, params string[] tools) =>
        Create(output, kernelAddress, 0, segmentOffload, tools);

    private static LinuxLink Create(ITestOutputHelper output, string kernelAddress, int mtu, bool segmentOffload, params string[] tools)
    {
        RequirePrivileges(tools);
        // UK_NET_TAG (at most 8 letters and digits) names the links instead of the process id, for a run that must be
        // told apart from others on a shared machine (interface names have 15 characters at most).
        var tag = Environment.GetEnvironmentVariable("UK_NET_TAG");
        var prefix = tag is { Length: > 0 and <= 8 } && tag.All(char.IsAsciiLetterOrDigit) ? tag : $"{Environment.ProcessId % 0x100000:x}";
        var name = $"{prefix}n{Interlocked.Increment(ref s_counter)}";
        var link = new LinuxLink(output, name);
        try
        {
            link.Run("ip", "netns", "add", link.Namespace).Check();
            link.Tap = new TapNetworkInterface(link.TapName, segmentOffload);
            if (mtu != 0)
            {
                link.Run("ip", "link", "set", link.TapName, "mtu", mtu.ToString(System.Globalization.CultureInfo.InvariantCulture)).Check();
                // Read it now: once the netdev is in the other namespace, this one cannot ask (the tap keeps the last value).
                Assert.Equal(mtu, link.Tap.Mtu);
            }
            link.Run("ip", "link", "set", link.TapName, "netns", link.Namespace).Check();
            link.Exec("sysctl", "-q", "-w", $"net.ipv6.conf.{link.TapName}.disable_ipv6=1");
            link.Exec("ip", "addr", "add", kernelAddress, "dev", link.TapName).Check();
            link.Exec("ip", "link", "set", "lo", "up").Check();
            link.Exec("ip", "link", "set", link.TapName, "up").Check();
            return link;
        }
        catch
        {
            link.Dispose();
            throw;
        }
    }

    /// <summary>Runs a command inside the namespace (bounded in time).</summary>
    public Result Exec(params string[] command) => ExecWithTimeout(TimeSpan.FromSeconds(20), command);

    public Result ExecWithTimeout(TimeSpan timeout, params string[] command) =>
        RunWithTimeout(timeout, "ip", ["netns", "exec", Namespace, .. command]);

    /// <summary>Starts a long-running command inside the namespace; it is killed (by its id) on dispose.</summary>
    public Process StartInNamespace(params string[] command)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["netns", "exec", Namespace, .. command])
        {
            info.ArgumentList.Add(argument);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start " + string.Join(' ', command));
        _processes.Add(process);
        return process;
    }

    /// <summary>Creates a socket inside the namespace (a socket keeps the namespace it was created in).</summary>
    public Socket CreateSocket(SocketType type, ProtocolType protocol)
    {
        Socket? socket = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var original = File.OpenHandle("/proc/thread-self/ns/net");
                using var target = File.OpenHandle($"/run/netns/{Namespace}");
                if (SetNs((int)target.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new InvalidOperationException($"setns into {Namespace} failed: errno {Marshal.GetLastPInvokeError()}");
                }
                try
                {
                    socket = new Socket(AddressFamily.InterNetwork, type, protocol);
                }
                finally
                {
                    if (SetNs((int)original.DangerousGetHandle(), CloneNewNet) != 0)
                    {
                        Environment.FailFast("cannot return a thread to its network namespace");
                    }
                }
            }
            catch (Exception exception)
            {
                error = exception;
            }
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)), "socket creation in the namespace hung");
        if (error is not null)
        {
            throw new InvalidOperationException("cannot create a socket in the namespace", error);
        }
        return socket!;
    }

    /// <summary>Kills the processes, closes the tap and deletes the namespace; fails the test when any of it did not happen.</summary>
    public void Dispose()
    {
        var problems = new List<string>();
        foreach (var process in _processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    if (!process.WaitForExit(5000))
                    {
                        problems.Add($"process {process.Id} did not exit within 5 s of SIGKILL");
                    }
                }
            }
            catch (InvalidOperationException)
            {
                // It had already exited and was reaped.
            }
            process.Dispose();
        }
        Tap?.Dispose();
        var deleted = Run("ip", "netns", "del", Namespace);
        if (deleted.ExitCode != 0 && !deleted.Stderr.Contains("No such file", StringComparison.Ordinal))
        {
            problems.Add($"'{deleted.Command}' failed ({deleted.ExitCode}): {deleted.Stderr}");
        }
        if (Run("ip", "netns", "list").Stdout.Split('\n').Any(line => line.Split(' ')[0] == Namespace))
        {
            problems.Add($"namespace {Namespace} is still there");
        }
        if (Run("ip", "-o", "link", "show").Stdout.Contains(" " + TapName + ":", StringComparison.Ordinal))
        {
            problems.Add($"tap {TapName} is still there");
        }
        Assert.True(problems.Count == 0, "clean-up failed: " + string.Join("; ", problems));
    }

    public Result Run(string file, params string[] arguments) => RunWithTimeout(TimeSpan.FromSeconds(20), file, arguments);

    public Result RunWithTimeout(TimeSpan timeout, string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start " + file);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var timedOut = !process.WaitForExit(timeout);
        if (timedOut)
        {
            process.Kill(entireProcessTree: true);
        }
        // Bounded: the process has exited (or was killed), and its pipes close with it.
        if (!process.WaitForExit(5000) || !Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(5)))
        {
            Assert.Fail($"'{file} {string.Join(' ', arguments)}' did not end within 5 s of being killed");
        }
        var result = new Result(file + " " + string.Join(' ', arguments) + (timedOut ? $" (killed after {timeout.TotalSeconds:0} s)" : ""),
            timedOut ? -1 : process.ExitCode, stdout.Result, stderr.Result);
        _output.WriteLine($"$ {result.Command} → {result.ExitCode}\n{result.Stdout}{result.Stderr}");
        return result;
    }

    private static string? FindTool(string tool)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]))
        {
            var path = Path.Combine(directory, tool);
            if (File.Exists(path))
            {
                return path;
            }
        }
        return null;
    }

    private const int CloneNewNet = 0x40000000;

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);

    public sealed record Result(string Command, int ExitCode, string Stdout, string Stderr)
    {
        public Result Check()
        {
            Assert.True(ExitCode == 0, $"'{Command}' failed ({ExitCode}): {Stdout}{Stderr}");
            return this;
        }
    }
}
