using System.Diagnostics;
using System.Text;

namespace Unikernel.OpenFlow.Testing;

public sealed record CommandResult(int ExitCode, string Output, string Error, string Command)
{
    public CommandResult Check()
    {
        Assert.True(ExitCode == 0, $"'{Command}' failed with exit code {ExitCode}:\n{Output}\n{Error}");
        return this;
    }
}

/// <summary>
/// Network namespaces, veth pairs and a private Open vSwitch (ovsdb-server and ovs-vswitchd with the userspace
/// datapath, inside a namespace of its own, with its own database, run and log directory) made for one test. Never
/// touches a system OVS: every path is under the lab's temporary directory. Everything it creates it removes on dispose,
/// and checks that it is gone.
/// </summary>
public sealed class OvsLab : IDisposable
{
    private static int s_counter;
    private readonly List<Process> _processes = [];
    private readonly List<string> _namespaces = [];
    private readonly List<(string Namespace, string Tap)> _taps = [];
    private readonly StringBuilder _log = new();

    private OvsLab()
    {
        Id = $"{Environment.ProcessId % 0xfffff:x}{Interlocked.Increment(ref s_counter)}";
        Directory = Path.Combine(Path.GetTempPath(), "unikernel-ovs-" + Id);
        System.IO.Directory.CreateDirectory(Directory);
        SwitchNamespace = "ofs" + Id;
    }

    /// <summary>Short and unique per process and lab: part of every namespace and link name (links stay ≤ 15 characters).</summary>
    public string Id { get; }

    public string Directory { get; }

    /// <summary>The namespace that holds the switch (ovs-vswitchd or our appliance) and its ends of the host links.</summary>
    public string SwitchNamespace { get; }

    public string Bridge => "br0";

    /// <summary>The bridge's management socket, for ovs-ofctl.</summary>
    public string BridgeManagement => "unix:" + Path.Combine(Directory, Bridge + ".mgmt");

