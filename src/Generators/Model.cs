using System;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Unikernel.Generators;

/// <summary>A source location kept as plain data (no SyntaxTree), so models stay equatable.</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

    public static LocationInfo? From(SyntaxNode? node) => node is null ? null : From(node.GetLocation());

    public static LocationInfo? From(Location? location) =>
        location is null || location.SourceTree is null
            ? null
            : new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);
}

/// <summary>A diagnostic to report: the descriptor's ID, where, and the message arguments.</summary>
/// <param name="Fix">What a code fix needs (FixProperty): UK0001 the statement to add, UK0005 the new name, UK0012 the parameter and the candidates.</param>
internal sealed record DiagnosticInfo(string Id, LocationInfo? Location, EquatableArray<string> Arguments, string Fix = "")
{
    /// <summary>The diagnostic property that carries <see cref="Fix"/> to the code fixes.</summary>
    public const string FixProperty = "fix";

    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments) =>
        new(descriptor.Id, location, arguments.ToEquatableArray());

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(Diagnostics.ById(Id), Location?.ToLocation() ?? Microsoft.CodeAnalysis.Location.None, System.Linq.Enumerable.ToArray<object>(Arguments.Items));
}

internal enum ItemKind
{
    /// <summary>A device from the catalogue (console, stack, ...), with implementations per target.</summary>
    Device,

    /// <summary>A user type built over other items (<c>c.New&lt;T&gt;</c>, <c>c.Main&lt;T&gt;</c>).</summary>
    Functor,

    /// <summary>A typed runtime argument.</summary>
    Argument,

    /// <summary>A configure-time choice between items (<c>c.If</c>, <c>c.Match</c>).</summary>
    Choice,
}

internal enum BindingKind
{
    /// <summary>Given explicitly in the configuration: <see cref="Binding.ItemId"/>.</summary>
    Item,

    /// <summary>A runtime argument declared by the catalogue entry: <see cref="Binding.Text"/> is its name.</summary>
    RuntimeArgument,

    /// <summary>The table of files compiled into the image.</summary>
    CrunchTable,

    /// <summary>Wired by type: one of <see cref="Binding.Candidates"/>, else <see cref="Binding.DefaultItemId"/>.</summary>
    ByType,

    /// <summary>A value parameter nobody gave (reported when the item is used).</summary>
    Missing,

    /// <summary>The argument given for it was wrong and is reported already: nothing more to say.</summary>
    Reported,

    /// <summary>A device option ([Option]): <see cref="Binding.Text"/> is the C# literal passed.</summary>
    Constant,
}

internal sealed record Binding(BindingKind Kind, int ItemId = -1, string Text = "", EquatableArray<int> Candidates = default, int DefaultItemId = -1);

internal sealed record ParameterInfo(string Name, string TypeDisplay, Binding Binding);

/// <summary>One way to build an item: a type, its constructor's parameters, and when it applies.</summary>
internal sealed record ImplementationInfo(
    EquatableArray<string> Targets,
    string TypeName,
    string TypeDisplay,
    string WhenKey,
    string WhenValue,
    string SharedInstance,
    bool Found,
    bool IsStartable,
    bool IsDisposable,
    bool IsAsyncDisposable,
    EquatableArray<ParameterInfo> Parameters)
{
    /// <summary>What the type declares with [SystemCalls] (Sealing.cs): the calls it makes after start.</summary>
    public EquatableArray<SystemCallInfo> SystemCalls { get; init; }
}

internal sealed record CatalogueArgument(string Name, string Parameter, string DefaultValue, string Description);

internal sealed record ChoiceCase(string Value, int ItemId);

/// <summary>An item of the configuration: what every kind has (its own record per kind below).</summary>
internal abstract record ItemInfo(int Id, string Name, string Label, string ProvidedType, LocationInfo? Location);

/// <summary>A catalogue device: implementations per target, its catalogue runtime arguments, a crunched directory.</summary>
internal sealed record DeviceItem(
    int Id,
    string Name,
    string Label,
    string ProvidedType,
    LocationInfo? Location,
    bool IsImplicit,
    EquatableArray<ImplementationInfo> Implementations,
    EquatableArray<CatalogueArgument> CatalogueArguments,
    string CrunchDirectory) : ItemInfo(Id, Name, Label, ProvidedType, Location);

/// <summary>A user type built over other items (c.New&lt;T&gt;, c.Main&lt;T&gt;): one implementation, the type itself.</summary>
internal sealed record FunctorItem(int Id, string Name, string Label, string ProvidedType, LocationInfo? Location, ImplementationInfo Implementation)
    : ItemInfo(Id, Name, Label, ProvidedType, Location);

/// <summary>A typed runtime argument (--name).</summary>
internal sealed record ArgumentItem(
    int Id,
    string Name,
    string Label,
    string ProvidedType,
    LocationInfo? Location,
    string ArgumentType,
    string DefaultCode,
    string DefaultDisplay,
    string Description) : ItemInfo(Id, Name, Label, ProvidedType, Location);

/// <summary>A configure-time choice (c.If, c.Match): the key, its cases, and the item otherwise (-1: it was wrong, reported).</summary>
internal sealed record ChoiceItem(int Id, string Name, string Label, string ProvidedType, LocationInfo? Location, string KeyName, EquatableArray<ChoiceCase> Cases, int OtherwiseId)
    : ItemInfo(Id, Name, Label, ProvidedType, Location);

