using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// examples/dns published with our direct network stack (-p:UnikernelNet=direct) and queried by dig across a tap
/// device: the tap is made (persistent) inside a network namespace the test creates, the kernel side gets
/// 10.215.0.1/24, and the appliance runs inside the same namespace attached to the tap as 10.215.0.2. Only addresses
/// inside that namespace are used. Needs root, /dev/net/tun, iproute2 and dig (bind9-dnsutils); fails (never skips)
/// without them. The namespace, the tap and the appliance are removed even when a test fails.
/// </summary>
[Collection("DirectStackDns")]
public sealed class DirectStackDnsTests(ITestOutputHelper output)
{
    private const string KernelAddress = "10.215.0.1";
    private const string ApplianceAddress = "10.215.0.2";

    [Fact]
    public void Udp_queries_get_authoritative_answers_from_the_compiled_in_zone()
    {
        using var link = TapNamespace.Create(output, "dig");
        using var dns = link.StartAppliance(
            "--interface", link.TapName, "--ipv4", ApplianceAddress + "/24", "--address", ApplianceAddress, "--port", "53");

        // www → web → host1 (two CNAMEs inside the zone), then the A record.
        var www = link.Dig("www.example.org", "A");
        Assert.Contains("status: NOERROR", www.StandardOutput);
        Assert.Matches(@";; flags: qr aa[ ;]", www.StandardOutput);
        Assert.Equal(
            ["www.example.org. 3600 IN CNAME web.example.org.", "web.example.org. 3600 IN CNAME host1.example.org.", "host1.example.org. 3600 IN A 192.0.2.80"],
            Answers(www.StandardOutput));
        Assert.Contains($"SERVER: {ApplianceAddress}#53(", www.StandardOutput);

        var apex = link.Dig("example.org", "A");
        Assert.Contains("status: NOERROR", apex.StandardOutput);
        Assert.Equal(["example.org. 3600 IN A 192.0.2.1"], Answers(apex.StandardOutput));

        var wildcard = link.Dig("anything.apps.example.org", "A");
        Assert.Equal(["anything.apps.example.org. 3600 IN A 192.0.2.100"], Answers(wildcard.StandardOutput));

        var missing = link.Dig("nope.example.org", "A");
        Assert.Contains("status: NXDOMAIN", missing.StandardOutput);
        Assert.Matches(@";; flags: qr aa[ ;]", missing.StandardOutput);
        Assert.Empty(Answers(missing.StandardOutput));

        // Many queries back to back, from one dig process: every one answered.
        var batch = Path.Combine(link.Directory, "queries");
        File.WriteAllLines(batch, Enumerable.Range(0, 200).Select(i => $"q{i}.apps.example.org A"));
        var many = link.Exec(TimeSpan.FromSeconds(60), "dig", $"@{ApplianceAddress}", "+time=2", "+tries=3", "+noall", "+answer", "-f", batch);
        Assert.True(many.ExitCode == 0, many.ToString());
        Assert.Equal(200, Answers(many.StandardOutput).Count(line => line.EndsWith(" IN A 192.0.2.100", StringComparison.Ordinal)));

        // DNS over TCP (RFC 7766) on the direct stack's TCP, with no DNS change: one query per connection, then
        // several queries on one connection (+keepopen).
        var tcp = link.Exec(TimeSpan.FromSeconds(20), "dig", $"@{ApplianceAddress}", "+tcp", "+time=2", "+tries=1", "+norecurse", "www.example.org", "A");
        Assert.True(tcp.ExitCode == 0, "a TCP query to the direct stack failed:\n" + tcp);
        Assert.Contains("status: NOERROR", tcp.StandardOutput);
        Assert.Contains($"SERVER: {ApplianceAddress}#53(", tcp.StandardOutput);
        Assert.Contains("(TCP)", tcp.StandardOutput);
        Assert.Equal(Answers(www.StandardOutput), Answers(tcp.StandardOutput));
        var kept = link.Exec(TimeSpan.FromSeconds(30), "dig", $"@{ApplianceAddress}", "+tcp", "+keepopen", "+time=2", "+tries=1", "+norecurse",
            "+noall", "+answer", "host1.example.org", "A", "example.org", "A", "x.apps.example.org", "A");
        Assert.True(kept.ExitCode == 0, kept.ToString());
        Assert.Equal(["host1.example.org. 3600 IN A 192.0.2.80", "example.org. 3600 IN A 192.0.2.1", "x.apps.example.org. 3600 IN A 192.0.2.100"], Answers(kept.StandardOutput));

        Assert.True(dns.IsRunning, "the appliance exited:\n" + dns.Output);
        var stopped = dns.Stop();
        Assert.DoesNotContain("serving UDP only", stopped);
        Assert.Contains($"listening on udp {ApplianceAddress}:53, tcp {ApplianceAddress}:53", stopped);
        Assert.Matches(@"tcp [4-9] queries on [2-9] connections", stopped);
        output.WriteLine(stopped);
    }

