using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Unikernel.Generators.Yaml.Tests;

/// <summary>The YAML parse is cached on the file's text: editing C# never re-parses it, and equal models stop the pipeline.</summary>
public sealed class CachingTests
{
    private static readonly string s_hello = Harness.Example("hello/Hello.cs");
    private static readonly string s_yaml = Harness.Example("hello-yaml/unikernel.yaml");

    [Fact]
    public void Editing_a_csharp_file_does_not_reparse_the_yaml_or_regenerate_code()
    {
        var compilation = Harness.Compilation(("/project/Hello.cs", s_hello), ("/project/Other.cs", "namespace HelloAppliance; internal static class Other { }"));
        var driver = Harness.Driver(s_yaml).RunGenerators(compilation);
        var first = driver.GetRunResult().Results.Single();
        Assert.Equal(IncrementalStepRunReason.New, Assert.Single(first.TrackedSteps[YamlTrackingNames.YamlSyntax]).Outputs.Single().Reason);

        var tree = compilation.SyntaxTrees.Single(t => t.FilePath == "/project/Other.cs");
        var edited = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(SourceText.From("namespace HelloAppliance; internal static class Other { public static int X => 1; }")));
        driver = driver.RunGenerators(edited);
        var second = driver.GetRunResult().Results.Single();

        Assert.Equal(IncrementalStepRunReason.Cached, Assert.Single(Assert.Single(second.TrackedSteps[YamlTrackingNames.YamlSyntax]).Outputs).Reason);
        // Binding runs again (the compilation changed) and builds an equal model, so nothing after it runs.
        Assert.Equal(IncrementalStepRunReason.Unchanged, Assert.Single(Assert.Single(second.TrackedSteps[YamlTrackingNames.YamlConfigModel]).Outputs).Reason);
        Assert.NotEmpty(second.TrackedOutputSteps);
        Assert.All(second.TrackedSteps[TrackingNames.ResolvedModel].SelectMany(s => s.Outputs), o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));
        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));
        Assert.Equal(first.GeneratedSources.Select(s => s.SourceText.ToString()), second.GeneratedSources.Select(s => s.SourceText.ToString()));
    }

    [Fact]
    public void Editing_the_yaml_reparses_it_and_changes_the_code()
    {
        var compilation = Harness.Compilation(("/project/Hello.cs", s_hello));
        var driver = Harness.Driver(s_yaml).RunGenerators(compilation);
        var before = driver.GetRunResult().Results.Single().GeneratedSources.Single(s => s.HintName.EndsWith(".Unikernel.g.cs", StringComparison.Ordinal)).SourceText.ToString();

        var yaml = Harness.Text(Harness.YamlPath, s_yaml);
        driver = Harness.Driver([yaml]).RunGenerators(compilation);
        driver = driver.ReplaceAdditionalText(yaml, Harness.Text(Harness.YamlPath, s_yaml.Replace("default: 3", "default: 5", StringComparison.Ordinal))).RunGenerators(compilation);
        var result = driver.GetRunResult().Results.Single();
        Assert.Equal(IncrementalStepRunReason.Modified, result.TrackedSteps[YamlTrackingNames.YamlSyntax].Single().Outputs.Single().Reason);
        var after = result.GeneratedSources.Single(s => s.HintName.EndsWith(".Unikernel.g.cs", StringComparison.Ordinal)).SourceText.ToString();
        Assert.Contains("int arg_ticks = 3;", before, StringComparison.Ordinal);
        Assert.Contains("int arg_ticks = 5;", after, StringComparison.Ordinal);
    }
}
