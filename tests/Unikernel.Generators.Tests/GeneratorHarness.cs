using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace Unikernel.Generators.Tests;

/// <summary>Build properties the generator reads (build_property.*), as MSBuild would pass them.</summary>
public sealed record BuildProperties(string Target = "unix", string Net = "", string Keys = "", string ProjectDirectory = "/project")
{
    public static readonly BuildProperties Unix = new();

    public static readonly BuildProperties Test = new("test");
}

/// <summary>Creates test compilations over the real Unikernel assemblies and runs the generator on them.</summary>
public static class GeneratorHarness
{
    public const string ConfigPath = "/project/config.cs";

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(LoadReferences);

    public static ImmutableArray<MetadataReference> References => s_references.Value;

    public static CSharpParseOptions ParseOptions { get; } = new(LanguageVersion.Preview);

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        // The test host's trusted platform assemblies: the net10.0 framework plus this project's references
        // (Unikernel.Config, .Devices, .Protocols). Roslyn and xunit are left out: user code never sees them.
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.Length > 0)
            .Where(p =>
            {
                var name = Path.GetFileNameWithoutExtension(p);
                return !name.StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal)
                    && !name.StartsWith("xunit", StringComparison.OrdinalIgnoreCase)
                    && !name.StartsWith("Unikernel.Generators", StringComparison.Ordinal)
                    && !name.StartsWith("testhost", StringComparison.OrdinalIgnoreCase)
                    && !name.StartsWith("Microsoft.TestPlatform", StringComparison.Ordinal)
                    && !name.StartsWith("Microsoft.VisualStudio", StringComparison.Ordinal);
            })
            .ToList();
        foreach (var assembly in new[] { typeof(Config.Configuration).Assembly, typeof(Devices.IJob).Assembly })
        {
            if (!paths.Contains(assembly.Location))
            {
                paths.Add(assembly.Location);
            }
        }
        return [.. paths.Distinct(StringComparer.Ordinal).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    }

    /// <summary>A compilation of <paramref name="sources"/> (path, text): an executable, like an appliance project.</summary>
    public static CSharpCompilation CreateCompilation(params (string Path, string Text)[] sources) =>
        CSharpCompilation.Create(
            "TestAppliance",
            sources.Select(s => CSharpSyntaxTree.ParseText(s.Text, ParseOptions, s.Path, System.Text.Encoding.UTF8)),
            References,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));

    public static GeneratorDriver CreateDriver(BuildProperties properties, IEnumerable<AdditionalText>? additionalTexts = null, bool trackSteps = true) =>
        CSharpGeneratorDriver.Create(
            [new UnikernelGenerator().AsSourceGenerator()],
            additionalTexts ?? [],
            ParseOptions,
            new OptionsProvider(properties),
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>Runs the generator once over <paramref name="compilation"/>.</summary>
    public static GeneratorResult Run(CSharpCompilation compilation, BuildProperties? properties = null, IEnumerable<AdditionalText>? additionalTexts = null)
    {
        var driver = CreateDriver(properties ?? BuildProperties.Unix, additionalTexts)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        return new GeneratorResult(driver, driver.GetRunResult(), output, generatorDiagnostics);
    }

    public static GeneratorResult Run(string configSource, BuildProperties? properties = null, IEnumerable<AdditionalText>? additionalTexts = null) =>
        Run(CreateCompilation((ConfigPath, configSource)), properties, additionalTexts);
}

public sealed record GeneratorResult(GeneratorDriver Driver, GeneratorDriverRunResult RunResult, Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics)
{
    public ImmutableArray<Diagnostic> CompilerErrors => [.. Output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error)];

    /// <summary>The generated file whose hint name ends with <paramref name="suffix"/>.</summary>
    public string Source(string suffix) =>
        RunResult.Results.SelectMany(r => r.GeneratedSources).Single(s => s.HintName.EndsWith(suffix, StringComparison.Ordinal)).SourceText.ToString();

    public bool HasSource(string suffix) =>
        RunResult.Results.SelectMany(r => r.GeneratedSources).Any(s => s.HintName.EndsWith(suffix, StringComparison.Ordinal));

    /// <summary>The generator did not throw (a throwing generator shows up as an exception and CS8785).</summary>
    public void AssertNoGeneratorException()
    {
        foreach (var result in RunResult.Results)
        {
            Assert.True(result.Exception is null, "The generator threw: " + result.Exception);
        }
        Assert.DoesNotContain(GeneratorDiagnostics, d => d.Id is "CS8784" or "CS8785");
        Assert.DoesNotContain(GeneratorDiagnostics, d => d.Id == "UK0099");
    }
}

/// <summary>An in-memory additional file (e.g. a file under a crunched directory).</summary>
public sealed class InMemoryAdditionalText(string path, string text) : AdditionalText
{
    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text, System.Text.Encoding.UTF8);
}

internal sealed class OptionsProvider(BuildProperties properties) : AnalyzerConfigOptionsProvider
{
    public override AnalyzerConfigOptions GlobalOptions { get; } = new Options(new Dictionary<string, string>
    {
        ["build_property.UnikernelTarget"] = properties.Target,
        ["build_property.UnikernelNet"] = properties.Net,
        ["build_property.UnikernelKeys"] = properties.Keys,
        ["build_property.MSBuildProjectDirectory"] = properties.ProjectDirectory,
    });

    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;

    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Options.Empty;

    private sealed class Options(Dictionary<string, string> values) : AnalyzerConfigOptions
    {
        public static readonly Options Empty = new([]);

        public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value) => values.TryGetValue(key, out value);
    }
}
