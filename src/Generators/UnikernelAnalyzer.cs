using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace Unikernel.Generators;

/// <summary>
/// Reports every UK diagnostic, for config.cs and unikernel.yaml, with the generator's own reader and resolver.
/// Editors and language servers (csharp-ls, the Roslyn language server, Visual Studio, Rider) show analyzer
/// diagnostics as you type but never a source generator's, so the generator emits code only and this is the one place
/// that reports (a diagnostic is never reported twice).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class UnikernelAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = [.. Diagnostics.All];

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(static start =>
        {
            var attribute = start.Compilation.GetTypeByMetadataName(UnikernelGenerator.AttributeName);
            if (attribute is null)
            {
                return; // Not a unikernel project (no Unikernel.Config reference): nothing to read.
            }
            var session = new Session(start.Compilation, start.Options, attribute);
            start.RegisterSyntaxNodeAction(session.AnalyzeClass, SyntaxKind.ClassDeclaration);
            start.RegisterAdditionalFileAction(session.AnalyzeYaml);
        });
    }

    /// <summary>What one compilation's analysis shares: its build options, its crunchable files, its trees by path.</summary>
    private sealed class Session(Compilation compilation, AnalyzerOptions options, INamedTypeSymbol attribute)
    {
        private readonly BuildOptions _options = BuildOptions.From(options.AnalyzerConfigOptionsProvider.GlobalOptions);
        private readonly Lazy<Dictionary<string, SyntaxTree>> _trees = new(() =>
            compilation.SyntaxTrees.GroupBy(t => t.FilePath, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal));

        public void AnalyzeClass(SyntaxNodeAnalysisContext context)
        {
            var declaration = (ClassDeclarationSyntax)context.Node;
            if (declaration.AttributeLists.Count == 0 || declaration.Identifier.IsMissing
                || context.SemanticModel.GetDeclaredSymbol(declaration, context.CancellationToken) is not { } type)
            {
                return;
            }
            foreach (var data in type.GetAttributes())
            {
                // Only the attribute written on this declaration: a second part with [Unikernel] is its own (CS0579) read.
                if (!SymbolEqualityComparer.Default.Equals(data.AttributeClass, attribute)
                    || data.ApplicationSyntaxReference is not { } reference
                    || reference.SyntaxTree != declaration.SyntaxTree
                    || !declaration.Span.Contains(reference.Span))
                {
                    continue;
                }
                var fallback = declaration.Identifier.GetLocation();
                Report(Analyze(() => CSharpConfigReader.Read(type, declaration, data, context.SemanticModel, context.CancellationToken), context.CancellationToken),
                    context.ReportDiagnostic, fallback, yaml: null);
            }
        }

        public void AnalyzeYaml(AdditionalFileAnalysisContext context)
        {
            var path = context.AdditionalFile.Path;
            if (!YamlConfigReader.IsConfigurationFile(path) || !YamlConfigReader.IsInProjectDirectory(path, _options.ProjectDirectory))
            {
                return;
            }
            var text = context.AdditionalFile.GetText(context.CancellationToken);
            var fallback = YamlLocation(path, text);
            if (CSharpConfigName(context.CancellationToken) is { } csharpClass)
            {
                // config.cs wins (its own diagnostics come from AnalyzeClass); the YAML gets only UK0017.
                context.ReportDiagnostic(Diagnostic.Create(Diagnostics.BothConfigurations, fallback, csharpClass));
                return;
            }
            var diagnostics = Analyze(() => YamlConfigReader.Read(YamlSyntaxParser.Parse(path, text, context.CancellationToken), compilation, context.CancellationToken), context.CancellationToken);
            Report(diagnostics, context.ReportDiagnostic, fallback, (path, text));
        }

        /// <summary>Reads and resolves like the generator; never throws (a failure is UK0099).</summary>
        private EquatableArray<DiagnosticInfo> Analyze(Func<ConfigModel> read, CancellationToken cancellationToken)
        {
            try
            {
                return Resolve(read(), cancellationToken).Diagnostics;
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                return new[] { DiagnosticInfo.Create(Diagnostics.InternalError, null, exception.GetType().Name + ": " + exception.Message) }.ToEquatableArray();
            }
        }

        private ResolvedModel Resolve(ConfigModel config, CancellationToken cancellationToken)
        {
            var directories = config.Items.OfType<DeviceItem>().Where(i => i.CrunchDirectory.Length > 0).Select(i => i.CrunchDirectory).Distinct().ToEquatableArray();
            // Only which files exist matters for diagnostics (UK0016): their text is the generator's business.
            var crunch = directories.Length == 0
                ? EquatableArray<CrunchFile>.Empty
                : options.AdditionalFiles
                    .Select(f => CrunchFiles.Read(f, directories, _options, withContent: false, cancellationToken))
                    .Where(f => f is not null)
                    .Select(f => f!)
                    .ToEquatableArray();
            cancellationToken.ThrowIfCancellationRequested();
            return Resolver.Resolve(config, _options, crunch);
        }

        private void Report(EquatableArray<DiagnosticInfo> diagnostics, Action<Diagnostic> report, Location fallback, (string Path, SourceText? Text)? yaml)
        {
            foreach (var diagnostic in diagnostics)
            {
                var descriptor = Diagnostics.ById(diagnostic.Id);
                var properties = diagnostic.Fix.Length == 0 ? null : ImmutableDictionary<string, string?>.Empty.Add(DiagnosticInfo.FixProperty, diagnostic.Fix);
                report(Diagnostic.Create(descriptor, ToLocation(diagnostic.Location, fallback, yaml), properties, [.. diagnostic.Arguments.Items]));
            }
        }

        /// <summary>
        /// A source location in the compilation's tree (an editor shows only those on a .cs document), or the YAML file's
        /// own location (an additional-file diagnostic); anything else goes to <paramref name="fallback"/>.
        /// </summary>
        private Location ToLocation(LocationInfo? location, Location fallback, (string Path, SourceText? Text)? yaml)
        {
            if (location is null)
            {
                return fallback;
            }
            if (yaml is { } file && string.Equals(location.FilePath, file.Path, StringComparison.Ordinal))
            {
                return Widen(location, file.Text).ToLocation();
            }
            return _trees.Value.TryGetValue(location.FilePath, out var tree) && location.Span.End <= tree.Length
                ? Location.Create(tree, location.Span)
                : fallback;
        }

        /// <summary>
        /// A YAML range an editor can show: a zero-width one (a position the parser marks, e.g. a tab) becomes the rest of
        /// its line, or the line itself at its end.
        /// </summary>
        private static LocationInfo Widen(LocationInfo location, SourceText? text)
        {
            if (!location.Span.IsEmpty || text is null || text.Length == 0 || location.Span.Start > text.Length)
            {
                return location;
            }
            var line = text.Lines.GetLineFromPosition(location.Span.Start);
            var span = location.Span.Start < line.End
                ? TextSpan.FromBounds(location.Span.Start, line.End)
                : line.Span.IsEmpty ? new TextSpan(Math.Max(0, Math.Min(location.Span.Start, text.Length - 1)), 1) : line.Span;
            if (span.End > text.Length)
            {
                return location;
            }
            return location with { Span = span, LineSpan = text.Lines.GetLinePositionSpan(span) };
        }

        /// <summary>The first line of the YAML file (a real range, never zero-width unless the file is empty).</summary>
        private static Location YamlLocation(string path, SourceText? text)
        {
            var line = text is { Lines.Count: > 0 } ? text.Lines[0] : default;
            var span = text is null ? default : line.Span;
            var lineSpan = text is null ? default : text.Lines.GetLinePositionSpan(span);
            return Location.Create(path, span, lineSpan);
        }

        /// <summary>The [Unikernel] class of config.cs, if the project has one (then the YAML file is ignored: UK0017).</summary>
        private string? CSharpConfigName(CancellationToken cancellationToken)
        {
            foreach (var tree in compilation.SyntaxTrees)
            {
                foreach (var declaration in tree.GetRoot(cancellationToken).DescendantNodes(n => n is CompilationUnitSyntax or BaseNamespaceDeclarationSyntax or ClassDeclarationSyntax).OfType<ClassDeclarationSyntax>())
                {
                    if (declaration.AttributeLists.SelectMany(l => l.Attributes).Any(a => LastName(a.Name) is "Unikernel" or "UnikernelAttribute")
                        && CSharpConfigReader.DeclaredSymbol(compilation, declaration, cancellationToken) is { } type
                        && type.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, attribute)))
                    {
                        return type.ContainingNamespace.IsGlobalNamespace ? type.Name : type.ContainingNamespace.ToDisplayString() + "." + type.Name;
                    }
                }
            }
            return null;
        }

        private static string LastName(NameSyntax name) => name switch
        {
            QualifiedNameSyntax qualified => qualified.Right.Identifier.Text,
            AliasQualifiedNameSyntax alias => alias.Name.Identifier.Text,
            SimpleNameSyntax simple => simple.Identifier.Text,
            _ => "",
        };
    }
}
