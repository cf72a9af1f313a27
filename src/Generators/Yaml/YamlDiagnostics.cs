using Microsoft.CodeAnalysis;

namespace Unikernel.Generators;

/// <summary>Diagnostics of unikernel.yaml (UK1001..). Wiring problems share config.cs's UK0xxx IDs, located in the YAML.</summary>
internal static partial class YamlDiagnostics
{
    private const string Category = "Unikernel.Yaml";
    private const string HelpBase = Diagnostics.DocsUrl + "diagnostics-yaml.md#";

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpBase + id.ToLowerInvariant());

    public static readonly DiagnosticDescriptor Syntax = Error(
        "UK1001", "YAML syntax error",
        "unikernel.yaml is not valid YAML: {0}");

    public static readonly DiagnosticDescriptor UnknownField = Error(
        "UK1002", "Unknown field",
        "Unknown field '{0}' in {1}{2}; allowed fields: {3}");

    public static readonly DiagnosticDescriptor WrongType = Error(
        "UK1003", "Value of the wrong type",
        "'{0}' must be {1}, but it is {2}");

    public static readonly DiagnosticDescriptor MissingField = Error(
        "UK1004", "Required field missing",
        "{0} needs the field '{1}'{2}");

    public static readonly DiagnosticDescriptor UnknownKind = Error(
        "UK1005", "Unknown device kind",
        "Unknown device kind '{0}'{1}; the catalogue has: {2}");

    public static readonly DiagnosticDescriptor UnknownType = Error(
        "UK1006", "Type not found",
        "The type '{0}' is not in the compilation{1}; write its full name (namespace and class, e.g. MyAppliance.Hello)");

    public static readonly DiagnosticDescriptor UnknownReference = Error(
        "UK1007", "Unknown name",
        "'{0}' is not a device, argument or job of this configuration{1}");

    public static readonly DiagnosticDescriptor DuplicateKey = Error(
        "UK1008", "Duplicate key",
        "The key '{0}' appears twice in this mapping; YAML keys must be unique");

    public static readonly DiagnosticDescriptor Alias = Error(
        "UK1009", "Anchors and aliases not supported",
        "YAML aliases (*{0}) are not supported in unikernel.yaml; write the value out");

    public static readonly DiagnosticDescriptor Limit = Error(
        "UK1010", "Document too large",
        "unikernel.yaml exceeds a limit: {0}");

    public static readonly DiagnosticDescriptor InvalidValue = Error(
        "UK1011", "Invalid value",
        "{0}");

    public static readonly DiagnosticDescriptor NotAJob = Error(
        "UK1012", "Type cannot be used here",
        "{0}");

    public static readonly DiagnosticDescriptor UndeclaredKey = Error(
        "UK1013", "Undeclared configure-time key",
        "'{0}' is not a configure-time key{1}; declare it under 'keys:' (built in: target, net)");

    private static readonly DiagnosticDescriptor[] Descriptors =
    [
        Syntax, UnknownField, WrongType, MissingField, UnknownKind, UnknownType, UnknownReference, DuplicateKey, Alias, Limit,
        InvalidValue, NotAJob, UndeclaredKey,
    ];
}
