using System.Diagnostics;

namespace Unikernel.Generators.Editor.Tests;

/// <summary>
/// A throwaway copy of an example in its own temporary folder, wired to this repository's projects the way
/// examples/ are (its Directory.Build.props/targets import the repository's), restored, with the generator built in
/// the configuration editors load (Debug). Deleted on dispose, and the deletion is checked.
/// </summary>
public sealed class Scratch : IDisposable
{
    public static readonly string RepositoryRoot = FindRoot();

    /// <param name="siblings">Examples copied next to it (examples/hello-yaml compiles ../hello/Hello.cs).</param>
    public Scratch(string example, params string[] siblings)
    {
        Root = Path.Combine(Path.GetTempPath(), $"uk-editor-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        Project = Path.Combine(Root, example);
        Directory.CreateDirectory(Project);
        var examples = Path.Combine(RepositoryRoot, "examples");
        File.WriteAllText(Path.Combine(Root, "Directory.Build.props"), $"<Project><Import Project=\"{examples}/Directory.Build.props\" /></Project>\n");
        File.WriteAllText(Path.Combine(Root, "Directory.Build.targets"), $"<Project><Import Project=\"{examples}/Directory.Build.targets\" /></Project>\n");
        foreach (var name in siblings.Append(example))
        {
            var target = Path.Combine(Root, name);
            Directory.CreateDirectory(target);
            foreach (var file in Directory.GetFiles(Path.Combine(examples, name)))
            {
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
            }
        }
    }

    public string Root { get; }

    public string Project { get; }

    public string ProjectFile => Directory.GetFiles(Project, "*.csproj").Single();

    /// <summary>
    /// What a newcomer runs once in this repository before opening an editor (README, Editor set-up): restore, and a
    /// build of the generator, whose DLL the editor loads from src/Generators/bin/Debug.
    /// </summary>
    public void Prepare()
    {
        // Once per test run, whichever test comes first: test classes run in parallel and must not build one output twice.
        _ = s_generatorBuilt.Value;
        Run("dotnet", $"restore \"{ProjectFile}\" -nologo -v:q", Project, TimeSpan.FromMinutes(5));
    }

    private static readonly Lazy<bool> s_generatorBuilt = new(() =>
    {
        Run("dotnet", $"build \"{Path.Combine(RepositoryRoot, "src", "Generators", "Unikernel.Generators.csproj")}\" -c Debug -nologo -v:q", RepositoryRoot, TimeSpan.FromMinutes(5));
        return true;
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Runs a program to completion (bounded) and returns its standard output; fails with its output otherwise.</summary>
    public static string Run(string program, string arguments, string directory, TimeSpan timeout)
    {
        using var process = Process.Start(new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("could not start " + program);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(10));
            Assert.Fail($"{program} {arguments} did not finish within {timeout.TotalSeconds} s");
        }
        Assert.True(output.Wait(TimeSpan.FromSeconds(10)) && error.Wait(TimeSpan.FromSeconds(10)), "output streams did not close");
        Assert.True(process.ExitCode == 0, $"{program} {arguments} exited with {process.ExitCode}:\n{output.Result}\n{error.Result}");
        return output.Result;
    }

    public static void RequireTool(string program, string package)
    {
        var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, program)));
        Assert.True(found, $"'{program}' is not installed: install the Debian package '{package}' (scripts/setup.sh lists it)");
    }

    public void Dispose()
    {
        // Build servers started by the restore/build may keep files open briefly: retry a few times, bounded.
        for (var attempt = 0; attempt < 5 && Directory.Exists(Root); attempt++)
        {
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException) when (attempt < 4)
            {
                Thread.Sleep(500);
            }
        }
        Assert.False(Directory.Exists(Root), "the scratch folder was not deleted: " + Root);
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Unikernel.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("Unikernel.sln not found above " + AppContext.BaseDirectory);
    }
}
