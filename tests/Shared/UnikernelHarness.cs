using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace Unikernel.Generators.Testing;

// The one harness of both generator test projects (linked into each): compilations over the real Unikernel assemblies,
// the generator run as a build runs it, and the analyzer that reports the diagnostics.

/// <summary>Build properties the generator reads (build_property.*), as MSBuild would pass them; Seal null: the target's default.</summary>
public sealed record BuildProperties(string Target = "unix", string Net = "", string Keys = "", string ProjectDirectory = "/project", bool? Seal = null, string CrunchLastModified = "")
{
    public static readonly BuildProperties Unix = new();

    public static readonly BuildProperties Test = new("test");
}

/// <summary>Creates test compilations and runs the generator and the analyzer on them.</summary>
public static class GeneratorHarness
{
    public const string ConfigPath = "/project/config.cs";

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(LoadReferences);

    public static ImmutableArray<MetadataReference> References => s_references.Value;

    public static CSharpParseOptions ParseOptions { get; } = new(LanguageVersion.Preview);

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        // The test host's trusted platform assemblies: the net10.0 framework plus the Unikernel assemblies. Roslyn, the
        // test frameworks and the test projects' own helpers are left out: user code never sees them.
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
                    && !name.StartsWith("Microsoft.VisualStudio", StringComparison.Ordinal)
                    && !name.StartsWith("Microsoft.Build", StringComparison.Ordinal)
                    && !name.StartsWith("YamlDotNet", StringComparison.Ordinal)
                    && !name.StartsWith("Json", StringComparison.Ordinal);
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

    /// <summary>
    /// Runs the generator once over <paramref name="compilation"/>, then the analyzer over the result (as a build does:
    /// the compiler runs analyzers on the compilation with the generated files).
    /// </summary>
    public static GeneratorResult Run(CSharpCompilation compilation, BuildProperties? properties = null, IEnumerable<AdditionalText>? additionalTexts = null)
    {
        properties ??= BuildProperties.Unix;
        var texts = (additionalTexts ?? []).ToImmutableArray();
        var driver = CreateDriver(properties, texts)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        return new GeneratorResult(driver, driver.GetRunResult(), output, generatorDiagnostics, Analyze(output, properties, texts));
    }

    public static GeneratorResult Run(string configSource, BuildProperties? properties = null, IEnumerable<AdditionalText>? additionalTexts = null) =>
        Run(CreateCompilation((ConfigPath, configSource)), properties, additionalTexts);

    /// <summary>The analyzer's diagnostics (every UK diagnostic), ordered by file and position.</summary>
    public static ImmutableArray<Diagnostic> Analyze(Compilation compilation, BuildProperties properties, ImmutableArray<AdditionalText> additionalTexts)
    {
        var options = new AnalyzerOptions(additionalTexts, new OptionsProvider(properties));
        var withAnalyzers = compilation.WithAnalyzers([new UnikernelAnalyzer()], new CompilationWithAnalyzersOptions(options, onAnalyzerException: null, concurrentAnalysis: false, logAnalyzerExecutionTime: false, reportSuppressedDiagnostics: false));
        var task = withAnalyzers.GetAllDiagnosticsAsync();
        Assert.True(task.Wait(TimeSpan.FromSeconds(60)), "the analyzer did not finish within 60 s");
        // AD0001 (an analyzer that threw) counts too: it must never happen.
        return [.. task.Result
            .Where(d => d.Id.StartsWith("UK", StringComparison.Ordinal) || d.Id.StartsWith("AD", StringComparison.Ordinal))
            .OrderBy(d => d.Location.GetLineSpan().Path, StringComparer.Ordinal)
            .ThenBy(d => d.Location.SourceSpan.Start)
            .ThenBy(d => d.Location.SourceSpan.End)
            .ThenBy(d => d.Id, StringComparer.Ordinal)];
    }
}

/// <summary>
/// One run: the generator's output, the generator's own diagnostics (none: it only emits code) and the analyzer's
/// <see cref="Diagnostics"/>.
/// </summary>
public sealed record GeneratorResult(GeneratorDriver Driver, GeneratorDriverRunResult RunResult, Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics, ImmutableArray<Diagnostic> Diagnostics)
{
    public ImmutableArray<Diagnostic> CompilerErrors => [.. Output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error)];

    public IEnumerable<string> Ids => Diagnostics.Select(d => d.Id);

    /// <summary>The generated file whose hint name ends with <paramref name="suffix"/>.</summary>
    public string Source(string suffix) =>
        RunResult.Results.SelectMany(r => r.GeneratedSources).Single(s => s.HintName.EndsWith(suffix, StringComparison.Ordinal)).SourceText.ToString();

    public bool HasSource(string suffix) =>
        RunResult.Results.SelectMany(r => r.GeneratedSources).Any(s => s.HintName.EndsWith(suffix, StringComparison.Ordinal));

    /// <summary>
    /// The generator did not throw (a throwing generator shows up as an exception and CS8785), reported nothing itself,
    /// and the analyzer did not throw (AD0001) or fail (UK0099).
    /// </summary>
    public void AssertNoGeneratorException()
    {
        foreach (var result in RunResult.Results)
        {
            Assert.True(result.Exception is null, "The generator threw: " + result.Exception);
        }
        Assert.Empty(GeneratorDiagnostics);
        Assert.DoesNotContain(Diagnostics, d => d.Id is "AD0001" or "UK0099");
    }
}

/// <summary>An in-memory additional file (unikernel.yaml, a file under a crunched directory).</summary>
public sealed class InMemoryAdditionalText(string path, string text) : AdditionalText
{
    private readonly SourceText _text = SourceText.From(text, System.Text.Encoding.UTF8);

    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}

internal sealed class OptionsProvider(BuildProperties properties) : AnalyzerConfigOptionsProvider
{
    public override AnalyzerConfigOptions GlobalOptions { get; } = new Options(new Dictionary<string, string>
    {
        ["build_property.UnikernelTarget"] = properties.Target,
        ["build_property.UnikernelNet"] = properties.Net,
        ["build_property.UnikernelKeys"] = properties.Keys,
        ["build_property.MSBuildProjectDirectory"] = properties.ProjectDirectory,
        ["build_property.UnikernelSeal"] = properties.Seal switch { true => "true", false => "false", null => "" },
        ["build_property.UnikernelCrunchLastModified"] = properties.CrunchLastModified,
    });

    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;

    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Options.Empty;

    private sealed class Options(Dictionary<string, string> values) : AnalyzerConfigOptions
    {
        public static readonly Options Empty = new([]);

        public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value) => values.TryGetValue(key, out value);
    }
}