    [Fact]
    public void The_appliance_takes_its_address_from_dhcp()
    {
        using var link = TapNamespace.Create(output, "dig", "dnsmasq");
        link.Start("dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root", "--group=root",
            "--interface=" + link.TapName, "--bind-interfaces", "--dhcp-range=10.215.0.50,10.215.0.50,255.255.255.0,10m",
            "--dhcp-leasefile=" + Path.Combine(link.Directory, "leases"), "--pid-file=" + Path.Combine(link.Directory, "dnsmasq.pid"),
            "--log-facility=-");
        using var dns = link.StartAppliance("--interface", link.TapName, "--port", "53");
        var answer = link.Dig("host1.example.org", "A", server: "10.215.0.50");
        Assert.Contains("status: NOERROR", answer.StandardOutput);
        Assert.Equal(["host1.example.org. 3600 IN A 192.0.2.80"], Answers(answer.StandardOutput));
        Assert.Contains("listening on udp 0.0.0.0:53", dns.Stop());
    }

    /// <summary>
    /// The answer lines of dig's output (the lines after ";; ANSWER SECTION:" up to a blank line, or every record line
    /// of +noall +answer output), with runs of whitespace made single spaces.
    /// </summary>
    private static string[] Answers(string dig)
    {
        var lines = dig.Split('\n').Select(line => line.TrimEnd()).ToList();
        var start = lines.IndexOf(";; ANSWER SECTION:");
        IEnumerable<string> records = start < 0
            ? dig.Contains(";; ->>HEADER<<-", StringComparison.Ordinal) ? [] : lines.Where(line => line.Length > 0 && !line.StartsWith(';'))
            : lines.Skip(start + 1).TakeWhile(line => line.Length > 0);
        return [.. records.Select(line => string.Join(' ', line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)))];
    }
}

/// <summary>
/// The same appliance over the unix target's other raw interface, <c>--interface-kind packet</c>: an AF_PACKET socket
/// with memory-mapped TPACKET_V2 rings on one end of a veth pair (the kernel has 10.215.0.1/24 on the other end, in a
/// namespace the test creates), answering dig over UDP and TCP.
/// </summary>
[Collection("DirectStackDns")]
public sealed class DirectStackPacketDnsTests(ITestOutputHelper output)
{
    private const string ApplianceAddress = "10.215.0.2";

