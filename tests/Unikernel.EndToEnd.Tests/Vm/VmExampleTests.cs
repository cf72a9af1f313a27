using System.Globalization;
using Xunit.Abstractions;

namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>
/// The real examples published for the VM targets (<c>dotnet publish -p:UnikernelTarget=microvm|xen</c>, through
/// <see cref="Appliances.Publish"/>), booted under QEMU (TCG). The DNS appliance is queried with dig from the host side
/// of a network namespace made by the test: no traffic leaves it.
/// </summary>
[Trait("Category", "Vm")]
[Collection("Vm")]
public sealed class VmExampleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_bootTimeout = TimeSpan.FromSeconds(150);

    [Fact]
    public void Dns_appliance_in_a_microvm_answers_dig_over_udp_and_tcp_on_a_tap_nic()
    {
        var dns = Appliances.Publish("dns", "microvm");
        var image = ImageDirectory(dns);
        Assert.True(File.Exists(Path.Combine(image, "dns.initramfs.cpio.xz")), $"no initramfs in {image}");

        using var net = new NetnsTap("10.201.0");
        using var stop = new CancellationTokenSource();
        string? udp = null, tcp = null;
        var digger = new Thread(() =>
        {
            // Bounded: until both transports answered or the boot timeout; each dig waits at most 2 s.
            var deadline = DateTime.UtcNow + s_bootTimeout - TimeSpan.FromSeconds(10);
            while (DateTime.UtcNow < deadline && !stop.IsCancellationRequested && (udp is null || tcp is null))
            {
                udp ??= Dig(net, "");
                if (udp is not null)
                {
                    tcp ??= Dig(net, "+tcp");
                }
            }
            stop.Cancel(); // kills QEMU: the appliance serves until killed
        });
        digger.Start();

        var command = new List<string>(net.ExecPrefix)
        {
            Path.Combine(image, "run-qemu.sh"), "--pvh", "--tap", net.Tap, "--cmdline", net.KernelIpArgument,
            "--", "--address", "0.0.0.0", "--port", "53",
        };
        var run = VmProcess.Run(command[0], command.Skip(1), s_bootTimeout, image, stop: stop.Token);
        stop.Cancel();
        digger.Join(TimeSpan.FromSeconds(30));
        output.WriteLine($"$ {string.Join(' ', command)}");
        output.WriteLine($"{run.Elapsed.TotalSeconds:F2} s (killed: {run.TimedOut})");
        output.WriteLine(run.Output);
        output.WriteLine("dig (udp):\n" + udp);
        output.WriteLine("dig +tcp:\n" + tcp);

        Assert.DoesNotContain("Kernel panic", run.Output, StringComparison.Ordinal);
        foreach (var answer in new[] { udp, tcp })
        {
            Assert.NotNull(answer);
            Assert.Contains("status: NOERROR", answer, StringComparison.Ordinal);
            var flags = answer.Split('\n').First(line => line.Contains("flags:", StringComparison.Ordinal));
            Assert.Contains(" aa", flags, StringComparison.Ordinal);
            Assert.Contains("192.0.2.80", answer, StringComparison.Ordinal);
        }
        Assert.Contains("(UDP)", udp, StringComparison.Ordinal);
        Assert.Contains("(TCP)", tcp, StringComparison.Ordinal);
    }

    [Fact]
    public void Hello_example_published_for_xen_boots_its_vmlinux_through_pvh_under_qemu_and_exits()
    {
        var hello = Appliances.Publish("hello", "xen");
        var image = ImageDirectory(hello);
        foreach (var file in new[] { "vmlinux", "hello.initramfs.cpio.xz", "hello.xl.cfg", "run-qemu.sh" })
        {
            Assert.True(File.Exists(Path.Combine(image, file)), $"{file} missing in {image}");
        }
        Assert.Contains("type = \"pvh\"", File.ReadAllText(Path.Combine(image, "hello.xl.cfg")), StringComparison.Ordinal);

        var run = VmProcess.Run(Path.Combine(image, "run-qemu.sh"), ["--", "--ticks", "2"], s_bootTimeout, image);
        output.WriteLine($"{run.Elapsed.TotalSeconds:F2} s, exit {run.ExitCode}, timed out {run.TimedOut}");
        output.WriteLine(run.Output);

        Assert.False(run.TimedOut, "QEMU did not exit by itself: the VM did not power off");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("hello: tick 1 of 2", run.Output, StringComparison.Ordinal);
        Assert.Contains("hello: tick 2 of 2", run.Output, StringComparison.Ordinal);
        Assert.Contains("unikernel: exit 0", run.Output, StringComparison.Ordinal);
    }

    /// <summary>A VM target's publish leaves no bare binary in dist/TARGET/, only the image (kernel, initramfs, configs).</summary>
    private static string ImageDirectory(PublishedAppliance published)
    {
        Assert.True(published.Publish.ExitCode == 0, $"publishing {published.Example} for {published.Target} failed:\n{published.Publish}");
        return Path.GetDirectoryName(published.ImagePath)!;
    }

    private static string? Dig(NetnsTap net, string transport)
    {
        var arguments = new List<string>
        {
            "netns", "exec", net.Namespace, "dig", $"@{net.GuestAddress}", "www.example.org", "A", "+time=2", "+tries=1",
        };
        if (transport.Length > 0)
        {
            arguments.Add(transport);
        }
        var run = VmProcess.Run("ip", arguments, TimeSpan.FromSeconds(15));
        return run.ExitCode == 0 && run.Output.Contains("status:", StringComparison.Ordinal) ? run.Output : null;
    }
}
