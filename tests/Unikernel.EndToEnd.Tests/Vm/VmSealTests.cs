using Xunit.Abstractions;

namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>
/// Sealed VM images (the default on microvm and xen; VmExampleTests' and VmDirectStackTests' DNS images serve sealed):
/// the appliance, PID 1 under QEMU (TCG), seals itself after start, and a forbidden call ends the VM (the kernel kills
/// init with SIGSYS and resets; QEMU -no-reboot exits). Also which builds are sealed, and where their images go.
/// </summary>
[Trait("Category", "Vm")]
[Collection("Vm")]
public sealed class VmSealTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_bootTimeout = TimeSpan.FromSeconds(150);

    private static string ForbiddenProject => Path.Combine(Repo.Root, "tests", "Unikernel.EndToEnd.Tests", "Seal", "assets", "forbidden");

    /// <summary>
    /// The build's choice, read from MSBuild itself (no publish): the VM targets are sealed unless -p:UnikernelSeal=false,
    /// which builds into folders of its own; unix is sealed on request, into dist/unix-sealed/; another value is an error.
    /// </summary>
    [Theory]
    [InlineData("microvm", "socket", "", "true", "dist/microvm/", "microvm-socket/")]
    [InlineData("microvm", "socket", "false", "false", "dist/microvm-unsealed/", "microvm-socket-unsealed/")]
    [InlineData("xen", "direct", "", "true", "dist/xen-direct/", "xen-direct/")]
    [InlineData("xen", "direct", "false", "false", "dist/xen-direct-unsealed/", "xen-direct-unsealed/")]
    [InlineData("unix", "socket", "", "false", "dist/unix/", "unix-socket/")]
    [InlineData("unix", "socket", "true", "true", "dist/unix-sealed/", "unix-socket-sealed/")]
    public void The_seal_and_its_folders_follow_the_target_unless_the_build_says(string target, string net, string property, string seal, string dist, string obj)
    {
        var project = Path.Combine(Repo.Root, "examples", "hello");
        string[] arguments =
        [
            "msbuild", "-nologo", $"-p:UnikernelTarget={target}", $"-p:UnikernelNet={net}",
            .. (property.Length > 0 ? (string[])[$"-p:UnikernelSeal={property}"] : []),
            "-getProperty:UnikernelSeal", "-getProperty:UnikernelDist", "-getProperty:UnikernelVmImageDir", "-getProperty:IntermediateOutputPath",
        ];
        var result = Processes.Dotnet(TimeSpan.FromMinutes(3), project, arguments);
        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = System.Text.Json.JsonDocument.Parse(result.StandardOutput);
        var properties = json.RootElement.GetProperty("Properties");
        Assert.Equal(seal, properties.GetProperty("UnikernelSeal").GetString());
        var image = properties.GetProperty(target == "unix" ? "UnikernelDist" : "UnikernelVmImageDir").GetString()!;
        Assert.EndsWith(Path.Combine("examples", "hello", dist), image, StringComparison.Ordinal);
        Assert.Contains("/" + obj, properties.GetProperty("IntermediateOutputPath").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_seal_that_is_neither_true_nor_false_is_a_build_error()
    {
        var project = Path.Combine(Repo.Root, "examples", "hello");
        var result = Processes.Dotnet(TimeSpan.FromMinutes(3), project, "msbuild", "-nologo", "-t:_UnikernelCheckSeal", "-p:UnikernelTarget=microvm", "-p:UnikernelSeal=maybe");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("UnikernelSeal must be true or false, not 'maybe'", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void A_forbidden_call_in_a_sealed_microvm_ends_the_vm()
    {
        VmKernels.Ensure("microvm");
        // Sealed by default: no -p:UnikernelSeal.
        var forbidden = Appliances.Publish("forbidden", "microvm", "socket", seal: null, ForbiddenProject);
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
