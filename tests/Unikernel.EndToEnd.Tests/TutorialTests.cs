using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// README.md's tutorial, run as written (the block between its tutorial markers), in a throwaway user environment:
/// pack, install the templates, `dotnet new unikernel-dns`, publish with NativeAOT, run the image, ask it with dig.
/// Then the same image shows that c.Directory reads its zones at run time.
/// </summary>
[Collection(PackageCollection.Name)]
public sealed partial class TutorialTests : IDisposable
{
    private readonly UserWorkspace _workspace = new();

    [Fact]
    public void The_README_tutorial_gives_a_DNS_appliance_that_answers_over_the_network()
    {
        RequireTool("dig", "dnsutils");
        var readme = File.ReadAllText(Path.Combine(Repo.Root, "README.md"));
        var block = TutorialBlock().Match(readme);
        Assert.True(block.Success, "README.md has no ```bash block between <!-- tutorial --> and <!-- /tutorial -->");
        Assert.Contains("5353", block.Groups[1].Value);
        var port = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        // Run as written, on a free port; a failure stops the script and the trap stops the appliance it started.
        var script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + block.Groups[1].Value.Replace("5353", port, StringComparison.Ordinal);
        var run = _workspace.Run(TimeSpan.FromMinutes(12), Repo.Root, "bash", "-c", script);
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

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    [GeneratedRegex(@"<!-- tutorial -->\s*```bash\n(.*?)```\s*<!-- /tutorial -->", RegexOptions.Singleline)]
    private static partial Regex TutorialBlock();

    public void Dispose() => _workspace.Dispose();
}