    [Fact]
    public void Udp_and_tcp_queries_are_answered_over_packet_rings_on_a_veth()
    {
        using var link = TapNamespace.Create(output, veth: true, "dig");
        using var dns = link.StartAppliance(
            "--interface", link.TapName, "--interface-kind", "packet", "--ipv4", ApplianceAddress + "/24", "--address", ApplianceAddress, "--port", "53");

        var www = link.Dig("www.example.org", "A");
        Assert.Contains("status: NOERROR", www.StandardOutput);
        Assert.Matches(@";; flags: qr aa[ ;]", www.StandardOutput);
        Assert.Contains("host1.example.org. 3600 IN A 192.0.2.80", Lines(www.StandardOutput));
        Assert.Contains($"SERVER: {ApplianceAddress}#53(", www.StandardOutput);
        var missing = link.Dig("nope.example.org", "A");
        Assert.Contains("status: NXDOMAIN", missing.StandardOutput);

        var batch = Path.Combine(link.Directory, "queries");
        File.WriteAllLines(batch, Enumerable.Range(0, 200).Select(i => $"q{i}.apps.example.org A"));
        var many = link.Exec(TimeSpan.FromSeconds(60), "dig", $"@{ApplianceAddress}", "+time=2", "+tries=3", "+noall", "+answer", "-f", batch);
        Assert.True(many.ExitCode == 0, many.ToString());
        Assert.Equal(200, Lines(many.StandardOutput).Count(line => line.EndsWith(" IN A 192.0.2.100", StringComparison.Ordinal)));

        var tcp = link.Exec(TimeSpan.FromSeconds(20), "dig", $"@{ApplianceAddress}", "+tcp", "+time=2", "+tries=1", "+norecurse", "example.org", "A");
        Assert.True(tcp.ExitCode == 0, "a TCP query over the packet interface failed:\n" + tcp);
        Assert.Contains("status: NOERROR", tcp.StandardOutput);
        Assert.Contains("(TCP)", tcp.StandardOutput);

        Assert.True(dns.IsRunning, "the appliance exited:\n" + dns.Output);
        var stopped = dns.Stop();
        Assert.Contains($"listening on udp {ApplianceAddress}:53, tcp {ApplianceAddress}:53", stopped);
        output.WriteLine(stopped);
    }

    /// <summary>dig's output lines with runs of whitespace made single spaces.</summary>
    private static string[] Lines(string dig) =>
        [.. dig.Split('\n').Select(line => string.Join(' ', line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)))];

    [Fact]
    public void An_unknown_interface_kind_is_refused_with_the_choices()
    {
        using var link = TapNamespace.Create(output, veth: true);
        var image = Appliances.Publish("dns", "unix", "direct");
        image.AssertSucceeded();
        var result = link.Exec(TimeSpan.FromSeconds(20), image.ImagePath, "--interface", link.TapName, "--interface-kind", "pcap", "--ipv4", ApplianceAddress + "/24");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("tap", result.StandardOutput + result.StandardError, StringComparison.Ordinal);
        Assert.Contains("packet", result.StandardOutput + result.StandardError, StringComparison.Ordinal);
    }
}

[CollectionDefinition("DirectStackDns", DisableParallelization = true)]
public sealed class DirectStackDnsCollection;

/// <summary>
/// A network namespace with a persistent tap in it (kernel side 10.215.0.1/24, up). Processes started here run inside
/// the namespace; dispose kills them (by id), deletes the tap and the namespace, and removes the scratch directory.
/// </summary>
internal sealed class TapNamespace : IDisposable
{
    private static int s_counter;
    private readonly ITestOutputHelper _output;
    private readonly List<RunningProcess> _processes = [];

    private TapNamespace(ITestOutputHelper output)
    {
        _output = output;
        // UK_NET_TAG (at most 8 letters and digits) names the links instead of the process id (as the Linux peer tests').
        var tag = Environment.GetEnvironmentVariable("UK_NET_TAG");
        var prefix = tag is { Length: > 0 and <= 8 } && tag.All(char.IsAsciiLetterOrDigit) ? tag : $"{Environment.ProcessId % 0x100000:x}";
        var name = $"{prefix}d{Interlocked.Increment(ref s_counter)}";
        Namespace = "ukdns-" + name;
        TapName = "ukd" + name;
        Directory = System.IO.Directory.CreateTempSubdirectory("uk-direct-dns-").FullName;
    }

    public string Namespace { get; }

    public string TapName { get; }

    public string Directory { get; }

    public static TapNamespace Create(ITestOutputHelper output, params string[] tools) => Create(output, veth: false, tools);

