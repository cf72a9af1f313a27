using System.Text.RegularExpressions;

namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// Tests that pack the repository and use the packages as a user would. They run one at a time, after the parallel
/// tests (the pack builds src/ projects that appliance publishes build too).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackageCollection
{
    public const string Name = "packages";
}

/// <summary>The README's packing command, run once per test run; the packages it writes into artifacts/packages.</summary>
public static partial class Packages
{
    /// <summary>Exactly the command README.md gives.</summary>
    public static readonly string[] PackCommand = ["pack", "Unikernel.sln", "-c", "Release"];

    public static readonly string[] Expected = ["Unikernel", "Unikernel.Devices", "Unikernel.Protocols", "Unikernel.Templates"];

    public static string Folder { get; } = Path.Combine(Repo.Root, "artifacts", "packages");

    /// <summary>The packages' version (Directory.Build.props).</summary>
    public static string Version { get; } = VersionPattern().Match(File.ReadAllText(Path.Combine(Repo.Root, "Directory.Build.props"))).Groups[1].Value;

    private static readonly Lazy<(ProcessResult Result, DateTime Started)> s_pack = new(() =>
    {
        var started = DateTime.UtcNow.AddSeconds(-2); // file times have coarse resolution on some file systems
        return (Processes.Dotnet(TimeSpan.FromMinutes(10), Repo.Root, [.. PackCommand, "-nologo"]), started);
    });

    public static (ProcessResult Result, DateTime Started) Pack() => s_pack.Value;

    public static void AssertPacked()
    {
        var (result, _) = Pack();
        Assert.True(result.ExitCode == 0, $"dotnet {string.Join(' ', PackCommand)} failed:\n{result}");
    }

    public static string PackagePath(string id) => Path.Combine(Folder, $"{id}.{Version}.nupkg");

    [GeneratedRegex("<Version>([^<]+)</Version>")]
    private static partial Regex VersionPattern();
}

/// <summary>
/// A throwaway user environment: its own DOTNET_CLI_HOME (templates, first-run files) and NUGET_PACKAGES, so a run
/// adds nothing to the machine's ~/.nuget/packages or template cache. Packages other than Unikernel's are taken
/// read-only from the machine's package folder (a fallback folder of links), so restores need no download; the
/// Unikernel packages always come fresh from artifacts/packages. Dispose deletes it and fails if it cannot.
/// </summary>
public sealed class UserWorkspace : IDisposable
{
    public UserWorkspace()
    {
        Root = Directory.CreateTempSubdirectory("unikernel-user-").FullName;
        Directory.CreateDirectory(Home);
        Directory.CreateDirectory(Temp);
        var machine = MachineFolder;
        var fallback = Path.Combine(Root, "machine-packages");
        Directory.CreateDirectory(fallback);
        if (Directory.Exists(machine))
        {
            foreach (var package in Directory.EnumerateDirectories(machine))
            {
                var id = Path.GetFileName(package);
                if (!id.StartsWith("unikernel", StringComparison.OrdinalIgnoreCase))
                {
                    Directory.CreateSymbolicLink(Path.Combine(fallback, id), package);
                }
            }
        }
        // Applies to every project under Root (NuGet merges config files up the directory tree).
        File.WriteAllText(Path.Combine(Root, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <fallbackPackageFolders>
                <add key="machine" value="{fallback}" />
              </fallbackPackageFolders>
            </configuration>
            """);
        Environment = new Dictionary<string, string>
        {
            ["DOTNET_CLI_HOME"] = Home,
            ["NUGET_PACKAGES"] = Path.Combine(Root, "packages"),
            ["NUGET_HTTP_CACHE_PATH"] = Path.Combine(Root, "http-cache"),
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
            ["TMPDIR"] = Temp,
            // No build servers outliving the test with this environment.
            ["MSBUILDDISABLENODEREUSE"] = "1",
            ["UseSharedCompilation"] = "false",
        };
    }

    /// <summary>The machine's package folder (NUGET_PACKAGES, else ~/.nuget/packages).</summary>
    public static string MachineFolder { get; } = System.Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
        ? configured
        : Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    /// <summary>The Unikernel packages (id/version) in the machine's folder: a run must not add any.</summary>
    public static List<string> MachinePackages() => !Directory.Exists(MachineFolder)
        ? []
        : Directory.EnumerateDirectories(MachineFolder, "unikernel*").SelectMany(Directory.EnumerateDirectories)
            .Select(p => Path.GetRelativePath(MachineFolder, p)).Order(StringComparer.Ordinal).ToList();

    public string Root { get; }

    public string Home => Path.Combine(Root, "home");

    public string Temp => Path.Combine(Root, "tmp");

    public Dictionary<string, string> Environment { get; }

    /// <summary>A project folder with a nuget.config naming artifacts/packages, as the README tells users to write.</summary>
    public string NewProjectFolder(string name)
    {
        var folder = Path.Combine(Root, name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="unikernel" value="{Packages.Folder}" />
              </packageSources>
            </configuration>
            """);
        return folder;
    }

    public ProcessResult Dotnet(TimeSpan timeout, string workingDirectory, params string[] arguments) =>
        Processes.Run("dotnet", arguments, timeout, workingDirectory, Environment);

    public ProcessResult Run(TimeSpan timeout, string workingDirectory, string fileName, params string[] arguments) =>
        Processes.Run(fileName, arguments, timeout, workingDirectory, Environment);

    public void Dispose()
    {
        // Links first, so a recursive delete can never follow them into the machine's package folder.
        var fallback = Path.Combine(Root, "machine-packages");
        if (Directory.Exists(fallback))
        {
            foreach (var link in Directory.EnumerateFileSystemEntries(fallback))
            {
                Directory.Delete(link);
            }
        }
        Directory.Delete(Root, recursive: true);
        if (Directory.Exists(Root))
        {
            throw new InvalidOperationException($"clean-up failed: {Root} still exists");
        }
    }
}
