using System;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace Unikernel.Generators;

/// <summary>
/// Reads the unikernel configuration (config.cs) and emits a statically wired entry point: no reflection, no container,
/// every device a plain <c>new</c> in dependency order.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class UnikernelGenerator : IIncrementalGenerator
{
    public const string AttributeName = "Unikernel.Config.UnikernelAttribute";

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var configs = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                AttributeName,
                // A class still being typed ('partial class' without a name) gets nothing until it has one.
                static (node, _) => node is ClassDeclarationSyntax { Identifier.IsMissing: false },
                static (syntaxContext, cancellationToken) => CSharpConfigReader.Read(
                    (INamedTypeSymbol)syntaxContext.TargetSymbol, (TypeDeclarationSyntax)syntaxContext.TargetNode, syntaxContext.Attributes.FirstOrDefault(), syntaxContext.SemanticModel, cancellationToken))
            .WithTrackingName(TrackingNames.ConfigModel);

        // unikernel.yaml builds the same model (Yaml/YamlPipeline.cs).
        var allConfigs = YamlPipeline.AddYaml(context, configs);

        var options = context.AnalyzerConfigOptionsProvider
            .Select(static (provider, _) => BuildOptions.From(provider.GlobalOptions))
            .WithTrackingName(TrackingNames.BuildOptions);

        var crunchDirectories = allConfigs
            .Select(static (config, _) => config.Items.OfType<DeviceItem>().Where(i => i.CrunchDirectory.Length > 0).Select(i => i.CrunchDirectory).ToEquatableArray())
            .Collect()
            .Select(static (all, _) => all.SelectMany(d => d).Distinct().OrderBy(d => d, StringComparer.Ordinal).ToEquatableArray());

        var crunchFiles = context.AdditionalTextsProvider
            .Combine(crunchDirectories.Combine(options))
            .Select(static (pair, cancellationToken) => ReadCrunchFile(pair.Left, pair.Right.Left, pair.Right.Right, cancellationToken))
            .Where(static file => file is not null)
            .Select(static (file, _) => file!)
            .Collect()
            .Select(static (files, _) => files.OrderBy(f => f.Directory, StringComparer.Ordinal).ThenBy(f => f.Key, StringComparer.Ordinal).ToEquatableArray())
            .WithTrackingName(TrackingNames.CrunchFiles);

        var resolved = allConfigs
            .Combine(options)
            .Combine(crunchFiles)
            .Select(static (pair, _) => Resolver.Resolve(pair.Left.Left, pair.Left.Right, pair.Right))
            .WithTrackingName(TrackingNames.ResolvedModel);

        // Diagnostics are reported by UnikernelAnalyzer (the same reader and resolver), so that every editor shows them
        // live: language servers run analyzers, not a generator's own diagnostics. The generator only emits code.

        // A class that is not partial gets no generated part (it would only add CS0260 to UK0010).
        var emittable = resolved
            .Where(static model => !model.Diagnostics.Any(d => d.Id == Diagnostics.NotPartial.Id))
            .Select(static (model, _) => model with { Diagnostics = EquatableArray<DiagnosticInfo>.Empty });
        // All together, so that file names are unique: A.B.C_D and A.B_C_D get their own files (hence the dots), and a
        // second [Unikernel] declaration of one class (X and X<T>, or the attribute on two parts; CS0017/CS0579 already)
        // gets none instead of making the generator throw on a duplicate hint name.
        // The runtime's own system calls (and a VM init's), for sealed images' allow-lists (Sealing.cs).
        var sealBase = context.CompilationProvider.Select(static (compilation, _) => Sealing.ReadBase(compilation));

        context.RegisterSourceOutput(emittable.Collect().Combine(sealBase), static (spc, pair) =>
        {
            var (models, sealBase) = pair;
            var hints = new System.Collections.Generic.HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var model in models)
            {
                var hint = string.Join(".", (model.Namespace.Length > 0 ? model.Namespace + "." + model.ClassName : model.ClassName).Split('.').Select(Resolver.Identifier));
                if (!hints.Add(hint))
                {
                    continue;
                }
                spc.AddSource(hint + ".Unikernel.g.cs", SourceText.From(Emitter.EmitEntryPoint(model), System.Text.Encoding.UTF8));
                if (!model.HasErrors)
                {
                    spc.AddSource(hint + ".UnikernelGraph.g.cs", SourceText.From(Emitter.EmitGraph(model with { Dot = Sealing.AnnotateDot(model, sealBase) }), System.Text.Encoding.UTF8));
                    spc.AddSource(hint + ".UnikernelSeccomp.g.cs", SourceText.From(Sealing.Emit(model, sealBase), System.Text.Encoding.UTF8));
                }
            }
        });
    }

    private static CrunchFile? ReadCrunchFile(AdditionalText text, EquatableArray<string> directories, BuildOptions options, System.Threading.CancellationToken cancellationToken)
        => CrunchFiles.Read(text, directories, options, withContent: true, cancellationToken);
}

/// <summary>Names of pipeline steps, for incremental-caching tests.</summary>
public static class TrackingNames
{
    public const string ConfigModel = nameof(ConfigModel);
    public const string BuildOptions = nameof(BuildOptions);
    public const string CrunchFiles = nameof(CrunchFiles);
    public const string ResolvedModel = nameof(ResolvedModel);
}
