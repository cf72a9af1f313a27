using System.Diagnostics;
using Xunit.Abstractions;

namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>
/// The DNS example on our own TCP/IP stack in a VM: <c>dotnet publish examples/dns -p:UnikernelTarget=microvm
/// -p:UnikernelNet=direct</c> (image in dist/microvm-direct/) boots the kernel without Linux's IP stack
/// (microvm-noinet) under QEMU (TCG here) with a tap NIC in a namespace made by the test. The appliance drives eth0
/// through AF_PACKET rings (PacketNetworkInterface) and answers dig over UDP, with a static address from its
/// arguments or a DHCP lease from dnsmasq in that namespace. One publish serves both cases.
/// </summary>
[Trait("Category", "Vm")]
[Collection("Vm")]
public sealed class VmDirectStackTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_bootTimeout = TimeSpan.FromSeconds(150);

    [Fact]
    public void Dns_on_the_direct_stack_in_a_microvm_answers_dig_at_its_static_address()
    {
        var image = PublishedImage();
        using var net = new NetnsTap("10.203.0");
        var outcome = VmDns.BootAndQuery(image, net, net.GuestAddress, ["--pvh", "--tap", net.Tap],
            ["--ipv4", $"{net.GuestAddress}/24", "--address", "0.0.0.0", "--port", "53"], s_bootTimeout);
        Report(outcome);
        AssertDirectStackAnswered(outcome, $"listening on udp 0.0.0.0:53");
    }

    [Fact]
    public void Dns_on_the_direct_stack_in_a_microvm_takes_a_dhcp_lease_from_dnsmasq_and_answers_there()
    {
        VmTools.Require("dnsmasq");
        var image = PublishedImage();
        using var net = new NetnsTap("10.204.0");
        const string leased = "10.204.0.50";
        using var dnsmasq = Dnsmasq.Start(net, leased);
        var outcome = VmDns.BootAndQuery(image, net, leased, ["--pvh", "--tap", net.Tap],
            ["--address", "0.0.0.0", "--port", "53"], s_bootTimeout);
        Report(outcome);
        var log = dnsmasq.Stop();
        output.WriteLine("dnsmasq:\n" + log);
        AssertDirectStackAnswered(outcome, "listening on udp 0.0.0.0:53");
        Assert.Contains($"DHCPACK(tap0) {leased}", log, StringComparison.Ordinal);
    }

    private static string PublishedImage()
    {
        VmTools.Require("qemu-system-x86_64", "ip", "dig");
        var cache = VmKernels.Ensure("microvm-noinet");
        var dns = Appliances.Publish("dns", "microvm", "direct");
        var image = VmExampleTests.ImageDirectory(dns);
        Assert.EndsWith(Path.Combine("dist", "microvm-direct"), image, StringComparison.Ordinal);
        foreach (var file in new[] { "bzImage", "vmlinux", "dns.initramfs.cpio.xz", "run-qemu.sh", "firecracker.json", "dns.seccomp.txt" })
        {
            Assert.True(File.Exists(Path.Combine(image, file)), $"{file} missing in {image}");
        }
        Assert.DoesNotMatch(@"(?m)^socket ", File.ReadAllText(Path.Combine(image, "dns.seccomp.txt")));
        // The image's kernel is the flavour without Linux's IP stack.
        var config = File.ReadAllLines(Path.Combine(cache, "config"));
        Assert.Contains("# CONFIG_INET is not set", config);
        Assert.Contains("CONFIG_PACKET=y", config);
        Assert.Equal(File.ReadAllBytes(Path.Combine(cache, "vmlinux")), File.ReadAllBytes(Path.Combine(image, "vmlinux")));
        // The direct image gives the appliance the VM's NIC and the kernel no ip= for it.
        var script = File.ReadAllText(Path.Combine(image, "run-qemu.sh"));
        Assert.Contains("--interface eth0", script, StringComparison.Ordinal);
        // The kernel command line baked into the script has no ip=, and --forward's user-mode ip= is for socket images only.
        var append = script.Split('\n').Single(l => l.TrimStart().StartsWith("-append ", StringComparison.Ordinal));
        Assert.DoesNotContain("ip=", append, StringComparison.Ordinal);
        Assert.Contains("if [ \"direct\" = socket ]", script, StringComparison.Ordinal);
        return image;
    }

    private static void AssertDirectStackAnswered(VmDns.Outcome outcome, string listening)
    {
        var console = outcome.Run.Output;
        Assert.DoesNotContain("Kernel panic", console, StringComparison.Ordinal);
        Assert.Contains("run-qemu.sh: accelerator ", console, StringComparison.Ordinal);
        Assert.Contains(listening, console, StringComparison.Ordinal);
        // Sealed by default: after start no socket() at all, and read/write only on the descriptors open then.
        Assert.Contains("dns: sealed: ", console, StringComparison.Ordinal);
        VmDns.AssertExampleAnswer(outcome.Udp, "UDP");
        if (outcome.UdpOnly)
        {
            // The direct stack has no TCP yet and says so; nothing else (no Linux stack) answers TCP on the NIC.
            Assert.Null(outcome.Tcp);
        }
        else
        {
            VmDns.AssertExampleAnswer(outcome.Tcp, "TCP");
        }
    }

    private void Report(VmDns.Outcome outcome)
    {
        output.WriteLine($"$ {string.Join(' ', outcome.Command)}");
        output.WriteLine($"{outcome.Run.Elapsed.TotalSeconds:F2} s (killed: {outcome.Run.TimedOut}), udp only: {outcome.UdpOnly}");
        output.WriteLine(outcome.Run.Output);
        output.WriteLine("dig (udp):\n" + outcome.Udp);
        output.WriteLine("dig +tcp:\n" + outcome.Tcp);
    }

    /// <summary>A private dnsmasq (DHCP only, one address) on the namespace's tap, stopped by PID.</summary>
    private sealed class Dnsmasq : IDisposable
    {
        private readonly Process _process;
        private readonly string _directory;
        private readonly List<string> _lines = [];

        private Dnsmasq(Process process, string directory)
        {
            _process = process;
            _directory = directory;
        }

        public static Dnsmasq Start(NetnsTap net, string address)
        {
            var directory = Directory.CreateTempSubdirectory("ukvm-dnsmasq-").FullName;
            var info = new ProcessStartInfo("ip")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[]
            {
                "netns", "exec", net.Namespace, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
                "--user=root", "--group=root", "--interface=" + net.Tap, "--bind-interfaces",
                $"--dhcp-range={address},{address},255.255.255.0,10m", "--dhcp-leasefile=" + Path.Combine(directory, "leases"),
                "--pid-file=" + Path.Combine(directory, "dnsmasq.pid"), "--log-facility=-", "--log-dhcp",
            })
            {
                info.ArgumentList.Add(argument);
            }
            var process = new Process { StartInfo = info };
            var dnsmasq = new Dnsmasq(process, directory);
            process.OutputDataReceived += (_, e) => dnsmasq.Add(e.Data);
            process.ErrorDataReceived += (_, e) => dnsmasq.Add(e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return dnsmasq;
        }

        private void Add(string? line)
        {
            if (line is not null)
            {
                lock (_lines)
                {
                    _lines.Add(line);
                }
            }
        }

        /// <summary>Stops it (it runs until killed) and returns its log.</summary>
        public string Stop()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
            Assert.True(_process.WaitForExit(TimeSpan.FromSeconds(30)), "dnsmasq did not stop");
            lock (_lines)
            {
                return string.Join("\n", _lines);
            }
        }

        public void Dispose()
        {
            Stop();
            _process.Dispose();
            Directory.Delete(_directory, recursive: true);
            Assert.False(Directory.Exists(_directory), $"{_directory} was not removed");
        }
    }
}
