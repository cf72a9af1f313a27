namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// Uses the packages the way a user outside this repository would: pack them with the README's command, then build
/// and run a throwaway project that references only the Unikernel package (restored into a throwaway package folder).
/// </summary>
[Collection(PackageCollection.Name)]
public sealed class PackageTests : IDisposable
{
    private readonly UserWorkspace _workspace = new();

    [Fact]
    public void The_README_packing_command_writes_every_package_into_artifacts_packages()
    {
        var readme = File.ReadAllText(Path.Combine(Repo.Root, "README.md"));
        Assert.Contains("dotnet " + string.Join(' ', Packages.PackCommand), readme);
        Packages.AssertPacked();
        var (_, started) = Packages.Pack();
        var written = Directory.EnumerateFiles(Packages.Folder, "*.nupkg")
            .Where(p => File.GetLastWriteTimeUtc(p) >= started)
            .Select(Path.GetFileName)
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Equal(Packages.Expected.Select(id => $"{id}.{Packages.Version}.nupkg").Order(StringComparer.Ordinal), written);
        using var templates = System.IO.Compression.ZipFile.OpenRead(Packages.PackagePath("Unikernel.Templates"));
        var entries = templates.Entries.Select(e => e.FullName).ToList();
        foreach (var template in new[] { "unikernel", "unikernel-yaml", "unikernel-dns", "unikernel-www" })
        {
            Assert.Contains($"content/{template}/.template.config/template.json", entries);
        }
        Assert.Contains("content/unikernel-yaml/unikernel.yaml.schema.json", entries);
        Assert.DoesNotContain(entries, e => e.Contains("/bin/", StringComparison.Ordinal) || e.Contains("/obj/", StringComparison.Ordinal));
    }

    [Fact]
    public void A_project_referencing_the_package_builds_and_runs()
    {
        Packages.AssertPacked();
        var version = Packages.Version;
        var package = Packages.PackagePath("Unikernel");
        using (var archive = System.IO.Compression.ZipFile.OpenRead(package))
        {
            var entries = archive.Entries.Select(e => e.FullName).ToList();
            Assert.Contains("analyzers/dotnet/cs/Unikernel.Generators.dll", entries);
            Assert.Contains("build/Unikernel.props", entries);
            Assert.Contains("build/Unikernel.targets", entries);
            Assert.Contains("lib/net10.0/Unikernel.Config.dll", entries);
            // What Unikernel.Vm.targets needs for microvm and xen images, beside it in build/vm/.
            Assert.Contains("build/Unikernel.Vm.targets", entries);
            foreach (var script in Directory.EnumerateFiles(Path.Combine(Repo.Root, "scripts", "vm"), "*", SearchOption.AllDirectories))
            {
                Assert.Contains("build/vm/" + Path.GetRelativePath(Path.Combine(Repo.Root, "scripts", "vm"), script), entries);
            }
        }

        var app = _workspace.NewProjectFolder("greeter");
        // The project is named differently from the unikernel on purpose: the image takes the unikernel's name.
        File.WriteAllText(Path.Combine(app, "greeter-app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                <PublishAot>true</PublishAot>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Unikernel" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Greeter.cs"), """
            using System.Threading;
            using System.Threading.Tasks;
            using Unikernel.Devices;

            namespace Greeter;

            public sealed class Greeter(IConsole console, IRandom random, string who) : IJob
            {
                public Job RunAsync(CancellationToken cancellationToken)
                {
                    System.Span<byte> bytes = stackalloc byte[1];
                    random.Fill(bytes);
                    console.WriteLine($"greetings, {who}");
                    return Job.CompletedJob;
                }
            }
            """);
        File.WriteAllText(Path.Combine(app, "config.cs"), """
            using Unikernel.Config;

            namespace Greeter;

            [Unikernel("greeter")]
            public static partial class GreeterConfig
            {
                static void Configure(Configuration c)
                {
                    var console = c.Console();
                    var random = c.Random();
                    c.Register(c.Main<Greeter>(console, random, c.Argument("who", "world", "Whom to greet")));
                }
            }
            """);

        var machineBefore = UserWorkspace.MachinePackages();
        var build = _workspace.Dotnet(TimeSpan.FromMinutes(5), app, "build", "-c", "Release", "-nologo");
        Assert.True(build.ExitCode == 0, build.ToString());
        Assert.True(Directory.Exists(Path.Combine(_workspace.Environment["NUGET_PACKAGES"], "unikernel", version)), "the Unikernel package was not restored into the throwaway package folder");
        Assert.Equal(machineBefore, UserWorkspace.MachinePackages());
        var assembly = Path.Combine(app, "bin", "Release", "unix-socket", "net10.0", "greeter-app.dll");
        var run = _workspace.Dotnet(TimeSpan.FromSeconds(60), app, assembly, "--who", "unikernel");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("greetings, unikernel", run.StandardOutput.Trim());

        // Publishing names the image after the unikernel ("greeter", as --help says), not the project; another
        // stack goes to its own dist/<target>-<net>/. (Framework-dependent here: the NativeAOT publish is tested on
        // the examples.)
        foreach (var (net, folder) in new[] { ("socket", "unix"), ("direct", "unix-direct") })
        {
            var publish = _workspace.Dotnet(TimeSpan.FromMinutes(5), app, "publish", "-c", "Release", "-p:PublishAot=false", $"-p:UnikernelNet={net}", "-nologo");
            Assert.True(publish.ExitCode == 0, publish.ToString());
            var dist = Path.Combine(app, "dist", folder);
            Assert.True(File.Exists(Path.Combine(dist, "greeter")), $"no dist/{folder}/greeter:\n{publish}");
            Assert.False(File.Exists(Path.Combine(dist, "greeter-app")), $"dist/{folder}/ has an image named after the project");
            Assert.StartsWith("digraph \"greeter\"", File.ReadAllText(Path.Combine(dist, "greeter.dot")));
            Assert.Contains($"greeter -> {dist}/greeter", publish.StandardOutput);
        }
        var help = _workspace.Dotnet(TimeSpan.FromSeconds(60), app, assembly, "--help");
        Assert.StartsWith("Usage: greeter [OPTIONS]", help.StandardOutput);

        // A wiring error in the user's config.cs is a diagnostic at that line, and only that error is reported.
        File.WriteAllText(Path.Combine(app, "config.cs"), File.ReadAllText(Path.Combine(app, "config.cs")).Replace("var random = c.Random();", "var random = c.Console();"));
        var broken = _workspace.Dotnet(TimeSpan.FromMinutes(5), app, "build", "-c", "Release", "-nologo");
        Assert.NotEqual(0, broken.ExitCode);
        Assert.Contains("config.cs(12,", broken.StandardOutput);
        Assert.Contains("error UK0002", broken.StandardOutput);
        Assert.DoesNotContain("error CS", broken.StandardOutput);
    }

    public void Dispose() => _workspace.Dispose();
}
