using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace Unikernel.Generators;

/// <summary>Every diagnostic the generator reports. IDs are stable; docs/diagnostics.md is the catalogue page.</summary>
internal static class Diagnostics
{
    private const string Category = "Unikernel";

    /// <summary>
    /// The repository whose docs/ the help links open (the one place that names it: an editor needs an absolute URL).
    /// </summary>
    public const string RepositoryUrl = "https://github.com/unikernel-dotnet/unikernel";

    /// <summary>Where the repository's docs/ folder is browsed (the main branch).</summary>
    public const string DocsUrl = RepositoryUrl + "/blob/main/docs/";

    private const string HelpBase = DocsUrl + "diagnostics.md#";

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpBase + id.ToLowerInvariant());

    private static DiagnosticDescriptor Warning(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Warning, isEnabledByDefault: true, helpLinkUri: HelpBase + id.ToLowerInvariant());

    public static readonly DiagnosticDescriptor MissingDependency = Error(
        "UK0001", "Nothing provides a needed device",
        "'{0}' needs {1} for its parameter '{2}', but nothing in the configuration provides it; {3}");

    public static readonly DiagnosticDescriptor TypeMismatch = Error(
        "UK0002", "Argument of the wrong type",
        "Argument '{0}' provides {1}, but parameter '{2}' of {3} needs {4}; pass a device or argument that provides {4}");

    public static readonly DiagnosticDescriptor Cycle = Error(
        "UK0003", "Dependency cycle",
        "The devices depend on each other in a cycle: {0}; break the cycle by passing a different device to one of them");

    public static readonly DiagnosticDescriptor TargetUnsupported = Error(
        "UK0004", "Device not available on the target",
        "'{0}' ({1}) cannot be provided on target '{2}'; it is available on: {3}. {4}");

    public static readonly DiagnosticDescriptor DuplicateName = Error(
        "UK0005", "Two items with one name",
        "The name '{0}' is used twice in this configuration; give one of them another name");

    public static readonly DiagnosticDescriptor UnknownTarget = Error(
        "UK0006", "Unknown target",
        "Unknown target '{0}' (from the UnikernelTarget build property); use one of: {1}");

    public static readonly DiagnosticDescriptor NoJobs = Error(
        "UK0007", "No job registered",
        "The unikernel '{0}' registers no job; {1}");

    public static readonly DiagnosticDescriptor UnsupportedSyntax = Error(
        "UK0008", "Configuration construct not understood",
        "{0}; the configuration is read, not run: use 'var x = c.Device(...);' declarations and 'c.Register(...);' calls");

    public static readonly DiagnosticDescriptor MissingConfigure = Error(
        "UK0009", "No Configure method",
        "The [Unikernel] class '{0}' needs a method 'static void Configure(Unikernel.Config.Configuration c)'");

    public static readonly DiagnosticDescriptor NotPartial = Error(
        "UK0010", "Configuration class is not partial",
        "The [Unikernel] class '{0}' must be declared 'partial' so the generator can add its entry point");

    public static readonly DiagnosticDescriptor UnsupportedArgumentType = Error(
        "UK0011", "Runtime argument type not supported",
        "Runtime argument '{0}' has type {1}; use string, int, long, bool, double or string[] (repeatable)");

    public static readonly DiagnosticDescriptor AmbiguousDependency = Error(
        "UK0012", "Several devices could be wired",
        "'{0}' needs {1} for its parameter '{2}', and several items provide it ({3}); pass the one you mean explicitly");

    public static readonly DiagnosticDescriptor WrongArity = Error(
        "UK0013", "Wrong number of arguments",
        "{0}");

    public static readonly DiagnosticDescriptor ImplementationMissing = Error(
        "UK0014", "Implementation type not found",
        "'{0}' on target '{1}' is implemented by '{2}', which is not in the compilation; reference the package or project that contains it");

    public static readonly DiagnosticDescriptor NotConstant = Error(
        "UK0015", "Value must be a constant",
        "The {0} must be a compile-time constant (a literal or a const)");

    public static readonly DiagnosticDescriptor EmptyCrunch = Warning(
        "UK0016", "No files to compile into the image",
        "No files were found under '{0}' for c.Crunch; the store will be empty (files must be part of the project, e.g. as None items)");

    public static readonly DiagnosticDescriptor BothConfigurations = Error(
        "UK0017", "Two configurations",
        "The project has both a [Unikernel] class ('{0}') and unikernel.yaml; keep one of them");

    public static readonly DiagnosticDescriptor UnknownKey = Warning(
        "UK0018", "Unknown configure-time key",
        "UnikernelKeys sets '{0}', which the configuration does not declare; declared keys: {1}");

    public static readonly DiagnosticDescriptor ImpossibleKeyValue = Error(
        "UK0019", "Value no build can have",
        "{0}; the condition can never hold");

    public static readonly DiagnosticDescriptor InvalidCatalogueEntry = Error(
        "UK0020", "Invalid catalogue entry",
        "The catalogue device {0} ('{1}') is invalid: {2}");

    public static readonly DiagnosticDescriptor InvalidTarget = Error(
        "UK0021", "Invalid target declaration",
        "The target '{0}' is declared wrongly: {1}");

    public static readonly DiagnosticDescriptor InvalidOption = Error(
        "UK0022", "Invalid device option",
        "The option '{0}' of the {1} device is invalid: {2}");

    public static readonly DiagnosticDescriptor InternalError = Error(
        "UK0099", "Generator failure",
        "The Unikernel generator failed unexpectedly ({0}); please report this with your configuration");

    private static readonly Dictionary<string, DiagnosticDescriptor> s_byId = new[]
    {
        MissingDependency, TypeMismatch, Cycle, TargetUnsupported, DuplicateName, UnknownTarget, NoJobs, UnsupportedSyntax,
        MissingConfigure, NotPartial, UnsupportedArgumentType, AmbiguousDependency, WrongArity, ImplementationMissing,
        NotConstant, EmptyCrunch, BothConfigurations, UnknownKey, ImpossibleKeyValue, InvalidCatalogueEntry, InvalidTarget, InvalidOption, InternalError,
    }.Concat(YamlDiagnostics.All).ToDictionary(d => d.Id);

    public static IEnumerable<DiagnosticDescriptor> All => s_byId.Values;

    public static DiagnosticDescriptor ById(string id) => s_byId.TryGetValue(id, out var d) ? d : InternalError;

    public static bool IsError(string id) => ById(id).DefaultSeverity == DiagnosticSeverity.Error;
}

/// <summary>Diagnostics of unikernel.yaml (filled in by the YAML reader: Yaml/YamlDiagnostics.cs).</summary>
internal static partial class YamlDiagnostics
{
    public static IEnumerable<DiagnosticDescriptor> All => Descriptors;
}
