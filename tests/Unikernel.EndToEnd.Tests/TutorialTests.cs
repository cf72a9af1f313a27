using Unikernel.Tests;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// README.md's tutorials, run as written (each the block between its markers), in a throwaway user environment:
/// the microvm one (pack, install the templates, `dotnet new unikernel-www`, publish a microvm image from the
/// package, boot it under QEMU with a forwarded port, ask it with curl), then a missing kernel prerequisite as a clear
/// build error; and the unix one (`dotnet new unikernel-dns`, publish with NativeAOT, run the image, ask it with dig),
/// whose image then shows that c.Directory reads its zones at run time. The kernel comes from ~/.cache/unikernel (the
/// first run of any VM test builds it).
/// </summary>
[Collection(PackageCollection.Name)]
public sealed class TutorialTests : IDisposable
{
    private readonly UserWorkspace _workspace = new();

    [Fact]
    public void The_README_microvm_tutorial_gives_a_web_appliance_that_answers_over_the_network_in_a_microvm()
    {
        RequireTool("curl", "curl");
        RequireTool("qemu-system-x86_64", "qemu-system-x86");
        RequireTool("dot", "graphviz");
        var block = Block("tutorial-microvm");
        Assert.Contains("127.0.0.1:8000", block);
        Assert.Contains("tcp:8000:", block);
        var port = TestPorts.Free().ToString(System.Globalization.CultureInfo.InvariantCulture);
        // Run as written, with a free host port; a failure stops the script and the trap stops the VM it started.
        var script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
            + block.Replace("127.0.0.1:8000", "127.0.0.1:" + port, StringComparison.Ordinal).Replace("tcp:8000:", $"tcp:{port}:", StringComparison.Ordinal);
        var run = _workspace.Run(TimeSpan.FromMinutes(45), Repo.Root, "bash", "-c", script);
        Assert.True(run.ExitCode == 0, $"the microvm tutorial failed:\n{run}");

        var project = Directory.GetDirectories(_workspace.Temp, "hellowww", SearchOption.AllDirectories).Single();
        var image = Path.Combine(project, "dist", "microvm");
        // The page came from the VM: the console log shows the appliance booted as /init and serving.
        Assert.Contains("<h1>Hello from hellowww</h1>", run.StandardOutput);
        var console = File.ReadAllText(Path.Combine(project, "vm.log"));
        Assert.Contains("run-qemu.sh: accelerator ", console);
        Assert.Matches(@"hellowww: serving \d+ file\(s\)", console);
        // A microvm image is sealed by default: PID 1 sealed itself before serving, its list next to the image.
        Assert.Matches(@"hellowww: sealed: \d+ system calls allowed", console);
        foreach (var file in new[] { "bzImage", "vmlinux", "hellowww.initramfs.cpio.xz", "run-qemu.sh", "firecracker.json", "hellowww.dot", "hellowww.seccomp.txt" })
        {
            Assert.True(File.Exists(Path.Combine(image, file)), $"dist/microvm/{file} missing:\n{run}");
        }
        Assert.False(File.Exists(Path.Combine(image, "hellowww")), "dist/microvm/ has a bare binary next to the image");
        // The device graph as a picture too (Graphviz is on the machine).
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(image, "hellowww.svg")));
        // The image steps say what they made, one line each with sizes, at the build's normal verbosity.
        Assert.Matches(@"build-initramfs: \S+hellowww\.initramfs\.cpio\.xz \d+ B \(appliance hellowww \d+ B", run.StandardOutput);
        Assert.Matches(@"make-image: microvm \(socket stack, kernel microvm\) image of hellowww in \S+: bzImage \d+ B \+ initramfs \d+ B = \d+ B", run.StandardOutput);
        Assert.Matches(@"build-kernel: (cached|built microvm)", run.StandardOutput);

        // From the package, a missing Debian prerequisite of the kernel build is one clear build error naming the
        // apt-get command (here every package looks missing: a dpkg-query that knows none comes first on PATH).
        var fakeBin = Path.Combine(_workspace.Root, "no-debian-packages");
        Directory.CreateDirectory(fakeBin);
        var fake = Path.Combine(fakeBin, "dpkg-query");
        File.WriteAllText(fake, "#!/bin/sh\nexit 1\n");
        Assert.Equal(0, Processes.Run("chmod", ["+x", fake], TimeSpan.FromSeconds(10)).ExitCode);
        var environment = new Dictionary<string, string>(_workspace.Environment)
        {
            ["PATH"] = fakeBin + ":" + System.Environment.GetEnvironmentVariable("PATH"),
        };
        var missing = Processes.Run("dotnet", ["publish", "-c", "Release", "-r", "linux-x64", "-p:UnikernelTarget=microvm", "-nologo"],
            TimeSpan.FromMinutes(10), project, environment);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("error UKVM001", missing.StandardOutput);
        Assert.Contains("sudo apt-get install linux-source build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils", missing.StandardOutput);
        Assert.DoesNotContain("MSB3073", missing.StandardOutput);
    }

    [Fact]
    public void The_README_tutorial_gives_a_DNS_appliance_that_answers_over_the_network()
    {
        RequireTool("dig", "dnsutils");
        var block = Block("tutorial");
        Assert.Contains("5353", block);
        var port = TestPorts.Free().ToString(System.Globalization.CultureInfo.InvariantCulture);
        // Run as written, on a free port; a failure stops the script and the trap stops the appliance it started.
        var script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + block.Replace("5353", port, StringComparison.Ordinal);
        // The block packs the whole solution first: minutes on a loaded machine.
        var run = _workspace.Run(TimeSpan.FromMinutes(20), Repo.Root, "bash", "-c", script);
        Assert.True(run.ExitCode == 0, $"the tutorial failed:\n{run}");
        Assert.Matches(@"(?m)^www\.example\.com\.\s+3600\s+IN\s+A\s+192\.0\.2\.80$", run.StandardOutput);

        // The tutorial's project: the image reads the zone files of --zones when it starts (c.Directory).
        var project = Directory.GetDirectories(_workspace.Temp, "hellodns", SearchOption.AllDirectories).Single();
        var image = Path.Combine(project, "dist", "unix", "hellodns");
        Assert.True(File.Exists(image), $"no image at {image}");
        var zones = Path.Combine(_workspace.Root, "runtime-zones");
        Directory.CreateDirectory(zones);
        File.WriteAllText(Path.Combine(zones, "runtime.test.zone"), """
            $ORIGIN runtime.test.
            $TTL 60
            @    IN SOA ns.runtime.test. admin.runtime.test. 7 3600 600 86400 60
                 IN NS  ns
            ns   IN A   198.51.100.1
            late IN A   198.51.100.7
            """);
        using (var appliance = RunningProcess.Start(image, ["--zones", zones, "--address", "127.0.0.1", "--port", port]))
        {
            WaitUntilServing(appliance);
            Assert.Contains("serving 1 zone(s), 4 records", appliance.Output);
            var dig = Processes.Run("dig", ["@127.0.0.1", "-p", port, "+time=2", "+tries=3", "+norecurse", "late.runtime.test", "A"], TimeSpan.FromSeconds(30));
            Assert.True(dig.ExitCode == 0, dig.ToString());
            Assert.Matches(@"(?m)^late\.runtime\.test\.\s+60\s+IN\s+A\s+198\.51\.100\.7$", dig.StandardOutput);
            Assert.Contains("status: NOERROR", dig.StandardOutput);
            // The compiled-in build knows nothing of example.com here: only the run-time directory is served.
            var other = Processes.Run("dig", ["@127.0.0.1", "-p", port, "+time=2", "+tries=3", "+norecurse", "www.example.com", "A"], TimeSpan.FromSeconds(30));
            Assert.DoesNotContain("192.0.2.80", other.StandardOutput);
        }

        var missing = Processes.Run(image, ["--zones", Path.Combine(zones, "absent"), "--address", "127.0.0.1", "--port", port], TimeSpan.FromSeconds(30));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("cannot create device", missing.StandardError);
        Assert.Contains("does not exist", missing.StandardError);
    }

    private static void WaitUntilServing(RunningProcess appliance)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!appliance.Output.Contains("serving", StringComparison.Ordinal))
        {
            Assert.True(appliance.IsRunning && DateTime.UtcNow < deadline, $"the appliance did not start serving:\n{appliance.Output}");
            Thread.Sleep(50);
        }
    }

    private static void RequireTool(string tool, string package)
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':');
        Assert.True(path.Any(d => File.Exists(Path.Combine(d, tool))), $"the tutorial test needs '{tool}' (Debian package {package})");
    }


    /// <summary>The ```bash block between &lt;!-- NAME --&gt; and &lt;!-- /NAME --&gt; in README.md.</summary>
    private static string Block(string name)
    {
        var readme = File.ReadAllText(Path.Combine(Repo.Root, "README.md"));
        var block = Regex.Match(readme, $@"<!-- {Regex.Escape(name)} -->\s*```bash\n(.*?)```\s*<!-- /{Regex.Escape(name)} -->", RegexOptions.Singleline);
        Assert.True(block.Success, $"README.md has no ```bash block between <!-- {name} --> and <!-- /{name} -->");
        return block.Groups[1].Value;
    }

    public void Dispose() => _workspace.Dispose();
}
