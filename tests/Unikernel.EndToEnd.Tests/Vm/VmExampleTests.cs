using System.Globalization;
using Xunit.Abstractions;

namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>
/// The real examples published for the VM targets (<c>dotnet publish -p:UnikernelTarget=microvm|xen</c>, through
/// <see cref="Appliances.Publish"/>), booted under QEMU (TCG). The DNS appliance is queried with dig from the host side
/// of a network namespace made by the test: no traffic leaves it. The VM images are sealed by default (docs/sealing.md).
/// </summary>
[Trait("Category", "Vm")]
[Collection("Vm")]
public sealed class VmExampleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_bootTimeout = TimeSpan.FromSeconds(150);

    [Fact]
    public void Dns_appliance_in_a_microvm_answers_dig_over_udp_and_tcp_on_a_tap_nic()
    {
        VmKernels.Ensure("microvm");
        var dns = Appliances.Publish("dns", "microvm");
        var image = ImageDirectory(dns);
        Assert.True(File.Exists(Path.Combine(image, "dns.initramfs.cpio.xz")), $"no initramfs in {image}");
        // Sealed by default (no -p:UnikernelSeal): the list next to the image, with the VM init's exit calls.
        Assert.EndsWith(Path.Combine("dist", "microvm"), image, StringComparison.Ordinal);
        var list = File.ReadAllText(Path.Combine(image, "dns.seccomp.txt"));
        Assert.Contains("# sealed (the default on target microvm)", list, StringComparison.Ordinal);
        Assert.Contains("reboot", list, StringComparison.Ordinal);

        using var net = new NetnsTap("10.201.0");
        var outcome = VmDns.BootAndQuery(image, net, net.GuestAddress, ["--pvh", "--tap", net.Tap, "--cmdline", net.KernelIpArgument],
            ["--address", "0.0.0.0", "--port", "53"], s_bootTimeout);
        output.WriteLine($"$ {string.Join(' ', outcome.Command)}");
        output.WriteLine($"{outcome.Run.Elapsed.TotalSeconds:F2} s (killed: {outcome.Run.TimedOut})");
        output.WriteLine(outcome.Run.Output);
        output.WriteLine("dig (udp):\n" + outcome.Udp);
        output.WriteLine("dig +tcp:\n" + outcome.Tcp);

        Assert.DoesNotContain("Kernel panic", outcome.Run.Output, StringComparison.Ordinal);
        Assert.Contains("run-qemu.sh: accelerator ", outcome.Run.Output, StringComparison.Ordinal);
        // PID 1 sealed itself after start, and serves sealed.
        Assert.Contains("dns: sealed: ", outcome.Run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("cannot seal", outcome.Run.Output, StringComparison.Ordinal);
        VmDns.AssertExampleAnswer(outcome.Udp, "UDP");
        VmDns.AssertExampleAnswer(outcome.Tcp, "TCP");
    }

    [Fact]
    public void Hello_example_published_for_xen_boots_its_vmlinux_through_pvh_under_qemu_and_exits()
    {
        VmTools.Require("qemu-system-x86_64");
        VmKernels.Ensure("xen");
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
        Assert.Contains("hello: sealed: ", run.Output, StringComparison.Ordinal);
        Assert.Contains("hello: tick 1 of 2", run.Output, StringComparison.Ordinal);
        Assert.Contains("hello: tick 2 of 2", run.Output, StringComparison.Ordinal);
        Assert.Contains("unikernel: exit 0", run.Output, StringComparison.Ordinal);
    }

    /// <summary>A VM target's publish leaves no bare binary in dist/TARGET/, only the image (kernel, initramfs, configs).</summary>
    internal static string ImageDirectory(PublishedAppliance published)
    {
        Assert.True(published.Publish.ExitCode == 0, $"publishing {published.Example} for {published.Target} failed:\n{published.Publish}");
        return Path.GetDirectoryName(published.ImagePath)!;
    }
}
