using System.Collections.Immutable;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Unikernel.Generators.Tests;

/// <summary>The pipeline caches: unrelated edits reuse the models, a target change re-resolves without re-reading config.cs.</summary>
public class IncrementalTests
{
    private static readonly IncrementalStepRunReason[] s_reused = [IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged];

    private static IReadOnlyList<IncrementalStepRunReason> Reasons(GeneratorDriver driver, string step)
    {
        var result = driver.GetRunResult().Results.Single();
        Assert.True(result.TrackedSteps.TryGetValue(step, out var steps), $"No tracked step '{step}'");
        IncrementalStepRunReason[] reasons = [.. steps.SelectMany(s => s.Outputs).Select(o => o.Reason)];
        // Assert.All over an empty list passes whatever happened: every step asked about must have run.
        Assert.NotEmpty(reasons);
        return reasons;
    }

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) FirstRun(BuildProperties properties)
    {
        var compilation = Examples.Compilation("hello");
        var driver = GeneratorHarness.CreateDriver(properties).RunGenerators(compilation);
        Assert.All(Reasons(driver, TrackingNames.ConfigModel), r => Assert.Equal(IncrementalStepRunReason.New, r));
        return (driver, compilation);
    }

    [Fact]
    public void Unrelated_edit_reuses_ConfigModel_and_ResolvedModel()
    {
        var (driver, compilation) = FirstRun(BuildProperties.Test);
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText(
            "namespace HelloAppliance; public sealed class Unrelated { public int Value => 42; }", GeneratorHarness.ParseOptions, "/examples/hello/Unrelated.cs"));
        driver = driver.RunGenerators(edited);

        Assert.All(Reasons(driver, TrackingNames.ConfigModel), r => Assert.Contains(r, s_reused));
        Assert.All(Reasons(driver, TrackingNames.ResolvedModel), r => Assert.Contains(r, s_reused));
    }

    [Fact]
    public void Editing_another_file_in_place_reuses_the_models()
    {
        var (driver, compilation) = FirstRun(BuildProperties.Unix);
        var hello = compilation.SyntaxTrees.Single(t => t.FilePath.EndsWith("Hello.cs", StringComparison.Ordinal));
        var text = hello.GetText().ToString().Replace("hello: tick", "hello, tick", StringComparison.Ordinal);
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(hello, hello.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(text))));

        Assert.All(Reasons(driver, TrackingNames.ConfigModel), r => Assert.Contains(r, s_reused));
        Assert.All(Reasons(driver, TrackingNames.ResolvedModel), r => Assert.Contains(r, s_reused));
    }

    [Fact]
    public void Editing_an_additional_file_outside_crunched_directories_reuses_ResolvedModel()
    {
        var compilation = GeneratorHarness.CreateCompilation(
            (GeneratorHarness.ConfigPath, DiagnosticVerifier.InConfigure("""
                var site = c.Crunch("wwwroot");
                c.Register(c.Main<Site>(site));
                """)),
            (DiagnosticVerifier.TypesPath, DiagnosticVerifier.Types));
        var page = new InMemoryAdditionalText("/project/wwwroot/index.html", "<h1>hi</h1>");
        var readme = new InMemoryAdditionalText("/project/README.md", "one");
        GeneratorDriver driver = GeneratorHarness.CreateDriver(BuildProperties.Unix, [page, readme]).RunGenerators(compilation);
        Assert.Empty(driver.GetRunResult().Diagnostics);

        driver = driver.ReplaceAdditionalText(readme, new InMemoryAdditionalText("/project/README.md", "two")).RunGenerators(compilation);
        Assert.All(Reasons(driver, TrackingNames.CrunchFiles), r => Assert.Contains(r, s_reused));
        Assert.All(Reasons(driver, TrackingNames.ResolvedModel), r => Assert.Contains(r, s_reused));

        driver = driver.ReplaceAdditionalText(page, new InMemoryAdditionalText("/project/wwwroot/index.html", "<h1>changed</h1>")).RunGenerators(compilation);
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(driver, TrackingNames.ResolvedModel));
        Assert.Contains("changed", driver.GetRunResult().GeneratedTrees.Single(t => t.FilePath.EndsWith(".Unikernel.g.cs", StringComparison.Ordinal)).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Changing_the_target_reruns_ResolvedModel_only()
    {
        var (driver, compilation) = FirstRun(BuildProperties.Unix);
        driver = driver.WithUpdatedAnalyzerConfigOptions(new OptionsProvider(BuildProperties.Test)).RunGenerators(compilation);

        Assert.All(Reasons(driver, TrackingNames.ConfigModel), r => Assert.Contains(r, s_reused));
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(driver, TrackingNames.ResolvedModel));
        var source = driver.GetRunResult().GeneratedTrees.Single(t => t.FilePath.EndsWith(".Unikernel.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains("MemoryConsole", source, StringComparison.Ordinal);
    }

    [Fact]
    public void Editing_config_cs_reruns_the_pipeline()
    {
        var (driver, compilation) = FirstRun(BuildProperties.Unix);
        var config = compilation.SyntaxTrees.Single(t => t.FilePath.EndsWith("config.cs", StringComparison.Ordinal));
        var text = config.GetText().ToString().Replace("c.Argument(\"ticks\", 3,", "c.Argument(\"ticks\", 5,", StringComparison.Ordinal);
        driver = driver.RunGenerators(compilation.ReplaceSyntaxTree(config, config.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(text))));

        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(driver, TrackingNames.ConfigModel));
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(driver, TrackingNames.ResolvedModel));
    }

    [Theory]
    [InlineData(typeof(ConfigModel))]
    [InlineData(typeof(ResolvedModel))]
    [InlineData(typeof(BuildOptions))]
    [InlineData(typeof(DeviceItem))]
    [InlineData(typeof(FunctorItem))]
    [InlineData(typeof(ArgumentItem))]
    [InlineData(typeof(ChoiceItem))]
    public void Models_hold_no_symbols_or_compilations(Type model)
    {
        var seen = new HashSet<Type>();
        Check(model, model.Name);

        void Check(Type type, string path)
        {
            if (!seen.Add(type))
            {
                return;
            }
            Assert.False(typeof(ISymbol).IsAssignableFrom(type), $"{path} is a symbol ({type})");
            Assert.False(typeof(Compilation).IsAssignableFrom(type), $"{path} is a compilation ({type})");
            Assert.False(typeof(SemanticModel).IsAssignableFrom(type), $"{path} is a semantic model ({type})");
            Assert.False(typeof(SyntaxNode).IsAssignableFrom(type), $"{path} is a syntax node ({type})");
            Assert.False(typeof(SyntaxTree).IsAssignableFrom(type), $"{path} is a syntax tree ({type})");
            Assert.False(typeof(Location).IsAssignableFrom(type), $"{path} is a Location, which holds a syntax tree ({type})");
            if (type.IsGenericType)
            {
                foreach (var argument in type.GetGenericArguments())
                {
                    Check(argument, $"{path}<{argument.Name}>");
                }
            }
            if (type.IsArray)
            {
                Check(type.GetElementType()!, path + "[]");
            }
            if (type.Namespace != typeof(ConfigModel).Namespace || type.IsEnum || (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(EquatableArray<>)))
            {
                return; // Strings, TextSpan and the like: plain data; EquatableArray compares its elements (checked above).
            }
            // Equality must be by value for caching: records or EquatableArray, not arrays or lists.
            Assert.True(typeof(IEquatable<>).MakeGenericType(type).IsAssignableFrom(type), $"{path} ({type}) is not equatable");
            foreach (var property in type.GetProperties(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            {
                if (property.GetIndexParameters().Length > 0 || property.Name == "EqualityContract")
                {
                    continue;
                }
                Assert.False(property.PropertyType.IsArray, $"{path}.{property.Name} is an array (compared by reference)");
                Assert.False(property.PropertyType.IsGenericType && property.PropertyType.GetGenericTypeDefinition() == typeof(ImmutableArray<>),
                    $"{path}.{property.Name} is an ImmutableArray (compared by reference)");
                Check(property.PropertyType, $"{path}.{property.Name}");
            }
        }
    }
}