internal sealed record KeyInfo(string Name, string DefaultValue, string Description);

/// <summary>
/// A build target as declared by a <c>[Target]</c> attribute on Configuration: its families, whether it boots a VM,
/// its start-up hook (a fully qualified type name, or empty), its image step (executable, vm-image) and its seal (on-request, by-default, never).
/// </summary>
internal sealed record TargetInfo(string Name, EquatableArray<string> Families, bool BootsVm, string StartUp, string Image, string Seal);

/// <summary>UK0001's advice for an interface: the first catalogue entry that provides it, as a config.cs statement and as a YAML entry.</summary>
internal sealed record ProviderHint(string Interface, string CSharp, string Yaml);

/// <summary>What a configuration declares, independent of the target: the output of reading config.cs or unikernel.yaml.</summary>
internal sealed record ConfigModel(
    string Namespace,
    string ClassName,
    string Name,
    LocationInfo? Location,
    EquatableArray<ItemInfo> Items,
    EquatableArray<int> Jobs,
    EquatableArray<KeyInfo> Keys,
    EquatableArray<DiagnosticInfo> Diagnostics,
    string SourceKind,
    EquatableArray<TargetInfo> Targets,
    EquatableArray<string> Nets,
    EquatableArray<ProviderHint> Providers);

/// <summary>Build settings the generator sees (MSBuild properties).</summary>
internal sealed record BuildOptions(string Target, string Net, string Keys, string ProjectDirectory)
{
    /// <summary>From the build properties MSBuild passes (Unikernel.props makes them compiler-visible).</summary>
    public static BuildOptions From(Microsoft.CodeAnalysis.Diagnostics.AnalyzerConfigOptions global)
    {
        string Get(string name) => global.TryGetValue("build_property." + name, out var value) ? value.Trim() : "";
        var target = Get("UnikernelTarget");
        return new BuildOptions(target.Length == 0 ? "unix" : target, Get("UnikernelNet"), Get("UnikernelKeys"), Get("MSBuildProjectDirectory"))
        {
            // MSBuild's own boolean spellings, as its conditions read them (Unikernel.props decides the folders with those).
            Seal = Get("UnikernelSeal").ToLowerInvariant() switch { "true" or "on" or "yes" or "!false" => true, "false" or "off" or "no" or "!true" => false, _ => null },
            CrunchLastModified = UnixSeconds(Get("UnikernelCrunchLastModified")),
        };
    }

    /// <summary>Whole seconds since 1970 up to the year 9999, else -1 (Unikernel.targets refuses anything else first).</summary>
    private static long UnixSeconds(string text)
    {
        if (text.Length == 0 || text.Length > 12)
        {
            return -1;
        }
        long seconds = 0;
        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return -1;
            }
            seconds = seconds * 10 + (c - '0');
        }
        return seconds <= 253402300799L ? seconds : -1;
    }

    /// <summary>
    /// -p:UnikernelCrunchLastModified (by default $SOURCE_DATE_EPOCH), seconds since 1970: the Last-Modified of every
    /// crunched file; -1 when not set (the image's consumer picks, www its start time).
    /// </summary>
    public long CrunchLastModified { get; init; } = -1;

    /// <summary>-p:UnikernelSeal=true or false: whether the image seals itself after start (Sealing.cs); null: the target's default.</summary>
    public bool? Seal { get; init; }
}

/// <summary>
/// A crunched file: its text, or (<paramref name="Binary"/>) its bytes in base64, and the content digest of those bytes
/// (<see cref="CrunchFiles.Digest"/>, empty when the content was not read), which the image's store offers as is, and
/// the build's Last-Modified for it in seconds since 1970 (-1: none; <see cref="BuildOptions.CrunchLastModified"/>).
/// </summary>
internal sealed record CrunchFile(string Directory, string Key, string Content, bool Binary = false, string Digest = "", long LastModified = -1);

internal sealed record NodeInfo(string Variable, string Name, string TypeName, EquatableArray<string> Arguments, bool IsStartable, bool IsDisposable, bool IsAsyncDisposable, bool IsJob, string CrunchDirectory)
{
    /// <summary>The chosen implementation's [SystemCalls].</summary>
    public EquatableArray<SystemCallInfo> SystemCalls { get; init; }
}

internal sealed record ArgumentSpec(string Name, string Variable, string Type, string DefaultCode, string DefaultDisplay, string Description);

/// <summary>The wiring for one target: what the emitter writes.</summary>
internal sealed record ResolvedModel(
    string Namespace,
    string ClassName,
    string Name,
    string Target,
    EquatableArray<NodeInfo> Nodes,
    EquatableArray<ArgumentSpec> Arguments,
    EquatableArray<DiagnosticInfo> Diagnostics,
    string Dot,
    bool HasErrors,
    EquatableArray<CrunchFile> Crunch,
    TargetInfo? TargetInfo)
{
    /// <summary>Whether the image seals itself after start (-p:UnikernelSeal, else the target's default).</summary>
    public bool Seal { get; init; }

    /// <summary>The target seals by default (<c>TargetSeal.ByDefault</c>): an unsealed image is a choice of the build (-p:UnikernelSeal=false).</summary>
    public bool SealedByDefault => TargetInfo?.Seal == "by-default";
}