    /// <summary>
    /// With <paramref name="veth"/>, a veth pair instead of the tap: the kernel's end (10.215.0.1/24) and the
    /// appliance's end, <see cref="TapName"/>, up with no address, for <c>--interface-kind packet</c>.
    /// </summary>
    public static TapNamespace Create(ITestOutputHelper output, bool veth, params string[] tools)
    {
        RequirePrivileges(["ip", .. tools]);
        var link = new TapNamespace(output);
        try
        {
            link.Check(link.Host("ip", "netns", "add", link.Namespace));
            var kernelSide = link.TapName;
            if (veth)
            {
                kernelSide = link.TapName + "k";
                link.Check(link.Exec(TimeSpan.FromSeconds(20), "ip", "link", "add", kernelSide, "type", "veth", "peer", "name", link.TapName));
                link.Exec(TimeSpan.FromSeconds(20), "sysctl", "-q", "-w", $"net.ipv6.conf.{link.TapName}.disable_ipv6=1");
            }
            else
            {
                link.Check(link.Exec(TimeSpan.FromSeconds(20), "ip", "tuntap", "add", "dev", link.TapName, "mode", "tap"));
            }
            link.Exec(TimeSpan.FromSeconds(20), "sysctl", "-q", "-w", $"net.ipv6.conf.{kernelSide}.disable_ipv6=1");
            link.Check(link.Exec(TimeSpan.FromSeconds(20), "ip", "addr", "add", "10.215.0.1/24", "dev", kernelSide));
            link.Check(link.Exec(TimeSpan.FromSeconds(20), "ip", "link", "set", "lo", "up"));
            link.Check(link.Exec(TimeSpan.FromSeconds(20), "ip", "link", "set", kernelSide, "up"));
            if (veth)
            {
                link.Check(link.Exec(TimeSpan.FromSeconds(20), "ip", "link", "set", link.TapName, "up"));
            }
            return link;
        }
        catch
        {
            link.Dispose();
            throw;
        }
    }

