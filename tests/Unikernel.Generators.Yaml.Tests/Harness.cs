using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using Unikernel.Generators;

namespace Unikernel.Generators.Yaml.Tests;

/// <summary>Runs the generator in memory over C# sources and an optional unikernel.yaml.</summary>
internal static class Harness
{
    public const string YamlPath = "/project/unikernel.yaml";

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(() =>
    {
        var platform = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var ours = new[] { "Unikernel.Config.dll", "Unikernel.Devices.dll", "Unikernel.Protocols.dll" }.Select(f => Path.Combine(AppContext.BaseDirectory, f));
        return [.. platform.Where(p => !Path.GetFileName(p).StartsWith("Unikernel.", StringComparison.Ordinal)).Concat(ours).Where(File.Exists).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    });

    public static string Example(string relativePath) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", relativePath));

    public static CSharpCompilation Compilation(params (string Path, string Text)[] sources) =>
        CSharpCompilation.Create(
            "Appliance",
            sources.Select(s => CSharpSyntaxTree.ParseText(s.Text, new CSharpParseOptions(LanguageVersion.Preview), s.Path)),
            s_references.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver Driver(string? yaml, string target = "unix", string net = "socket", string keys = "", (string Path, string Text)[]? files = null)
    {
        var additional = (yaml is null ? ImmutableArray<AdditionalText>.Empty : [new InMemoryText(YamlPath, yaml)])
            .AddRange((files ?? []).Select(f => (AdditionalText)new InMemoryText(f.Path, f.Text)));
        return Driver(additional, target, net, keys);
    }

    public static AdditionalText Text(string path, string text) => new InMemoryText(path, text);

    public static GeneratorDriver Driver(ImmutableArray<AdditionalText> additional, string target = "unix", string net = "socket", string keys = "")
    {
        return CSharpGeneratorDriver.Create(
            [new UnikernelGenerator().AsSourceGenerator()],
            additional,
            new CSharpParseOptions(LanguageVersion.Preview),
            new Options(new Dictionary<string, string>
            {
                ["build_property.UnikernelTarget"] = target,
                ["build_property.UnikernelNet"] = net,
                ["build_property.UnikernelKeys"] = keys,
                ["build_property.MSBuildProjectDirectory"] = "/project",
            }),
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
    }

    public sealed record Result(GeneratorDriverRunResult Run, Compilation Output, ImmutableArray<Diagnostic> Diagnostics)
    {
        public string Source(string suffix) => Run.Results.Single().GeneratedSources.Single(s => s.HintName.EndsWith(suffix, StringComparison.Ordinal)).SourceText.ToString();

        public IEnumerable<string> Ids => Diagnostics.Select(d => d.Id);

        public ImmutableArray<Diagnostic> CompileErrors => Output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToImmutableArray();
    }

    /// <summary>Runs the generator, failing the test if it takes longer than <paramref name="seconds"/> (no hangs).</summary>
    public static Result Run(string? yaml, (string Path, string Text)[] sources, string target = "unix", string net = "socket", string keys = "", int seconds = 60, (string Path, string Text)[]? files = null)
    {
        var task = Task.Run(() =>
        {
            var driver = Driver(yaml, target, net, keys, files).RunGeneratorsAndUpdateCompilation(Compilation(sources), out var output, out var diagnostics);
            return new Result(driver.GetRunResult(), output, diagnostics);
        });
        Assert.True(task.Wait(TimeSpan.FromSeconds(seconds)), $"the generator did not finish within {seconds} s");
        var result = task.Result;
        Assert.All(result.Run.Results, r => Assert.Null(r.Exception));
        return result;
    }

    private sealed class InMemoryText(string path, string text) : AdditionalText
    {
        private readonly SourceText _text = SourceText.From(text);

        public override string Path { get; } = path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
    }

    private sealed class Options(Dictionary<string, string> global) : AnalyzerConfigOptionsProvider
    {
        private readonly DictionaryOptions _global = new(global);

        public override AnalyzerConfigOptions GlobalOptions => _global;

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => DictionaryOptions.Empty;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => DictionaryOptions.Empty;
    }

    private sealed class DictionaryOptions(Dictionary<string, string> values) : AnalyzerConfigOptions
    {
        public static readonly DictionaryOptions Empty = new([]);

        public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value) => values.TryGetValue(key, out value);
    }
}