    public string DatabaseSocket => "unix:" + Path.Combine(Directory, "db.sock");

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Fails (never skips) when a tool is missing, naming the Debian package that has it.</summary>
    public static void Require(params (string Tool, string Package)[] tools)
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            Assert.Fail("OpenFlow interop tests need Linux and root (they create network namespaces, veth pairs and a private Open vSwitch)");
        }
        foreach (var (tool, package) in tools)
        {
            if (Find(tool) is null)
            {
                Assert.Fail($"OpenFlow interop tests need '{tool}' (Debian package {package}; scripts/setup.sh installs it)");
            }
        }
    }

    public static readonly (string, string)[] OvsTools =
    [
        ("ip", "iproute2"), ("ovsdb-tool", "openvswitch-common"), ("ovsdb-server", "openvswitch-common"), ("ovs-vsctl", "openvswitch-common"),
        ("ovs-ofctl", "openvswitch-common"), ("ovs-appctl", "openvswitch-common"), ("ovs-vswitchd", "openvswitch-switch"), ("ethtool", "ethtool"),
    ];

    public static string? Find(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin"]))
        {
            var path = Path.Combine(dir, tool);
            if (dir.Length > 0 && File.Exists(path))
            {
                return path;
            }
        }
        return null;
    }

    /// <summary>A lab with the switch namespace (loopback up) and nothing else yet.</summary>
    public static OvsLab Create()
    {
        Require(("ip", "iproute2"));
        var lab = new OvsLab();
        try
        {
            lab.AddNamespace(lab.SwitchNamespace);
            return lab;
        }
        catch
        {
            lab.Dispose();
            throw;
        }
    }

    private void AddNamespace(string name)
    {
        Run("ip", "netns", "add", name).Check();
        _namespaces.Add(name);
        Exec(name, "ip", "link", "set", "lo", "up").Check();
    }

    /// <summary>Starts ovsdb-server and ovs-vswitchd (in the switch namespace) on a fresh database.</summary>
    public void StartOvs()
    {
        Require(OvsTools);
        var schema = "/usr/share/openvswitch/vswitch.ovsschema";
        Assert.True(File.Exists(schema), $"{schema} is missing (Debian package openvswitch-common)");
        var db = Path.Combine(Directory, "conf.db");
        Run("ovsdb-tool", "create", db, schema).Check();
        Start(null, "ovsdb-server", db, "--remote=p" + DatabaseSocket, "--unixctl=" + Path.Combine(Directory, "ovsdb-server.ctl"),
            "--log-file=" + Path.Combine(Directory, "ovsdb-server.log"), "--no-chdir");
        WaitFor(() => File.Exists(Path.Combine(Directory, "db.sock")), "ovsdb-server's socket");
        Vsctl("--no-wait", "init").Check();
        Start(SwitchNamespace, "ovs-vswitchd", DatabaseSocket, "--unixctl=" + Path.Combine(Directory, "ovs-vswitchd.ctl"),
            "--log-file=" + Path.Combine(Directory, "ovs-vswitchd.log"), "--no-chdir");
        WaitFor(() => File.Exists(Path.Combine(Directory, "ovs-vswitchd.ctl")), "ovs-vswitchd's control socket");
    }

    /// <summary>Adds the userspace-datapath bridge, OpenFlow 1.0 only, secure fail mode (no forwarding without the controller).</summary>
    public void AddBridge(string controller, string protocols = "OpenFlow10")
    {
        Vsctl("add-br", Bridge, "--", "set", "bridge", Bridge, "datapath_type=netdev", "protocols=" + protocols, "fail_mode=secure",
            "other-config:disable-in-band=true", "--", "set-controller", Bridge, controller).Check();
    }

    /// <summary>
    /// A host namespace "ofh{index}{Id}" with an interface eth0 at <paramref name="address"/>, linked by a veth pair to
    /// "ofp{index}{Id}" in the switch namespace (added to the OVS bridge as port <paramref name="index"/> when asked).
    /// Returns the switch-side link name.
    /// </summary>
    public string AddHost(int index, string address, bool addToBridge)
    {
        var ns = HostNamespace(index);
        AddNamespace(ns);
        var hostSide = $"ofv{index}{Id}";
        var switchSide = $"ofp{index}{Id}";
        Run("ip", "link", "add", hostSide, "netns", ns, "type", "veth", "peer", "name", switchSide, "netns", SwitchNamespace).Check();
        Exec(ns, "ip", "link", "set", hostSide, "name", "eth0").Check();
        Exec(ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1");
        Exec(ns, "ip", "addr", "add", address, "dev", "eth0").Check();
        Exec(ns, "ip", "link", "set", "eth0", "up").Check();
        Exec(SwitchNamespace, "ip", "link", "set", switchSide, "up").Check();
        // The userspace datapath forwards frames as the veth hands them over: the kernel must compute checksums and
        // segment TCP itself (no offloads), or forwarded TCP segments arrive with bad checksums or too large.
        foreach (var (where, link) in new[] { (ns, "eth0"), (SwitchNamespace, switchSide) })
        {
            Exec(where, "ethtool", "-K", link, "tx", "off", "tso", "off", "gso", "off", "gro", "off").Check();
        }
        if (addToBridge)
        {
            Vsctl("add-port", Bridge, switchSide, "--", "set", "interface", switchSide, $"ofport_request={index}").Check();
        }
        return switchSide;
    }

    /// <summary>A host namespace around a tap device a program in the switch namespace owns: moves the tap in and gives it the address.</summary>
    public string AddTapHost(int index, string tap, string address)
    {
        var ns = HostNamespace(index);
        AddNamespace(ns);
        Exec(SwitchNamespace, "ip", "link", "set", tap, "netns", ns).Check();
        Exec(ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1");
        Exec(ns, "ip", "addr", "add", address, "dev", tap).Check();
        Exec(ns, "ip", "link", "set", tap, "up").Check();
        return ns;
    }

    /// <summary>
    /// A persistent tap "ofc{Id}" in the switch namespace whose kernel side has <paramref name="kernelAddress"/> (a /24),
    /// for an appliance on our direct stack to attach to: programs in the switch namespace (ovs-vswitchd) reach the
    /// appliance's address on that /24 through it. Deleted on dispose (and checked).
    /// </summary>
    public string AddTap(string kernelAddress)
    {
        var tap = "ofc" + Id;
        Exec(SwitchNamespace, "ip", "tuntap", "add", "dev", tap, "mode", "tap").Check();
        _taps.Add((SwitchNamespace, tap));
        Exec(SwitchNamespace, "sysctl", "-q", "-w", $"net.ipv6.conf.{tap}.disable_ipv6=1");
        Exec(SwitchNamespace, "ip", "addr", "add", kernelAddress + "/24", "dev", tap).Check();
        Exec(SwitchNamespace, "ip", "link", "set", tap, "up").Check();
        return tap;
    }

    public string HostNamespace(int index) => $"ofh{index}{Id}";

    public CommandResult Vsctl(params string[] arguments) => Run("ovs-vsctl", ["--db=" + DatabaseSocket, "--timeout=20", .. arguments]);

    public CommandResult Ofctl(params string[] arguments) => Run("ovs-ofctl", ["-O", "OpenFlow10", .. arguments]);

    public CommandResult Exec(string ns, params string[] command) => Run("ip", ["netns", "exec", ns, .. command]);

    public CommandResult Run(string file, params string[] arguments) => Run(file, arguments, TimeSpan.FromSeconds(60));

    public CommandResult Run(string file, IReadOnlyList<string> arguments, TimeSpan timeout)
    {
        using var process = Process.Start(Info(file, arguments))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
        var command = file + " " + string.Join(" ", arguments);
        var result = new CommandResult(process.HasExited ? process.ExitCode : -1, output.Result, error.Result, command);
        lock (_log)
        {
            _log.AppendLine($"$ {command}  -> {result.ExitCode}");
        }
        return result;
    }

    private ProcessStartInfo Info(string file, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Directory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        // Every OVS program finds its run, database and log directories here, never the system's.
        info.Environment["OVS_RUNDIR"] = Directory;
        info.Environment["OVS_DBDIR"] = Directory;
        info.Environment["OVS_LOGDIR"] = Directory;
        info.Environment["OVS_SYSCONFDIR"] = Directory;
        return info;
    }

    /// <summary>Starts a long-running program (in <paramref name="ns"/> when given); it is killed on dispose.</summary>
    public Process Start(string? ns, string file, params string[] arguments)
    {
        var info = ns is null ? Info(file, arguments) : Info("ip", ["netns", "exec", ns, file, .. arguments]);
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(file, e.Data);
        process.ErrorDataReceived += (_, e) => Append(file, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_processes)
        {
            _processes.Add(process);
        }
        return process;
    }

    private void Append(string source, string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.Append(Path.GetFileName(source)).Append(": ").AppendLine(line);
            }
        }
    }

    /// <summary>Polls <paramref name="condition"/> for at most <paramref name="seconds"/> seconds; fails with the lab's log.</summary>
    public void WaitFor(Func<bool> condition, string what, int seconds = 20)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(seconds))
            {
                Assert.Fail($"timed out after {seconds} s waiting for {what}\n{Log}\n{Tail("ovs-vswitchd.log")}");
            }
            Thread.Sleep(50);
        }
    }

    public string Tail(string logFile)
    {
        var path = Path.Combine(Directory, logFile);
        return File.Exists(path) ? string.Join("\n", File.ReadLines(path).TakeLast(40)) : "";
    }

    public void Dispose()
    {
        if (File.Exists(Path.Combine(Directory, "ovs-vswitchd.ctl")))
        {
            Run("ovs-appctl", ["-t", Path.Combine(Directory, "ovs-vswitchd.ctl"), "exit"], TimeSpan.FromSeconds(10));
        }
        lock (_processes)
        {
            foreach (var process in Enumerable.Reverse(_processes))
            {
                try
                {
                    if (!process.HasExited)
                    {
                        process.Kill(entireProcessTree: true);
                    }
                    process.WaitForExit(10_000);
                }
                catch (InvalidOperationException)
                {
                    // never started
                }
                process.Dispose();
            }
            _processes.Clear();
        }
        // Taps first (their owners are gone now): a persistent tap outlives its program.
        var tapsLeft = new List<string>();
        foreach (var (ns, tap) in _taps)
        {
            if (Exec(ns, "ip", "link", "del", tap).ExitCode != 0 || Exec(ns, "ip", "link", "show", tap).ExitCode == 0)
            {
                tapsLeft.Add(tap);
            }
        }
        foreach (var ns in Enumerable.Reverse(_namespaces))
        {
            Run("ip", "netns", "del", ns);
        }
        var left = Run("ip", "netns", "list").Output;
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // a socket file still held: checked below
        }
        foreach (var ns in _namespaces)
        {
            Assert.DoesNotContain(ns, left, StringComparison.Ordinal);
        }
        Assert.False(System.IO.Directory.Exists(Directory), $"could not remove {Directory}");
        Assert.True(tapsLeft.Count == 0, "could not delete the tap(s) " + string.Join(", ", tapsLeft));
    }
}
