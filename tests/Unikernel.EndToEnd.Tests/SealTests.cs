using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// Sealed appliances (-p:UnikernelSeal=true): each example, sealed, serves its real workload with seccomp mode 2 in
/// /proc/PID/status; under strace -f, every call it makes after sealing is in the list next to the image (and the
/// calls of the list no run needed are reported); and a job that tries a forbidden call after start (execve, openat,
/// socket on the direct stack, ptrace, write(2) on a descriptor not open when sealing) is killed with SIGSYS before the
/// call does anything.
/// </summary>
[Collection("DirectStackDns")]
public sealed partial class SealTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);
    private const int SigSys = 31;

    private static string ForbiddenProject => Path.Combine(Repo.Root, "tests", "Unikernel.EndToEnd.Tests", "Seal", "assets", "forbidden");

    private static PublishedAppliance Sealed(string example, string net = "socket") => Appliances.Publish(example, "unix", net, seal: true);

    private static PublishedAppliance Forbidden(string net) => Appliances.Publish("forbidden", "unix", net, seal: true, ForbiddenProject);

    [Fact]
    public void Hello_sealed_prints_its_ticks_and_writes_its_list_next_to_the_image()
    {
        var hello = Sealed("hello");
        hello.AssertSucceeded();
        var result = hello.Run(RunTimeout, "--ticks", "2");
        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^hello: sealed: \d+ system calls allowed", lines[0]);
        Assert.Equal(["hello: tick 1 of 2", "hello: tick 2 of 2"], lines[1..]);

        var list = AllowList(hello);
        Assert.Contains("futex", list);
        Assert.DoesNotContain("execve", list);
        Assert.DoesNotContain("openat", list);
        Assert.DoesNotContain("socket", list);
        Assert.DoesNotContain("ptrace", list);
        var help = hello.Run(RunTimeout, "--help");
        Assert.Contains("Sealed: after start only the system calls of --seccomp-list", help.StandardOutput);
        var listed = hello.Run(RunTimeout, "--seccomp-list");
        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.Equal(File.ReadAllText(Path.ChangeExtension(hello.ImagePath, ".seccomp.txt")).TrimEnd('\n'), listed.StandardOutput.TrimEnd('\n'));
        var describe = hello.Run(RunTimeout, "--describe");
        Assert.Contains($"sealed: {list.Count} system calls after start", describe.StandardOutput);
        Assert.Matches(@"(?m)^  runtime: futex", describe.StandardOutput);
    }

    [Fact]
    public void Hello_sealed_shows_seccomp_mode_2_while_it_runs()
    {
        var hello = Sealed("hello");
        hello.AssertSucceeded();
        using var process = StartRaw(hello.ImagePath, "--ticks", "30");
        WaitForLine(process, "hello: tick 1 of 30");
        AssertSeccomp(process.Id);
        process.Kill();
    }

    [Fact]
    public void Dns_sealed_on_the_socket_stack_answers_over_udp_and_tcp()
    {
        var dns = Sealed("dns");
        using var appliance = ApplianceProcess.Start(dns, "dns: serving");
        AssertSeccomp(appliance.ProcessId);
        var port = appliance.Port.ToString(CultureInfo.InvariantCulture);
        var udp = Processes.Run("dig", ["@127.0.0.1", "-p", port, "+time=2", "+tries=2", "+norecurse", "www.example.org", "A"], RunTimeout);
        Assert.Contains("status: NOERROR", udp.StandardOutput);
        Assert.Contains("192.0.2.80", udp.StandardOutput);
        var tcp = Processes.Run("dig", ["@127.0.0.1", "-p", port, "+tcp", "+time=2", "+tries=2", "+norecurse", "www.example.org", "A"], RunTimeout);
        Assert.Contains("status: NOERROR", tcp.StandardOutput);
        Assert.Contains("192.0.2.80", tcp.StandardOutput);
        AssertSeccomp(appliance.ProcessId);
    }

    [Fact]
    public void Dns_sealed_on_the_direct_stack_answers_over_udp_and_tcp()
    {
        using var link = TapNamespace.Create(output, "dig");
        using var dns = link.StartImage(Sealed("dns", "direct"), "dns: serving",
            "--interface", link.TapName, "--ipv4", "10.215.0.2/24", "--address", "10.215.0.2", "--port", "53");
        Assert.Contains("dns: sealed:", dns.Output);
        AssertSeccomp(dns.Id);
        var udp = link.Dig("www.example.org", "A");
        Assert.Contains("192.0.2.80", udp.StandardOutput);
        var tcp = link.Exec(RunTimeout, "dig", "@10.215.0.2", "+tcp", "+time=2", "+tries=2", "+norecurse", "www.example.org", "A");
        Assert.Contains("status: NOERROR", tcp.StandardOutput);
        Assert.Contains("192.0.2.80", tcp.StandardOutput);
        Assert.DoesNotContain("socket", AllowList(Sealed("dns", "direct")));
        AssertSeccomp(dns.Id);
    }

    [Fact]
    public void Www_sealed_serves_its_site_to_curl()
    {
        var www = Sealed("www");
        using var appliance = ApplianceProcess.Start(www, "www: serving");
        AssertSeccomp(appliance.ProcessId);
        var url = $"http://127.0.0.1:{appliance.Port.ToString(CultureInfo.InvariantCulture)}/";
        var page = Processes.Run("curl", ["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url], RunTimeout);
        Assert.True(page.ExitCode == 0, page.ToString());
        Assert.StartsWith("200 ", page.StandardOutput);
        Assert.True(long.Parse(page.StandardOutput.Split(' ')[1], CultureInfo.InvariantCulture) > 0, page.ToString());
        var missing = Processes.Run("curl", ["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", url + "no-such-page"], RunTimeout);
        Assert.Equal("404", missing.StandardOutput.Trim());
        AssertSeccomp(appliance.ProcessId);
    }

    [Theory]
    [InlineData("execve")]
    [InlineData("openat")]
    [InlineData("ptrace")]
    [InlineData("socket")]
    public void A_forbidden_call_after_start_kills_the_sealed_appliance_with_SIGSYS(string call)
    {
        using var link = TapNamespace.Create(output);
        var marker = Path.Combine(link.Directory, "marker");
        var image = Forbidden("direct");
        Assert.DoesNotContain(call, AllowList(image));
        var appliance = link.Start(image.ImagePath, "--interface", link.TapName, "--ipv4", "10.215.0.2/24", "--try", call, "--marker", marker);
        var exit = appliance.WaitForExit(TimeSpan.FromSeconds(30));
        var log = appliance.Stop(); // all of its output
        output.WriteLine(log);
        Assert.True(exit is not null, "the appliance is still running after its forbidden call:\n" + log);
        // .NET reports a process ended by signal N as exit code 128 + N.
        Assert.True(exit == 128 + SigSys, $"expected death by SIGSYS (exit {128 + SigSys}), got {exit}:\n{log}");
        Assert.Contains("forbidden: started (sealed: yes)", log);
        Assert.DoesNotContain("returned", log);
        Assert.DoesNotContain("still alive", log);
        Assert.False(File.Exists(marker), $"the forbidden {call} left its mark: {marker}");
    }

    [Fact]
    public void Sealed_write_to_a_socket_opened_after_start_kills_the_appliance_and_sends_nothing()
    {
        // The socket stack allows socket() and connect(), but write(2) only on the descriptors open when sealing.
        var image = Forbidden("socket");
        var list = File.ReadAllText(Path.ChangeExtension(image.ImagePath, ".seccomp.txt"));
        Assert.Matches(@"(?m)^write +.*\[checked: only on the descriptors open when sealed\]", list);
        using var peer = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        peer.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var port = ((System.Net.IPEndPoint)peer.LocalEndPoint!).Port.ToString(CultureInfo.InvariantCulture);
        var result = image.Run(RunTimeout, "--try", "write-socket", "--peer", "127.0.0.1:" + port);
        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 128 + SigSys, $"expected death by SIGSYS (exit {128 + SigSys}):\n{result}");
        Assert.Contains("forbidden: started (sealed: yes)", result.StandardOutput);
        Assert.Matches(@"forbidden: socket \d+, connect 0", result.StandardOutput);
        Assert.DoesNotContain("returned", result.StandardOutput);
        Assert.False(peer.Poll(TimeSpan.FromMilliseconds(500), System.Net.Sockets.SelectMode.SelectRead), "the datagram of the forbidden write arrived");

        // A descriptor number nothing opened: killed too (unsealed, EBADF).
        var high = image.Run(RunTimeout, "--try", "write-fd");
        Assert.True(high.ExitCode == 128 + SigSys, $"expected death by SIGSYS (exit {128 + SigSys}):\n{high}");
        Assert.DoesNotContain("returned", high.StandardOutput);
    }

    [Fact]
    public void Unsealed_a_write_to_a_socket_opened_after_start_sends_its_datagram()
    {
        var image = Appliances.Publish("forbidden", "unix", "socket", seal: false, ForbiddenProject);
        image.AssertSucceeded();
        using var peer = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        peer.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var port = ((System.Net.IPEndPoint)peer.LocalEndPoint!).Port.ToString(CultureInfo.InvariantCulture);
        var result = image.Run(RunTimeout, "--try", "write-socket", "--peer", "127.0.0.1:" + port);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("forbidden: write to the new socket returned 19", result.StandardOutput);
        Assert.True(peer.Poll(TimeSpan.FromSeconds(5), System.Net.Sockets.SelectMode.SelectRead), "no datagram from the unsealed write");
        var buffer = new byte[64];
        Assert.Equal("written after start", System.Text.Encoding.ASCII.GetString(buffer, 0, peer.Receive(buffer)));
        Assert.Contains("write to fd 1000 returned -1", image.Run(RunTimeout, "--try", "write-fd").StandardOutput);
    }

    [Fact]
    public void Unsealed_the_same_calls_succeed_so_the_seal_is_what_stops_them()
    {
        // The control: the same job in the unsealed build runs its openat and lives on.
        var image = Appliances.Publish("forbidden", "unix", "socket", seal: false, ForbiddenProject);
        image.AssertSucceeded();
        var marker = Path.Combine(Path.GetTempPath(), $"uk-seal-marker-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var result = image.Run(RunTimeout, "--try", "openat", "--marker", marker);
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains("forbidden: started (sealed: no)", result.StandardOutput);
            Assert.Matches(@"openat returned [0-9]+", result.StandardOutput);
            Assert.True(File.Exists(marker));
        }
        finally
        {
            File.Delete(marker);
        }
    }

    // ---- evidence: strace -f over the real workloads -------------------------------------------------------------

    [Fact]
    public void Strace_hello_every_call_after_sealing_is_in_its_list()
    {
        var hello = Sealed("hello");
        hello.AssertSucceeded();
        var trace = Path.Combine(Path.GetTempPath(), $"uk-seal-strace-hello-{Environment.ProcessId}.txt");
        try
        {
            var result = Processes.Run("strace", ["-f", "-qq", "-o", trace, hello.ImagePath, "--ticks", "2"], RunTimeout);
            Assert.True(result.ExitCode == 0, result.ToString());
            Check("hello", hello, trace);
        }
        finally
        {
            File.Delete(trace);
        }
    }

    [Fact]
    public void Strace_dns_on_the_socket_stack_every_call_after_sealing_is_in_its_list()
    {
        var dns = Sealed("dns");
        dns.AssertSucceeded();
        var trace = Path.Combine(Path.GetTempPath(), $"uk-seal-strace-dns-{Environment.ProcessId}.txt");
        try
        {
            using var process = StraceStart(trace, dns.ImagePath, "--address", "127.0.0.1", "--port", "53531");
            WaitForLine(process, "dns: serving");
            foreach (var transport in new[] { "+notcp", "+tcp" })
            {
                for (var i = 0; i < 3; i++)
                {
                    var dig = Processes.Run("dig", ["@127.0.0.1", "-p", "53531", transport, "+time=2", "+tries=2", "+norecurse", $"q{i}.apps.example.org", "A"], RunTimeout);
                    Assert.Contains("192.0.2.100", dig.StandardOutput);
                }
            }
            StopTraced(process);
            Check("dns (socket)", dns, trace);
        }
        finally
        {
            File.Delete(trace);
        }
    }

    [Fact]
    public void Strace_dns_on_the_direct_stack_every_call_after_sealing_is_in_its_list()
    {
        var dns = Sealed("dns", "direct");
        dns.AssertSucceeded();
        using var link = TapNamespace.Create(output, "dig", "strace");
        var trace = Path.Combine(link.Directory, "strace.txt");
        var process = link.Start("strace", "-f", "-qq", "-o", trace, dns.ImagePath, "--interface", link.TapName, "--ipv4", "10.215.0.2/24", "--address", "10.215.0.2", "--port", "53");
        var deadline = DateTime.UtcNow.AddSeconds(45);
        while (!process.Output.Contains("dns: serving", StringComparison.Ordinal))
        {
            Assert.True(process.IsRunning && DateTime.UtcNow < deadline, "the traced appliance did not start serving:\n" + process.Output);
            Thread.Sleep(50);
        }
        Assert.Contains("192.0.2.80", link.Dig("www.example.org", "A").StandardOutput);
        var tcp = link.Exec(RunTimeout, "dig", "@10.215.0.2", "+tcp", "+time=2", "+tries=2", "+norecurse", "www.example.org", "A");
        Assert.Contains("192.0.2.80", tcp.StandardOutput);
        TerminateTracee(process.Id);
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(20)) is not null, "strace did not end:\n" + process.Output);
        Check("dns (direct)", dns, trace);
    }

    [Fact]
    public void Strace_www_every_call_after_sealing_is_in_its_list()
    {
        var www = Sealed("www");
        www.AssertSucceeded();
        var trace = Path.Combine(Path.GetTempPath(), $"uk-seal-strace-www-{Environment.ProcessId}.txt");
        try
        {
            using var process = StraceStart(trace, www.ImagePath, "--address", "127.0.0.1", "--port", "18531");
            WaitForLine(process, "www: serving");
            for (var i = 0; i < 3; i++)
            {
                foreach (var (path, code) in new[] { ("/", "200"), ("/nope", "404") })
                {
                    var page = Processes.Run("curl", ["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:18531" + path], RunTimeout);
                    Assert.Equal(code, page.StandardOutput.Trim());
                }
            }
            StopTraced(process);
            Check("www", www, trace);
        }
        finally
        {
            File.Delete(trace);
        }
    }

    /// <summary>
    /// The calls after the seccomp() line of a strace -f log are all in the image's list, the run did not die of
    /// SIGSYS; prints the counts and the allowed calls this run never made.
    /// </summary>
    private void Check(string name, PublishedAppliance image, string trace)
    {
        var lines = File.ReadAllLines(trace);
        Assert.DoesNotContain(lines, l => l.Contains("killed by SIGSYS", StringComparison.Ordinal));
        var start = Array.FindIndex(lines, l => l.Contains("seccomp(SECCOMP_SET_MODE_FILTER", StringComparison.Ordinal));
        Assert.True(start >= 0, $"no seccomp() call in the trace of {name}");
        var observed = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(start + 1))
        {
            var match = CallPattern().Match(line);
            // The sealing call itself may end after another thread's line (strace -f: "<... seccomp resumed>").
            if (match.Success && !line.Contains("<... seccomp resumed>", StringComparison.Ordinal))
            {
                observed.Add(match.Groups[1].Value);
            }
        }
        image.AssertSucceeded();
        var allowed = AllowList(Path.ChangeExtension(image.ImagePath, ".seccomp.txt"), out var onlyRuntime);
        var outside = observed.Where(c => !allowed.Contains(c)).ToList();
        var unused = allowed.Where(c => !observed.Contains(c)).ToList();
        output.WriteLine($"{name}: {allowed.Count} allowed, {observed.Count} observed after start, {unused.Count} allowed but not needed by this run: {string.Join(", ", unused)}");
        output.WriteLine($"{name}: observed: {string.Join(", ", observed)}");
        Assert.True(outside.Count == 0, $"{name} made calls outside its list after start: {string.Join(", ", outside)}");
        // The image's list is tight: most of it is needed by this one run (the rest is exit paths, rare errors). Not
        // for an image whose every call is the runtime's base list (hello, on the job loop: no thread pool, so one run
        // makes 6 of its 30 calls): that list stays whole because the GC can start a thread or suspend others at any
        // collection, and the images with devices (dns, www) check it in use.
        if (!onlyRuntime)
        {
            Assert.True(observed.Count * 2 >= allowed.Count, $"{name}: only {observed.Count} of {allowed.Count} allowed calls were needed: {string.Join(", ", unused)}");
        }
    }

    // "1234  name(" or "1234  <... name resumed>"
    [GeneratedRegex(@"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")]
    private static partial Regex CallPattern();

    /// <summary>The calls of the image's NAME.seccomp.txt (written by the build next to the image).</summary>
    private static SortedSet<string> AllowList(PublishedAppliance image)
    {
        image.AssertSucceeded();
        var path = Path.ChangeExtension(image.ImagePath, ".seccomp.txt");
        Assert.True(File.Exists(path), $"no allow-list next to the image: {path}");
        return AllowList(path, out _);
    }

    /// <summary>The calls of an allow-list file; <paramref name="onlyRuntime"/>: every one is declared by the runtime alone (no device adds one).</summary>
    private static SortedSet<string> AllowList(string path, out bool onlyRuntime)
    {
        var calls = new SortedSet<string>(StringComparer.Ordinal);
        onlyRuntime = true;
        foreach (var line in File.ReadAllLines(path))
        {
            if (line.Length > 0 && !line.StartsWith('#'))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                calls.Add(fields[0]);
                onlyRuntime &= fields is [_, "runtime", ..];
            }
        }
        return calls;
    }

    private static void AssertSeccomp(int processId)
    {
        var status = File.ReadAllText($"/proc/{processId.ToString(CultureInfo.InvariantCulture)}/status");
        Assert.Matches(@"(?m)^Seccomp:\s+2$", status);
        Assert.Matches(@"(?m)^Seccomp_filters:\s+1$", status);
        Assert.Matches(@"(?m)^NoNewPrivs:\s+1$", status);
    }

    private sealed class Started(Process process) : IDisposable
    {
        public Process Process { get; } = process;

        public System.Text.StringBuilder Output { get; } = new();

        public int Id => Process.Id;

        public void Kill()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                Process.WaitForExit(10_000);
            }
        }

        public void Dispose()
        {
            Kill();
            Process.Dispose();
        }
    }

    private static Started StartRaw(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        var started = new Started(new Process { StartInfo = info });
        started.Process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (started.Output) { started.Output.AppendLine(e.Data); } } };
        started.Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (started.Output) { started.Output.AppendLine(e.Data); } } };
        started.Process.Start();
        started.Process.BeginOutputReadLine();
        started.Process.BeginErrorReadLine();
        return started;
    }

    private static Started StraceStart(string trace, string image, params string[] arguments) =>
        StartRaw("strace", ["-f", "-qq", "-o", trace, image, .. arguments]);

    private static void WaitForLine(Started process, string text)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            string log;
            lock (process.Output)
            {
                log = process.Output.ToString();
            }
            if (log.Contains(text, StringComparison.Ordinal))
            {
                return;
            }
            Assert.True(DateTime.UtcNow < deadline && !process.Process.HasExited, $"never printed '{text}':\n{log}");
            Thread.Sleep(20);
        }
    }

    /// <summary>SIGTERM to the appliance strace runs (its child), so that the exit path is traced too; then strace ends.</summary>
    private static void StopTraced(Started strace)
    {
        TerminateTracee(strace.Id);
        Assert.True(strace.Process.WaitForExit(20_000), "strace did not end after its appliance was asked to stop");
        Assert.True(strace.Process.ExitCode == 0, $"the traced appliance did not exit cleanly: exit {strace.Process.ExitCode}\n{strace.Output}");
    }

    private static void TerminateTracee(int stracePid)
    {
        var children = File.ReadAllText($"/proc/{stracePid.ToString(CultureInfo.InvariantCulture)}/task/{stracePid.ToString(CultureInfo.InvariantCulture)}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(children);
        Processes.Run("kill", ["-TERM", children[0]], TimeSpan.FromSeconds(5));
    }
}