    private static void RequirePrivileges(string[] tools)
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Fail("direct-stack end-to-end tests need Linux (network namespaces and tap devices)");
        }
        if (!Environment.IsPrivilegedProcess)
        {
            Assert.Fail("direct-stack end-to-end tests need root (they create a network namespace and a tap device); run them as root, as CI does");
        }
        if (!File.Exists("/dev/net/tun"))
        {
            Assert.Fail("direct-stack end-to-end tests need /dev/net/tun (the tun module)");
        }
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]).ToArray();
        foreach (var tool in tools)
        {
            if (!path.Any(directory => File.Exists(Path.Combine(directory, tool))))
            {
                Assert.Fail($"direct-stack end-to-end tests need the '{tool}' command (Debian packages: iproute2, bind9-dnsutils, dnsmasq, curl, iperf3)");
            }
        }
    }

    /// <summary>Publishes examples/dns with the direct stack (once per run) and starts it in the namespace; waits until it serves.</summary>
    public RunningProcess StartAppliance(params string[] arguments) => StartExample("dns", "dns: serving", arguments);

    /// <summary>
    /// Publishes <paramref name="example"/> with the direct stack (once per run) and starts it in the namespace; waits
    /// (bounded) until it prints <paramref name="readyText"/>.
    /// </summary>
    public RunningProcess StartExample(string example, string readyText, params string[] arguments) =>
        StartImage(Appliances.Publish(example, "unix", "direct"), readyText, arguments);

    /// <summary>Like <see cref="StartExample"/>, for a given published image (a sealed one, say).</summary>
    public RunningProcess StartImage(PublishedAppliance image, string readyText, params string[] arguments)
    {
        image.AssertSucceeded();
        var process = Start([image.ImagePath, .. arguments]);
        var deadline = DateTime.UtcNow.AddSeconds(45); // a DHCP start waits up to 30 s for a lease
        while (!process.Output.Contains(readyText, StringComparison.Ordinal))
        {
            if (!process.IsRunning || DateTime.UtcNow > deadline)
            {
                Assert.Fail($"the appliance did not start serving ({(process.IsRunning ? "still running" : "exited")}):\n{process.Output}");
            }
            Thread.Sleep(50);
        }
        return process;
    }

    /// <summary>Starts a long-running command inside the namespace (killed on dispose at the latest).</summary>
    public RunningProcess Start(params string[] command)
    {
        var process = RunningProcess.Start("ip", ["netns", "exec", Namespace, .. command]);
        _processes.Add(process);
        return process;
    }

    public ProcessResult Dig(string name, string type, string server = "10.215.0.2")
    {
        var result = Exec(TimeSpan.FromSeconds(30), "dig", "@" + server, "+time=2", "+tries=3", "+norecurse", name, type);
        Assert.True(result.ExitCode == 0, $"dig {name} {type} failed:\n{result}");
        return result;
    }

    /// <summary>Runs a command inside the namespace, bounded by <paramref name="timeout"/>.</summary>
    public ProcessResult Exec(TimeSpan timeout, params string[] command) => Host(timeout, "ip", ["netns", "exec", Namespace, .. command]);

    private ProcessResult Host(params string[] command) => Host(TimeSpan.FromSeconds(20), command[0], command[1..]);

    private ProcessResult Host(TimeSpan timeout, string file, string[] arguments)
    {
        var result = Processes.Run(file, arguments, timeout);
        _output.WriteLine($"$ {file} {string.Join(' ', arguments)} → {result.ExitCode}{(result.TimedOut ? " (timed out)" : "")}\n{result.StandardOutput}{result.StandardError}");
        return result;
    }

    private void Check(ProcessResult result) => Assert.True(result.ExitCode == 0, result.ToString());

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            var rest = process.Stop();
            if (rest.Length > 0)
            {
                _output.WriteLine(rest);
            }
            process.Dispose();
        }
        // Clean-up failures are collected, the rest still runs, and then they fail the test.
        var failures = new List<string>();
        if (File.Exists($"/var/run/netns/{Namespace}"))
        {
            foreach (var command in new[] { new[] { "netns", "exec", Namespace, "ip", "link", "del", TapName }, ["netns", "del", Namespace] })
            {
                var result = Processes.Run("ip", command, TimeSpan.FromSeconds(20));
                if (result.ExitCode != 0)
                {
                    failures.Add($"ip {string.Join(' ', command)}: {result}");
                }
            }
        }
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException e)
        {
            failures.Add($"deleting {Directory}: {e.Message}");
        }
        if (failures.Count > 0)
        {
            throw new InvalidOperationException("clean-up failed:\n" + string.Join('\n', failures));
        }
    }
}

/// <summary>A started process whose output is collected as it comes; <see cref="Stop"/> ends it (SIGTERM, then SIGKILL).</summary>
internal sealed class RunningProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly CountdownEvent _ended = new(2); // stdout and stderr reached their end
    private bool _stopped;

    private RunningProcess(Process process)
    {
        _process = process;
    }

    public static RunningProcess Start(string file, string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        var process = new Process { StartInfo = info };
        var running = new RunningProcess(process);
        process.OutputDataReceived += (_, e) => running.Append(e.Data);
        process.ErrorDataReceived += (_, e) => running.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return running;
    }

    public bool IsRunning => !_process.HasExited;

    public int Id => _process.Id;

    /// <summary>Waits (bounded) for the process to end by itself: its exit status, or null while it still runs.</summary>
    public int? WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout) ? _process.ExitCode : null;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            _ended.Signal();
        }
        else
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    /// <summary>Asks the process to stop (SIGTERM), kills it after 10 s, and returns everything it printed.</summary>
    public string Stop()
    {
        if (!_stopped)
        {
            _stopped = true;
            if (!_process.HasExited)
            {
                Processes.Run("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5));
                if (!_process.WaitForExit(10_000))
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(10_000);
                }
            }
            _ended.Wait(TimeSpan.FromSeconds(30)); // drain the output (bounded: a child may hold the pipes)
        }
        return Output;
    }

    public void Dispose()
    {
        Stop();
        _process.Dispose();
        _ended.Dispose();
    }
}
