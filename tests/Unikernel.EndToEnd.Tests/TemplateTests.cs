using Unikernel.Tests;

namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// The `dotnet new` templates as a user gets them: Unikernel.Templates installed from artifacts/packages into a
/// throwaway DOTNET_CLI_HOME, a project made from each, built and run against the packages. (unikernel-dns is
/// published and asked over the network in <see cref="TutorialTests"/>, unikernel-www also in a microvm.)
/// </summary>
[Collection(PackageCollection.Name)]
public sealed class TemplateTests : IDisposable
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);
    private readonly UserWorkspace _workspace = new();

    [Fact]
    public void The_template_package_installs_all_four_templates()
    {
        var list = InstallAndList();
        Assert.Contains("unikernel-yaml", list);
        Assert.Contains("unikernel-dns", list);
        Assert.Contains("unikernel-www", list);
        Assert.Matches(@"(?m)\sunikernel\s", list);
    }

    [Fact]
    public void A_unikernel_project_builds_for_unix_and_microvm_and_runs()
    {
        InstallAndList();
        var project = New("unikernel", "greeter");
        var run = BuildAndRun(project, "greeter", "--who", "templates", "--times", "2");
        Assert.Equal(["hello, templates (1 of 2)", "hello, templates (2 of 2)"], Lines(run.StandardOutput));

        var vm = _workspace.Dotnet(BuildTimeout, project, "build", "-c", "Release", "-p:UnikernelTarget=microvm", "-nologo");
        Assert.True(vm.ExitCode == 0, vm.ToString());
        Assert.True(File.Exists(Path.Combine(project, "bin", "Release", "microvm-socket", "net10.0", "greeter.dll")), vm.ToString());
    }

    [Fact]
    public void A_unikernel_yaml_project_builds_and_runs_and_its_schema_resolves_in_the_project()
    {
        InstallAndList();
        var project = New("unikernel-yaml", "yamlgreeter");
        var yaml = File.ReadAllText(Path.Combine(project, "unikernel.yaml"));
        var schema = System.Text.RegularExpressions.Regex.Match(yaml, @"\$schema=(\S+)").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(schema), "unikernel.yaml has no $schema");
        var schemaPath = Path.GetFullPath(Path.Combine(project, schema));
        Assert.True(File.Exists(schemaPath), $"$schema={schema} does not resolve in the new project");
        Assert.StartsWith(project, schemaPath, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllText(Path.Combine(Repo.Root, "unikernel.yaml.schema.json")), File.ReadAllText(schemaPath));

        var run = BuildAndRun(project, "yamlgreeter", "--times", "1");
        Assert.Equal(["hello, world (1 of 1)"], Lines(run.StandardOutput));
        var describe = _workspace.Dotnet(TimeSpan.FromSeconds(60), project, Assembly(project, "yamlgreeter"), "--describe", "--times", "7");
        Assert.True(describe.ExitCode == 0, describe.ToString());
        Assert.Contains("yamlgreeter (target unix)", describe.StandardOutput);
        Assert.Contains("app: yamlgreeter.App", describe.StandardOutput);
        Assert.Contains("--times <int> = 7", describe.StandardOutput);
    }

    [Fact]
    public async Task A_unikernel_www_project_builds_and_serves_its_compiled_in_site_over_http()
    {
        InstallAndList();
        var project = New("unikernel-www", "webby");
        var build = _workspace.Dotnet(BuildTimeout, project, "build", "-c", "Release", "-nologo");
        Assert.True(build.ExitCode == 0, build.ToString());
        var index = File.ReadAllText(Path.Combine(project, "site", "index.html"));
        Assert.Contains("Hello from webby", index);
        var robots = File.ReadAllText(Path.Combine(project, "site", "robots.txt"));

        // Served from the image (c.Crunch): the copy in the project folder is moved away first.
        Directory.Move(Path.Combine(project, "site"), Path.Combine(project, "site.moved"));
        var port = TestPorts.Free();
        using var server = RunningProcess.Start("dotnet", [Assembly(project, "webby"), "--address", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!server.Output.Contains("webby: serving", StringComparison.Ordinal))
        {
            Assert.True(server.IsRunning && DateTime.UtcNow < deadline, $"the web appliance did not start serving:\n{server.Output}");
            Thread.Sleep(50);
        }
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        using var page = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/index.html"));
        Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Equal(index, await page.Content.ReadAsStringAsync());
        Assert.Equal(robots, await client.GetStringAsync(new Uri($"http://127.0.0.1:{port}/robots.txt")));
        using var absent = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/absent.html"));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, absent.StatusCode);
        Assert.Matches(@"webby: serving 2 file\(s\), \d+ bytes, on 127\.0\.0\.1:\d+", server.Output);
    }


    private string InstallAndList()
    {
        Packages.AssertPacked();
        var install = _workspace.Dotnet(TimeSpan.FromMinutes(2), _workspace.Root, "new", "install", Packages.PackagePath("Unikernel.Templates"));
        Assert.True(install.ExitCode == 0, install.ToString());
        var list = _workspace.Dotnet(TimeSpan.FromMinutes(1), _workspace.Root, "new", "list", "unikernel");
        Assert.True(list.ExitCode == 0, list.ToString());
        return list.StandardOutput;
    }

    private string New(string template, string name)
    {
        var project = _workspace.NewProjectFolder(name);
        var created = _workspace.Dotnet(TimeSpan.FromMinutes(1), project, "new", template, "--name", name, "--output", project);
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.True(File.Exists(Path.Combine(project, name + ".csproj")), created.ToString());
        return project;
    }

    private ProcessResult BuildAndRun(string project, string name, params string[] arguments)
    {
        var build = _workspace.Dotnet(BuildTimeout, project, "build", "-c", "Release", "-nologo");
        Assert.True(build.ExitCode == 0, build.ToString());
        var run = _workspace.Dotnet(TimeSpan.FromSeconds(60), project, [Assembly(project, name), .. arguments]);
        Assert.True(run.ExitCode == 0, run.ToString());
        return run;
    }

    private static string Assembly(string project, string name) => Path.Combine(project, "bin", "Release", "unix-socket", "net10.0", name + ".dll");

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public void Dispose() => _workspace.Dispose();
}
