using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.MSBuild;
using Microsoft.CodeAnalysis.Text;

namespace Unikernel.Generators.Editor.Tests;

/// <summary>
/// unikernel.yaml as an IDE sees it: a Roslyn MSBuildWorkspace (the design-time build editors use) opens a throwaway
/// copy of examples/hello-yaml, the YAML is edited as an additional document, and the analyzer reports on that file at
/// the right line and column. It also shows that design-time builds load the generator with YamlDotNet.
/// </summary>
public sealed class WorkspaceYamlTests
{
    [Fact]
    public async Task A_yaml_edit_is_reported_on_the_additional_file_at_its_line_and_column()
    {
        using var scratch = new Scratch("hello-yaml", "hello");
        scratch.Prepare();
        using var workspace = MSBuildWorkspace.Create();
        var failures = new List<string>();
        workspace.WorkspaceFailed += (_, e) => failures.Add(e.Diagnostic.ToString());
        var project = await workspace.OpenProjectAsync(scratch.ProjectFile).WaitAsync(TimeSpan.FromMinutes(4));
        Assert.DoesNotContain(failures, f => f.Contains("Failure", StringComparison.Ordinal));

        // The design-time build passed YamlDotNet with the generator: it ran (no CS8785), so there is a Main (no CS5001).
        var generated = await project.GetSourceGeneratedDocumentsAsync().AsTask().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Contains(generated, d => d.HintName.EndsWith(".Unikernel.g.cs", StringComparison.Ordinal));
        var compilation = (await project.GetCompilationAsync().WaitAsync(TimeSpan.FromMinutes(2)))!;
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        Assert.Empty(await Analyze(project));

        var yaml = project.AdditionalDocuments.Single(d => d.Name == "unikernel.yaml");
        var original = (await yaml.GetTextAsync()).ToString();
        var edited = original.Replace("time: { kind: time }", "time: { kind: tme }", StringComparison.Ordinal);
        Assert.NotEqual(original, edited);
        var changed = workspace.CurrentSolution.WithAdditionalDocumentText(yaml.Id, SourceText.From(edited)).GetProject(project.Id)!;

        var diagnostic = Assert.Single(await Analyze(changed));
        Assert.Equal("UK1005", diagnostic.Id);
        Assert.Equal(LocationKind.ExternalFile, diagnostic.Location.Kind);
        var span = diagnostic.Location.GetLineSpan();
        Assert.Equal(yaml.FilePath, span.Path);
        var line = edited[..edited.IndexOf("tme", StringComparison.Ordinal)].Count(c => c == '\n');
        var column = edited.IndexOf("tme", StringComparison.Ordinal) - edited.LastIndexOf('\n', edited.IndexOf("tme", StringComparison.Ordinal)) - 1;
        Assert.Equal((line, column, line, column + 3), (span.StartLinePosition.Line, span.StartLinePosition.Character, span.EndLinePosition.Line, span.EndLinePosition.Character));
        Assert.Contains("did you mean 'time'?", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

        // Undone, the diagnostic goes away.
        var undone = changed.Solution.WithAdditionalDocumentText(yaml.Id, SourceText.From(original)).GetProject(project.Id)!;
        Assert.Empty(await Analyze(undone));
    }

    /// <summary>The project's own Unikernel analyzer (from its analyzer references, as the IDE loads it) on the project.</summary>
    private static async Task<IReadOnlyList<Diagnostic>> Analyze(Project project)
    {
        var analyzers = project.AnalyzerReferences
            .SelectMany(r => r.GetAnalyzers(LanguageNames.CSharp))
            .Where(a => a.GetType().FullName == "Unikernel.Generators.UnikernelAnalyzer")
            .ToImmutableArray();
        Assert.Single(analyzers);
        var compilation = (await project.GetCompilationAsync().WaitAsync(TimeSpan.FromMinutes(2)))!;
        var diagnostics = await compilation.WithAnalyzers(analyzers, project.AnalyzerOptions).GetAllDiagnosticsAsync().WaitAsync(TimeSpan.FromMinutes(2));
        // AD0001 would be the analyzer failing to load or throwing (e.g. YamlDotNet missing).
        return [.. diagnostics.Where(d => d.Id.StartsWith("UK", StringComparison.Ordinal) || d.Id == "AD0001")];
    }
}
