using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Unikernel.Generators.Tests;

/// <summary>The repository's examples as test compilations: their real config.cs and sources, read from examples/NAME.</summary>
public static class Examples
{
    /// <summary>Examples with snapshot baselines. A new example gets its baselines by adding it here and accepting them.</summary>
    public static readonly string[] Names = ["hello", "dns"];

    public static readonly string[] Targets = ["unix", "test", "microvm"];

    public static string Directory(string example) => Path.Combine(Snapshot.RepositoryRoot, "examples", example);

    public static CSharpCompilation Compilation(string example)
    {
        var root = Directory(example);
        var sources = System.IO.Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(p => !IsBuildOutput(root, p))
            .OrderBy(p => p, StringComparer.Ordinal)
            // Paths as in a project folder, so locations in snapshots and messages do not depend on the machine.
            .Select(p => ("/examples/" + example + "/" + Path.GetRelativePath(root, p).Replace('\\', '/'), File.ReadAllText(p)))
            .ToArray();
        Assert.NotEmpty(sources);
        return GeneratorHarness.CreateCompilation(sources);
    }

    /// <summary>The example's other files (zones to crunch, ...) as the build passes them: AdditionalFiles.</summary>
    public static IEnumerable<AdditionalText> AdditionalTexts(string example)
    {
        var root = Directory(example);
        var own = System.IO.Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(p => !IsBuildOutput(root, p) && !p.EndsWith(".cs", StringComparison.Ordinal) && !p.EndsWith(".csproj", StringComparison.Ordinal))
            .Select(p => ("/examples/" + example + "/" + Path.GetRelativePath(root, p).Replace('\\', '/'), p));
        return own.Concat(LinkedFiles(example, root))
            .OrderBy(f => f.Item1, StringComparer.Ordinal)
            .Select(f => new InMemoryAdditionalText(f.Item1, File.ReadAllText(f.Item2)))
            .ToList();
    }

    /// <summary>
    /// Folders a twin links in from its sibling (<c>&lt;None Include="../www/site/**" Link="site/..." /&gt;</c>), at their
    /// link path, as the build hands them to the generator.
    /// </summary>
    private static IEnumerable<(string, string)> LinkedFiles(string example, string root)
    {
        var project = Path.Combine(root, example + ".csproj");
        if (!File.Exists(project))
        {
            yield break;
        }
        foreach (System.Text.RegularExpressions.Match link in System.Text.RegularExpressions.Regex.Matches(
            File.ReadAllText(project), "<None Include=\"([^\"*]+)/\\*\\*\" Link=\"([^\"/%]+)/"))
        {
            var source = Path.GetFullPath(Path.Combine(root, link.Groups[1].Value));
            foreach (var file in System.IO.Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
            {
                yield return ("/examples/" + example + "/" + link.Groups[2].Value + "/" + Path.GetRelativePath(source, file).Replace('\\', '/'), file);
            }
        }
    }

    public static BuildProperties Properties(string example, string target) => new(target, ProjectDirectory: "/examples/" + example);

    /// <summary>True when the compilation has what the target's generated code calls: its start-up hook ([Target(StartUp = ...)]).</summary>
    public static bool TargetAvailable(Compilation compilation, string target) =>
        CatalogueCoverageTests.Declared().FirstOrDefault(t => t.Name == target)?.StartUp is not { } hook
        || compilation.GetTypeByMetadataName(hook.FullName!) is not null;

    private static bool IsBuildOutput(string root, string path)
    {
        var relative = Path.GetRelativePath(root, path).Replace('\\', '/');
        return relative.StartsWith("obj/", StringComparison.Ordinal) || relative.StartsWith("bin/", StringComparison.Ordinal) || relative.StartsWith("dist/", StringComparison.Ordinal);
    }

    public static IEnumerable<object[]> ExampleTargets() =>
        from example in Names from target in Targets select new object[] { example, target };
}
