using Xunit.Abstractions;

namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>
/// Sealed VM images (-p:UnikernelSeal=true, target microvm): the appliance, PID 1 under QEMU (TCG), seals itself after
/// start, serves, and a forbidden call ends the VM (the kernel kills init with SIGSYS and resets; QEMU -no-reboot exits).
/// </summary>
[Trait("Category", "Vm")]
[Collection("Vm")]
public sealed class VmSealTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_bootTimeout = TimeSpan.FromSeconds(150);

    private static string ForbiddenProject => Path.Combine(Repo.Root, "tests", "Unikernel.EndToEnd.Tests", "Seal", "assets", "forbidden");

    [Fact]
    public void Sealed_dns_in_a_microvm_answers_dig_over_udp_and_tcp()
    {
        VmKernels.Ensure("microvm");
        var dns = Appliances.Publish("dns", "microvm", "socket", seal: true);
        var image = VmExampleTests.ImageDirectory(dns);
        Assert.True(File.Exists(Path.Combine(image, "dns.seccomp.txt")), $"no allow-list in {image}");
        Assert.Contains("reboot", File.ReadAllText(Path.Combine(image, "dns.seccomp.txt")), StringComparison.Ordinal);

        using var net = new NetnsTap("10.203.0");
        var outcome = VmDns.BootAndQuery(image, net, net.GuestAddress, ["--pvh", "--tap", net.Tap, "--cmdline", net.KernelIpArgument],
            ["--address", "0.0.0.0", "--port", "53"], s_bootTimeout);
        output.WriteLine(outcome.Run.Output);
        Assert.Contains("dns: sealed: ", outcome.Run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("cannot seal", outcome.Run.Output, StringComparison.Ordinal);
        VmDns.AssertExampleAnswer(outcome.Udp, "UDP");
        VmDns.AssertExampleAnswer(outcome.Tcp, "TCP");
    }

    [Fact]
    public void A_forbidden_call_in_a_sealed_microvm_ends_the_vm()
    {
        VmKernels.Ensure("microvm");
        var forbidden = Appliances.Publish("forbidden", "microvm", "socket", seal: true, ForbiddenProject);
        var image = VmExampleTests.ImageDirectory(forbidden);
        var run = VmProcess.Run(Path.Combine(image, "run-qemu.sh"), ["--pvh", "--", "--try", "execve", "--marker", "/tmp/marker"], s_bootTimeout, image);
        output.WriteLine($"{run.Elapsed.TotalSeconds:F2} s, exit {run.ExitCode}, timed out {run.TimedOut}");
        output.WriteLine(run.Output);
        Assert.False(run.TimedOut, "the VM kept running after its forbidden call");
        Assert.Contains("forbidden: started (sealed: yes), trying 'execve'", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("execve returned", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("still alive", run.Output, StringComparison.Ordinal);
        // Not the appliance's own orderly exit: the kernel killed init (exit code 0x1f: SIGSYS).
        Assert.DoesNotContain("unikernel: exit", run.Output, StringComparison.Ordinal);
        Assert.Contains("Attempted to kill init! exitcode=0x0000001f", run.Output, StringComparison.Ordinal);
    }
}
