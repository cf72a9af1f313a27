namespace Unikernel.EndToEnd.Tests;

/// <summary>examples/hello published with NativeAOT for the unix target, then run as a user would.</summary>
public sealed class HelloTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Publish_reports_no_trim_or_AOT_warnings()
    {
        var hello = Appliances.Publish("hello");
        hello.AssertSucceeded();
        var warnings = hello.Publish.StandardOutput.Split('\n').Where(line => line.Contains("warning", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.True(warnings.Count == 0, "publish printed warnings:\n" + string.Join('\n', warnings));
    }

    [Fact]
    public void Image_prints_the_ticks_and_exits_zero()
    {
        var hello = Appliances.Publish("hello");
        hello.AssertSucceeded();
        var result = hello.Run(RunTimeout, "--ticks", "2");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["hello: tick 1 of 2", "hello: tick 2 of 2"], Lines(result.StandardOutput));
    }

    [Fact]
    public void Default_is_three_ticks()
    {
        var hello = Appliances.Publish("hello");
        hello.AssertSucceeded();
        var result = hello.Run(RunTimeout);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(3, Lines(result.StandardOutput).Length);
    }

    [Fact]
    public void Help_lists_the_runtime_arguments_with_types_and_defaults()
    {
        var hello = Appliances.Publish("hello");
        hello.AssertSucceeded();
        var result = hello.Run(RunTimeout, "--help");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--ticks <int>", result.StandardOutput);
        Assert.Contains("(default: 3)", result.StandardOutput);
    }

    [Theory]
    [InlineData("--ticks", "three", "--ticks expects an integer, got 'three'")]
    [InlineData("--ticks", null, "--ticks needs a value")]
    [InlineData("--tics", "3", "unknown argument '--tics'")]
    public void Bad_arguments_give_a_clear_message_and_exit_code_2(string option, string? value, string message)
    {
        var hello = Appliances.Publish("hello");
        hello.AssertSucceeded();
        var result = value is null ? hello.Run(RunTimeout, option) : hello.Run(RunTimeout, option, value);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.StandardError);
        Assert.Empty(result.StandardOutput);
    }

    [Fact]
    public async Task Sigterm_stops_the_appliance_cleanly()
    {
        var hello = Appliances.Publish("hello");
        hello.AssertSucceeded();
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(hello.ImagePath, "--ticks 1000")
        {
            RedirectStandardOutput = true,
        })!;
        try
        {
            // Bounded: WaitAsync throws a TimeoutException if the appliance prints nothing.
            Assert.Equal("hello: tick 1 of 1000", await process.StandardOutput.ReadLineAsync().WaitAsync(RunTimeout));
            Assert.Equal(0, Kill(process.Id, 15));
            Assert.True(process.WaitForExit(10_000), "the appliance did not stop within 10 s of SIGTERM");
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    [Fact]
    public void The_device_graph_is_written_next_to_the_image()
    {
        var hello = Appliances.Publish("hello");
        hello.AssertSucceeded();
        var dot = File.ReadAllText(hello.ImagePath + ".dot");
        Assert.StartsWith("digraph \"hello\"", dot);
        Assert.Contains("\"hello\" -> \"console\"", dot);
        Assert.Contains("\"hello\" -> \"time\"", dot);
        Assert.Contains("Unikernel.Devices.Unix.UnixConsole", dot);
    }

    [Fact]
    public void The_device_graph_is_also_written_as_SVG_when_Graphviz_is_installed()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':');
        Assert.True(path.Any(d => File.Exists(Path.Combine(d, "dot"))), "this test needs Graphviz's dot (Debian package graphviz; scripts/setup.sh installs it)");
        var hello = Appliances.Publish("hello");
        hello.AssertSucceeded();
        var svg = System.Xml.Linq.XDocument.Load(hello.ImagePath + ".svg");
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        // One node per device and job, labelled with the implementation, as in the .dot.
        var text = string.Concat(svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value + "\n"));
        Assert.Contains("Unikernel.Devices.Unix.UnixConsole", text);
        Assert.Contains("Unikernel.Devices.Unix.UnixTime", text);
        Assert.Contains("--ticks", text);
    }

    [Fact]
    public void Describe_prints_the_device_tree_with_the_parsed_argument_values()
    {
        var hello = Appliances.Publish("hello");
        hello.AssertSucceeded();
        var result = hello.Run(RunTimeout, "--ticks=7", "--describe");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(
            [
                "hello (target unix)",
                "└── hello: HelloAppliance.Hello",
                "    ├── console: Unikernel.Devices.Unix.UnixConsole",
                "    ├── time: Unikernel.Devices.Unix.UnixTime",
                "    └── --ticks <int> = 7",
                "arguments:",
                "  --ticks <int> = 7",
            ],
            result.StandardOutput.TrimEnd('\n').Split('\n'));
        // Nothing ran: describing does not start the job.
        Assert.DoesNotContain("tick 1", result.StandardOutput);
        var bad = hello.Run(RunTimeout, "--describe", "--ticks", "many");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--ticks expects an integer, got 'many'", bad.StandardError);
    }

    [Fact]
    public void The_same_example_builds_and_runs_on_the_test_target()
    {
        // The test target swaps in deterministic devices (a virtual clock): the same source, one build property.
        var project = Path.Combine(Repo.Root, "examples", "hello");
        var build = Processes.Dotnet(TimeSpan.FromMinutes(5), project, "build", "-c", "Release", "-p:UnikernelTarget=test", "-nologo");
        Assert.True(build.ExitCode == 0, build.ToString());
        var assembly = Path.Combine(project, "bin", "Release", "test-socket", "net10.0", "hello.dll");
        var describe = Processes.Dotnet(TimeSpan.FromSeconds(60), project, assembly, "--describe");
        Assert.True(describe.ExitCode == 0, describe.ToString());
        Assert.Contains("time: Unikernel.Devices.Testing.VirtualClock", describe.StandardOutput);
        // A day of one-second sleeps: only a virtual clock gets through it before the run's bound.
        var run = Processes.Dotnet(TimeSpan.FromSeconds(120), project, assembly, "--ticks", "86400");
        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = Lines(run.StandardOutput);
        Assert.Equal(86400, lines.Length);
        Assert.Equal("hello: tick 86400 of 86400", lines[^1]);
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
