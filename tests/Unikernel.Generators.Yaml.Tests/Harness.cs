using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Unikernel.Generators.Yaml.Tests;

/// <summary>The shared harness (tests/Shared) with a unikernel.yaml at /project: C# sources, an optional YAML, extra files.</summary>
internal static class Harness
{
    public const string YamlPath = "/project/unikernel.yaml";

    public static string Example(string relativePath) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", relativePath));

    public static CSharpCompilation Compilation(params (string Path, string Text)[] sources) => GeneratorHarness.CreateCompilation(sources);

    public static AdditionalText Text(string path, string text) => new InMemoryAdditionalText(path, text);

    private static ImmutableArray<AdditionalText> Additional(string? yaml, (string Path, string Text)[]? files) =>
        (yaml is null ? ImmutableArray<AdditionalText>.Empty : [Text(YamlPath, yaml)])
            .AddRange((files ?? []).Select(f => Text(f.Path, f.Text)));

    public static GeneratorDriver Driver(string? yaml, string target = "unix", string net = "socket", string keys = "", (string Path, string Text)[]? files = null) =>
        Driver(Additional(yaml, files), target, net, keys);

    public static GeneratorDriver Driver(ImmutableArray<AdditionalText> additional, string target = "unix", string net = "socket", string keys = "") =>
        GeneratorHarness.CreateDriver(new BuildProperties(target, net, keys), additional);

    /// <summary>Runs the generator and the analyzer, failing the test if they take longer than <paramref name="seconds"/> (no hangs).</summary>
    public static GeneratorResult Run(string? yaml, (string Path, string Text)[] sources, string target = "unix", string net = "socket", string keys = "", int seconds = 60, (string Path, string Text)[]? files = null)
    {
        var task = Task.Run(() => GeneratorHarness.Run(Compilation(sources), new BuildProperties(target, net, keys), Additional(yaml, files)));
        Assert.True(task.Wait(TimeSpan.FromSeconds(seconds)), $"the generator did not finish within {seconds} s");
        var result = task.Result;
        result.AssertNoGeneratorException();
        return result;
    }
}
