using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace Unikernel.Generators;

/// <summary>
/// The unikernel.yaml front end of the incremental pipeline: parse (cached on the file's text), then bind against the
/// compilation, then merge with the config.cs models (both at once is UK0017).
/// </summary>
internal static class YamlPipeline
{
    public static IncrementalValuesProvider<ConfigModel> AddYaml(IncrementalGeneratorInitializationContext context, IncrementalValuesProvider<ConfigModel> csharpConfigs)
    {
        // Only the additional files' identity and text feed this step: editing C# never re-parses the YAML.
        // Only unikernel.yaml in the project directory: a file of that name inside a crunched folder is data.
        var projectDirectory = context.AnalyzerConfigOptionsProvider
            .Select(static (provider, _) => provider.GlobalOptions.TryGetValue("build_property.MSBuildProjectDirectory", out var value) ? value.Trim() : "");
        var syntax = context.AdditionalTextsProvider
            .Where(static text => YamlConfigReader.IsConfigurationFile(text.Path))
            .Combine(projectDirectory)
            .Where(static pair => YamlConfigReader.IsInProjectDirectory(pair.Left.Path, pair.Right))
            .Select(static (pair, cancellationToken) => YamlSyntaxParser.Parse(pair.Left.Path, pair.Left.GetText(cancellationToken), cancellationToken))
            .WithTrackingName(YamlTrackingNames.YamlSyntax);

        var yamlConfigs = syntax
            .Combine(context.CompilationProvider)
            .Select(static (pair, cancellationToken) => YamlConfigReader.Read(pair.Left, pair.Right, cancellationToken))
            .WithTrackingName(YamlTrackingNames.YamlConfigModel);

        return csharpConfigs.Collect()
            .Combine(yamlConfigs.Collect())
            .SelectMany(static (pair, _) => Merge(pair.Left, pair.Right))
            .WithTrackingName(YamlTrackingNames.AllConfigModels);
    }

    /// <summary>config.cs and unikernel.yaml together: keep config.cs and report UK0017 once, at the YAML file.</summary>
    private static ImmutableArray<ConfigModel> Merge(ImmutableArray<ConfigModel> csharp, ImmutableArray<ConfigModel> yaml)
    {
        if (yaml.IsEmpty)
        {
            return csharp;
        }
        if (csharp.IsEmpty)
        {
            return yaml;
        }
        var first = csharp[0];
        var path = yaml[0].Location?.FilePath ?? YamlConfigReader.FileName;
        var location = new LocationInfo(path, default, default);
        var both = DiagnosticInfo.Create(Diagnostics.BothConfigurations, location, first.Namespace.Length > 0 ? first.Namespace + "." + first.ClassName : first.ClassName);
        return csharp.SetItem(0, first with { Diagnostics = new EquatableArray<DiagnosticInfo>(first.Diagnostics.Items.Add(both)) });
    }
}

/// <summary>Names of the YAML pipeline steps, for incremental-caching tests.</summary>
public static class YamlTrackingNames
{
    public const string YamlSyntax = nameof(YamlSyntax);
    public const string YamlConfigModel = nameof(YamlConfigModel);
    public const string AllConfigModels = nameof(AllConfigModels);
}
