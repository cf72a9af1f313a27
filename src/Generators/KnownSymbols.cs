using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;

namespace Unikernel.Generators;

/// <summary>
/// The types the readers compare against, looked up once per compilation (the generator, the analyzer's class and
/// YAML actions all share one) and compared with <see cref="SymbolEqualityComparer"/>, never by display string.
/// </summary>
internal sealed class KnownSymbols
{
    private static readonly ConditionalWeakTable<Compilation, KnownSymbols> s_cache = new();

    private readonly Compilation _compilation;
    private readonly ConcurrentDictionary<string, INamedTypeSymbol?> _byMetadataName = new();
    private Catalogue? _catalogue;

    private KnownSymbols(Compilation compilation)
    {
        _compilation = compilation;
        Configuration = compilation.GetTypeByMetadataName(ModelBuilder.ConfigurationTypeName);
        DeviceAttribute = compilation.GetTypeByMetadataName(Generators.Catalogue.DeviceAttribute);
        CrunchAttribute = compilation.GetTypeByMetadataName("Unikernel.Config.CrunchAttribute");
        ImplementationAttribute = compilation.GetTypeByMetadataName("Unikernel.Config.ImplementationAttribute");
        RuntimeArgumentAttribute = compilation.GetTypeByMetadataName("Unikernel.Config.RuntimeArgumentAttribute");
        OptionAttribute = compilation.GetTypeByMetadataName("Unikernel.Config.OptionAttribute");
        TargetAttribute = compilation.GetTypeByMetadataName("Unikernel.Config.TargetAttribute");
        Startable = compilation.GetTypeByMetadataName("Unikernel.Devices.IStartable");
        Job = compilation.GetTypeByMetadataName("Unikernel.Devices.IJob");
        Disposable = compilation.GetTypeByMetadataName("System.IDisposable");
        AsyncDisposable = compilation.GetTypeByMetadataName("System.IAsyncDisposable");
    }

    public static KnownSymbols For(Compilation compilation) => s_cache.GetValue(compilation, static c => new KnownSymbols(c));

    public INamedTypeSymbol? Configuration { get; }

    public INamedTypeSymbol? DeviceAttribute { get; }

    public INamedTypeSymbol? CrunchAttribute { get; }

    public INamedTypeSymbol? ImplementationAttribute { get; }

    public INamedTypeSymbol? RuntimeArgumentAttribute { get; }

    public INamedTypeSymbol? TargetAttribute { get; }

    /// <summary>[Option] on a device method's parameter: a constant passed to the implementation (Catalogue.cs).</summary>
    public INamedTypeSymbol? OptionAttribute { get; }

    /// <summary>The assembly being compiled (the user's project).</summary>
    public IAssemblySymbol CompilationAssembly => _compilation.Assembly;

    public INamedTypeSymbol? Startable { get; }

    public INamedTypeSymbol? Job { get; }

    public INamedTypeSymbol? Disposable { get; }

    public INamedTypeSymbol? AsyncDisposable { get; }

    /// <summary>The targets and devices: Configuration's [Target]s and [Device] methods and the project's [Device] extensions (read once; a race reads it twice, harmlessly).</summary>
    public Catalogue Catalogue => _catalogue ??= ReadCatalogue();

    private Catalogue ReadCatalogue()
    {
        try
        {
            return Generators.Catalogue.Read(_compilation, this);
        }
        catch (System.Exception exception) when (exception is not System.OperationCanceledException)
        {
            // Never throw from the generator: every configuration reports it (UK0099) and gets the error stub.
            return Generators.Catalogue.Failed(DiagnosticInfo.Create(Diagnostics.InternalError, null, "reading the catalogue: " + exception.GetType().Name + ": " + exception.Message));
        }
    }

    /// <summary>True when a value of <paramref name="type"/> converts implicitly to <paramref name="target"/>.</summary>
    public bool Converts(ITypeSymbol type, ITypeSymbol target) => _compilation.HasImplicitConversion(type, target);

    /// <summary>A type by metadata name (catalogue implementations), looked up once.</summary>
    public INamedTypeSymbol? Type(string metadataName) => _byMetadataName.GetOrAdd(metadataName, name => _compilation.GetTypeByMetadataName(name));

    public static bool Is(ISymbol? symbol, INamedTypeSymbol? known) => known is not null && SymbolEqualityComparer.Default.Equals(symbol, known);

    public static bool Implements(ITypeSymbol type, INamedTypeSymbol? @interface) =>
        @interface is not null && type.AllInterfaces.Any(i => SymbolEqualityComparer.Default.Equals(i, @interface));
}
