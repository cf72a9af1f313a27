using Unikernel.Tests;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace Unikernel.EndToEnd.Tests;

public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError, bool TimedOut)
{
    public override string ToString() => $"exit {ExitCode}{(TimedOut ? " (timed out)" : "")}\n--- stdout\n{StandardOutput}\n--- stderr\n{StandardError}";
}

public static class Repo
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Unikernel.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("cannot find the repository root (Unikernel.sln) above " + AppContext.BaseDirectory);
    }
}

public static class Processes
{
    private static readonly TimeSpan OutputDrain = TimeSpan.FromSeconds(30);

    /// <summary>Runs a program to completion, bounded by <paramref name="timeout"/> (the process tree is killed after it).</summary>
    public static ProcessResult Run(string fileName, IEnumerable<string> arguments, TimeSpan timeout, string? workingDirectory = null, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Repo.Root,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                info.Environment[key] = value;
            }
        }
        using var process = new Process { StartInfo = info };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        // A null line is the end of a stream: the output is complete once both have ended.
        using var stdoutDone = new ManualResetEventSlim();
        using var stderrDone = new ManualResetEventSlim();
        process.OutputDataReceived += (_, e) => { if (e.Data is null) { stdoutDone.Set(); } else { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is null) { stderrDone.Set(); } else { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExit(timeout);
        if (!exited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        // Bounded drain: a child the program left running may hold the pipes open forever.
        var drained = stdoutDone.Wait(OutputDrain) & stderrDone.Wait(OutputDrain);
        if (!drained)
        {
            lock (stderr)
            {
                stderr.AppendLine($"(output not complete {OutputDrain.TotalSeconds:0} s after the program ended: a child process still holds its pipes)");
            }
        }
        lock (stdout)
        {
            lock (stderr)
            {
                return new ProcessResult(exited ? process.ExitCode : -1, stdout.ToString(), stderr.ToString(), !exited);
            }
        }
    }

    public static ProcessResult Dotnet(TimeSpan timeout, string? workingDirectory, params string[] arguments) =>
        Run("dotnet", arguments, timeout, workingDirectory);
}

/// <summary>
/// Published appliances, shared by every test of this run: a NativeAOT publish takes about a minute here, so each
/// (example, target, net) is published once, as a user would publish it: the default net (socket) goes to the
/// project's dist/&lt;target&gt;/, any other net to dist/&lt;target&gt;-&lt;net&gt;/ (Unikernel.targets' default), so the
/// images of one example never overwrite each other. Publishes of one example run one at a time (they share obj/).
/// </summary>
public static class Appliances
{
    private static readonly ConcurrentDictionary<string, Lazy<PublishedAppliance>> s_published = new();
    // One publish at a time: two examples published side by side rebuild the same src/ projects (the Unikernel*
    // global properties reach them) into the same obj/ folders, and the copy retries (MSB3026) fail the no-warning tests.
    // VmImages takes it too.
    public static object PublishLock { get; } = new();

    public static PublishedAppliance Publish(string example, string target = "unix", string net = "socket") =>
        Publish(example, target, net, seal: null);

    /// <summary>The targets sealed when the build does not say (Unikernel.props' UnikernelSealedTargets).</summary>
    public static bool SealedByDefault(string target) => target is "microvm" or "xen";

    /// <summary>
    /// Like <see cref="Publish(string, string, string)"/>; <paramref name="seal"/> publishes with -p:UnikernelSeal=true
    /// or false (null: the target's default, sealed on the VM targets). A seal that is not the target's default goes to
    /// dist/&lt;target&gt;[-&lt;net&gt;]-sealed/ or -unsealed/. <paramref name="project"/>: a project folder other than examples/&lt;example&gt;.
    /// </summary>
    public static PublishedAppliance Publish(string example, string target, string net, bool? seal, string? project = null)
    {
        var sealedImage = seal ?? SealedByDefault(target);
        return s_published.GetOrAdd($"{example}|{target}|{net}|{sealedImage}|{project}", _ => new Lazy<PublishedAppliance>(() => DoPublish(example, target, net, seal, project))).Value;
    }

    private static PublishedAppliance DoPublish(string example, string target, string net, bool? seal, string? projectDirectory)
    {
        var project = projectDirectory ?? Path.Combine(Repo.Root, "examples", example);
        var sealedImage = seal ?? SealedByDefault(target);
        var suffix = sealedImage == SealedByDefault(target) ? "" : sealedImage ? "-sealed" : "-unsealed";
        var dist = Path.Combine(project, "dist", (net == "socket" ? target : $"{target}-{net}") + suffix);
        string[] arguments =
        [
            "publish", "-c", "Release", $"-p:UnikernelTarget={target}", $"-p:UnikernelNet={net}", "-nologo", "-clp:NoSummary",
            .. (seal is { } value ? (string[])[$"-p:UnikernelSeal={(value ? "true" : "false")}"] : []),
        ];
        ProcessResult result;
        lock (PublishLock)
        {
            result = Processes.Dotnet(TimeSpan.FromMinutes(10), project, arguments);
        }
        return new PublishedAppliance(example, target, net, Path.Combine(dist, example), result);
    }
}

public sealed record PublishedAppliance(string Example, string Target, string Net, string ImagePath, ProcessResult Publish)
{
    public void AssertSucceeded()
    {
        Assert.True(Publish.ExitCode == 0, $"publishing {Example} for {Target} (net {Net}) failed:\n{Publish}");
        Assert.True(File.Exists(ImagePath), $"no image at {ImagePath}:\n{Publish}");
    }

    public ProcessResult Run(TimeSpan timeout, params string[] arguments) => Processes.Run(ImagePath, arguments, timeout);
}

/// <summary>
/// A published appliance running on a free loopback port (<c>--address 127.0.0.1 --port N</c> plus the given
/// arguments), its output captured; ready once it prints <c>readyText</c> (bounded wait); killed on dispose.
/// </summary>
public sealed class ApplianceProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ApplianceProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public int ProcessId => _process.Id;

    /// <summary>Waits (bounded) until the output has <paramref name="count"/> lines containing <paramref name="text"/>.</summary>
    public void WaitFor(string text, int count = 1)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Output().Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal)) < count)
        {
            Assert.True(DateTime.UtcNow < deadline && !_process.HasExited, $"the appliance never printed '{text}' ({count}):\n{Output()}");
            Thread.Sleep(20);
        }
    }

    public static ApplianceProcess Start(string example, string readyText, params string[] extra) =>
        Start(Appliances.Publish(example), readyText, extra);

    /// <summary>Like <see cref="Start(string, string, string[])"/>, for a given published image (a sealed one, say).</summary>
    public static ApplianceProcess Start(PublishedAppliance appliance, string readyText, params string[] extra)
    {
        var example = appliance.Example;
        appliance.AssertSucceeded();
        var port = TestPorts.Free();
        var info = new ProcessStartInfo(appliance.ImagePath) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "--address", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture) }.Concat(extra))
        {
            info.ArgumentList.Add(argument);
        }
        var process = Process.Start(info)!;
        var running = new ApplianceProcess(process, port);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (running._output) { running._output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (running._output) { running._output.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!running.Output().Contains(readyText, StringComparison.Ordinal))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                var log = running.Output();
                running.Dispose();
                Assert.Fail($"the {example} appliance did not start:\n" + log);
            }
            Thread.Sleep(20);
        }
        return running;
    }

    public string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }


    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }
        _process.Dispose();
    }
}
