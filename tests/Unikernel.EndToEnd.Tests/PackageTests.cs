namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// Uses the packages the way a user outside this repository would: pack them, then build and run a throwaway project
/// that references only the Unikernel package.
/// </summary>
public sealed class PackageTests : IDisposable
{
    private readonly string _workspace = Directory.CreateTempSubdirectory("unikernel-package-").FullName;

    [Fact]
    public void A_project_referencing_the_package_builds_and_runs()
    {
        // A unique version, so the machine's package cache never serves a stale copy.
        var version = "0.1.0-e2e." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);
        var feed = Path.Combine(_workspace, "feed");
        foreach (var project in new[] { "src/Devices", "src/Protocols", "src/Config" })
        {
            var pack = Processes.Dotnet(TimeSpan.FromMinutes(5), Repo.Root, "pack", project, "-c", "Release", $"-p:Version={version}", "-o", feed, "-nologo");
            Assert.True(pack.ExitCode == 0, pack.ToString());
        }
        var package = Path.Combine(feed, $"Unikernel.{version}.nupkg");
        using (var archive = System.IO.Compression.ZipFile.OpenRead(package))
        {
            var entries = archive.Entries.Select(e => e.FullName).ToList();
            Assert.Contains("analyzers/dotnet/cs/Unikernel.Generators.dll", entries);
            Assert.Contains("build/Unikernel.props", entries);
            Assert.Contains("build/Unikernel.targets", entries);
            Assert.Contains("lib/net10.0/Unikernel.Config.dll", entries);
        }

        var app = Path.Combine(_workspace, "greeter");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="unikernel-local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "greeter.csproj"), $"""
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
                public Task RunAsync(CancellationToken cancellationToken)
                {
                    System.Span<byte> bytes = stackalloc byte[1];
                    random.Fill(bytes);
                    console.WriteLine($"greetings, {who}");
                    return Task.CompletedTask;
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

        var build = Processes.Dotnet(TimeSpan.FromMinutes(5), app, "build", "-c", "Release", "-nologo");
        Assert.True(build.ExitCode == 0, build.ToString());
        var assembly = Path.Combine(app, "bin", "Release", "unix-socket", "net10.0", "greeter.dll");
        var run = Processes.Dotnet(TimeSpan.FromSeconds(60), app, assembly, "--who", "unikernel");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("greetings, unikernel", run.StandardOutput.Trim());

        // A wiring error in the user's config.cs is a diagnostic at that line, and only that error is reported.
        File.WriteAllText(Path.Combine(app, "config.cs"), File.ReadAllText(Path.Combine(app, "config.cs")).Replace("var random = c.Random();", "var random = c.Console();"));
        var broken = Processes.Dotnet(TimeSpan.FromMinutes(5), app, "build", "-c", "Release", "-nologo");
        Assert.NotEqual(0, broken.ExitCode);
        Assert.Contains("config.cs(12,", broken.StandardOutput);
        Assert.Contains("error UK0002", broken.StandardOutput);
        Assert.DoesNotContain("error CS", broken.StandardOutput);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_workspace, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
