using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace Unikernel.Generators;

/// <summary>One implementation of a catalogue device: the type (null or an error type when it is not in the compilation), the concrete targets it serves.</summary>
internal sealed record CatalogueImplementation(string[] Targets, INamedTypeSymbol? Type, string TypeName, string When, string SharedInstance);

/// <summary>
/// A device option: a parameter of the device method marked [Option], of <paramref name="Kind"/> (string, int, long, bool,
/// double), its default as C# code, and what it accepts (numbers in [Min, Max]; strings in <paramref name="Values"/>, none: any).
/// </summary>
internal sealed record CatalogueOption(string Name, string Kind, string DefaultCode, string Description, long Min, long Max, string[] Values)
{
    /// <summary>
    /// Checks a value read from config.cs (a constant) or unikernel.yaml (converted to <see cref="Kind"/>): the C# code
    /// to pass, or null and what to give instead.
    /// </summary>
    public string? Check(object? value, out string problem)
    {
        problem = "";
        switch (Kind)
        {
            case "int" or "long":
                if (value is not (int or long or short or byte or sbyte or ushort or uint))
                {
                    problem = $"give a whole number from {Min} to {Max}";
                    return null;
                }
                var number = System.Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
                if (number < Min || number > Max)
                {
                    problem = $"{number} is out of range: give a whole number from {Min} to {Max} ({Description})";
                    return null;
                }
                break;
            case "string":
                if (value is not string text)
                {
                    problem = Values.Length > 0 ? $"give one of: {string.Join(", ", Values)}" : "give a string";
                    return null;
                }
                if (Values.Length > 0 && !Values.Any(v => string.Equals(v, text, StringComparison.OrdinalIgnoreCase)))
                {
                    problem = $"'{text}' is not one of its values{Suggestions.DidYouMean(text.ToLowerInvariant(), Values)}: give one of: {string.Join(", ", Values)} ({Description})";
                    return null;
                }
                value = Values.FirstOrDefault(v => string.Equals(v, text, StringComparison.OrdinalIgnoreCase)) ?? text;
                break;
            case "bool":
                if (value is not bool)
                {
                    problem = "give true or false";
                    return null;
                }
                break;
            case "double":
                if (value is not (double or float or int or long))
                {
                    problem = "give a number";
                    return null;
                }
                break;
        }
        return CSharpConfigReader.FormatConstant(value, Kind).Code;
    }
}

/// <summary>A catalogue device, read from the attributes on a <c>Configuration</c> method (or a user's extension method).</summary>
internal sealed class CatalogueEntry(IMethodSymbol method, string kind, ITypeSymbol @interface, bool isDefault, bool isCrunch, CatalogueImplementation[] implementations, EquatableArray<CatalogueArgument> arguments, IReadOnlyList<DiagnosticInfo> problems, IReadOnlyList<CatalogueOption>? options = null)
{
    /// <summary>The method's [Option] parameters, in order.</summary>
    public IReadOnlyList<CatalogueOption> Options { get; } = options ?? [];

    public CatalogueOption? Option(string parameter) => Options.FirstOrDefault(o => o.Name == parameter);

    public IMethodSymbol Method { get; } = method;
    public string Kind { get; } = kind;
    public ITypeSymbol Interface { get; } = @interface;
    public bool IsDefault { get; } = isDefault;
    public bool IsCrunch { get; } = isCrunch;
    public CatalogueImplementation[] Implementations { get; } = implementations;
    public EquatableArray<CatalogueArgument> Arguments { get; } = arguments;

    /// <summary>What is wrong with the entry (UK0020), found when it was read.</summary>
    public IReadOnlyList<DiagnosticInfo> Problems { get; } = problems;

    /// <summary>The method's parameters as a call gives them (an extension method's <c>this Configuration c</c> left out).</summary>
    public IEnumerable<IParameterSymbol> Parameters => Method.IsExtensionMethod ? Method.Parameters.Skip(1) : Method.Parameters;
}

/// <summary>
/// The catalogue of one compilation: the targets declared on <c>Configuration</c> ([Target]), the net choices (the
/// <c>When = "net=..."</c> values of the built-in entries), the built-in devices (Configuration's [Device] methods) and
/// the project's own ([Device] extension methods on Configuration in its static classes), each checked as it is read.
/// Everything that lists targets, kinds or nets (UK0006, UK0019, UK1005, UK0001's hints, the schema test) reads it here.
/// </summary>
internal sealed class Catalogue
{
    public const string DeviceAttribute = "Unikernel.Config.DeviceAttribute";

    private Catalogue(IReadOnlyList<TargetInfo> targets, IReadOnlyList<string> nets, IReadOnlyList<CatalogueEntry> entries, IReadOnlyList<DiagnosticInfo> problems)
    {
        Targets = targets;
        Nets = nets;
        Entries = entries;
        Problems = problems;
        TargetNames = [.. targets.Select(t => t.Name)];
        Providers = ProviderHints(entries);
    }

    public static readonly Catalogue Empty = new([], [], [], []);

    /// <summary>A catalogue that could not be read: no targets or devices, and the reason as its one problem.</summary>
    public static Catalogue Failed(DiagnosticInfo problem) => new([], [], [], [problem]);

    public IReadOnlyList<TargetInfo> Targets { get; }

    public string[] TargetNames { get; }

    public IReadOnlyList<string> Nets { get; }

    public IReadOnlyList<CatalogueEntry> Entries { get; }

    /// <summary>UK0020/UK0021 for the targets and every entry read (built-in and the project's).</summary>
    public IReadOnlyList<DiagnosticInfo> Problems { get; }

    /// <summary>For UK0001: per interface (display name), the first entry that provides it, as a C# statement and as YAML.</summary>
    public EquatableArray<ProviderHint> Providers { get; }

    public static Catalogue Read(Compilation compilation, KnownSymbols known)
    {
        if (known.Configuration is not { } configuration)
        {
            return Empty;
        }
        var problems = new List<DiagnosticInfo>();
        var targets = ReadTargets(configuration, known, problems);
        var builtIn = configuration.GetMembers().OfType<IMethodSymbol>().Where(m => HasDevice(m, known)).ToList();
        // The net choices are what the built-in catalogue's implementations are selected by.
        var nets = new List<string>();
        foreach (var method in builtIn)
        {
            foreach (var attribute in method.GetAttributes().Where(a => KnownSymbols.Is(a.AttributeClass, known.ImplementationAttribute)))
            {
                if (Named(attribute, "When") is { } when && when.StartsWith("net=", StringComparison.Ordinal) && !nets.Contains(when.Substring(4)))
                {
                    nets.Add(when.Substring(4));
                }
            }
        }
        var entries = new List<CatalogueEntry>();
        foreach (var method in builtIn.Concat(UserMethods(compilation, known)))
        {
            if (FromMethod(method, known, targets, nets) is not { } entry)
            {
                continue;
            }
            problems.AddRange(entry.Problems);
            if (entries.FirstOrDefault(e => e.Kind == entry.Kind) is { } first)
            {
                problems.Add(Problem(entry.Method, Attribute(entry.Method, known.DeviceAttribute), entry.Kind,
                    $"the kind '{entry.Kind}' is declared twice ({Where(first.Method)} and {Where(entry.Method)}); give this device another kind"));
                continue;
            }
            entries.Add(entry);
        }
        return new Catalogue(targets, nets, entries, problems);
    }

    public static CatalogueEntry? FromMethod(IMethodSymbol method, KnownSymbols known) =>
        FromMethod(method, known, known.Catalogue.Targets, known.Catalogue.Nets);

    private static CatalogueEntry? FromMethod(IMethodSymbol method, KnownSymbols known, IReadOnlyList<TargetInfo> targets, IReadOnlyList<string> nets)
    {
        var definition = method.ReducedFrom ?? method.OriginalDefinition;
        var attributes = definition.GetAttributes();
        var device = attributes.FirstOrDefault(a => KnownSymbols.Is(a.AttributeClass, known.DeviceAttribute));
        if (device is null || device.ConstructorArguments.Length != 2 || device.ConstructorArguments[0].Value is not string kind || device.ConstructorArguments[1].Value is not ITypeSymbol @interface)
        {
            return null;
        }
        var problems = new List<DiagnosticInfo>();
        var isDefault = device.NamedArguments.Any(a => a.Key == "IsDefault" && a.Value.Value is true);
        var isCrunch = attributes.Any(a => KnownSymbols.Is(a.AttributeClass, known.CrunchAttribute));
        var implementations = new List<CatalogueImplementation>();
        var arguments = new List<CatalogueArgument>();
        var isBuiltIn = KnownSymbols.Is(definition.ContainingType, known.Configuration);
        if (CheckKind(kind, isBuiltIn) is { } badKind)
        {
            problems.Add(Problem(definition, device, kind, badKind));
        }
        foreach (var attribute in attributes)
        {
            if (KnownSymbols.Is(attribute.AttributeClass, known.ImplementationAttribute) && attribute.ConstructorArguments.Length == 1)
            {
                var type = attribute.ConstructorArguments[0].Value as INamedTypeSymbol;
                var typeName = type is null ? "" : Metadata(type);
                var when = Named(attribute, "When") ?? "";
                var shared = Named(attribute, "SharedInstance") ?? "";
                var served = ExpandTargets(Named(attribute, "Targets") ?? "", targets, out var unknown);
                foreach (var name in unknown)
                {
                    problems.Add(Problem(definition, attribute, kind,
                        $"'{name}' is not a target or target family{Suggestions.DidYouMean(name, targets.Select(t => t.Name).Concat(targets.SelectMany(t => t.Families)))}; targets: {string.Join(", ", targets.Select(t => t.Name))}; families: {string.Join(", ", targets.SelectMany(t => t.Families).Distinct())}"));
                }
                if (CheckType(type, @interface, known) is { } wrong)
                {
                    problems.Add(Problem(definition, attribute, kind, wrong));
                }
                if (when.Length > 0 && CheckWhen(when, targets, nets, isBuiltIn) is { } badWhen)
                {
                    problems.Add(Problem(definition, attribute, kind, badWhen));
                }
                implementations.Add(new CatalogueImplementation(served, type, typeName, when, shared));
            }
            else if (KnownSymbols.Is(attribute.AttributeClass, known.RuntimeArgumentAttribute) && attribute.ConstructorArguments.Length == 4)
            {
                arguments.Add(new CatalogueArgument(
                    attribute.ConstructorArguments[0].Value as string ?? "",
                    attribute.ConstructorArguments[1].Value as string ?? "",
                    attribute.ConstructorArguments[2].Value as string ?? "",
                    attribute.ConstructorArguments[3].Value as string ?? ""));
            }
        }
        if (implementations.Count == 0)
        {
            problems.Add(Problem(definition, device, kind, "it has no [Implementation(typeof(...), Targets = \"...\")]; add one per target (or family) it serves"));
        }
        var options = new List<CatalogueOption>();
        foreach (var parameter in definition.Parameters)
        {
            if (parameter.GetAttributes().FirstOrDefault(a => KnownSymbols.Is(a.AttributeClass, known.OptionAttribute)) is not { } option)
            {
                continue;
            }
            var optionKind = CSharpConfigReader.ArgumentKind(parameter.Type);
            if (optionKind is null or "string[]" || !parameter.HasExplicitDefaultValue)
            {
                problems.Add(Problem(definition, option, kind, $"the option '{parameter.Name}' must be a string, int, long, bool or double parameter with a default value"));
                continue;
            }
            var min = option.NamedArguments.FirstOrDefault(a => a.Key == "Min").Value.Value is long low ? low : long.MinValue;
            var max = option.NamedArguments.FirstOrDefault(a => a.Key == "Max").Value.Value is long high ? high : long.MaxValue;
            if (optionKind == "int")
            {
                min = Math.Max(min, int.MinValue);
                max = Math.Min(max, int.MaxValue);
            }
            var values = (Named(option, "Values") ?? "").Split([','], StringSplitOptions.RemoveEmptyEntries).Select(v => v.Trim()).Where(v => v.Length > 0).ToArray();
            var description = option.ConstructorArguments.Length == 1 ? option.ConstructorArguments[0].Value as string ?? "" : "";
            options.Add(new CatalogueOption(parameter.Name, optionKind, CSharpConfigReader.FormatConstant(parameter.ExplicitDefaultValue, optionKind).Code, description, min, max, values));
        }
        return new CatalogueEntry(definition, kind, @interface, isDefault, isCrunch, [.. implementations], arguments.ToEquatableArray(), problems, options);
    }

    /// <summary>
    /// A kind is its name in unikernel.yaml. The built-in kinds are plain names (console, stack); a project's own are
    /// qualified (acme.lamp), so they never clash with a built-in kind added later, and the schema tells them from a
    /// misspelt built-in one.
    /// </summary>
    private static string? CheckKind(string kind, bool isBuiltIn)
    {
        var parts = kind.Split('.');
        if (parts.Any(p => p.Length == 0 || p.Any(c => !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))))
        {
            return $"the kind must be lower-case letters, digits, '-' and '_'{(isBuiltIn ? "" : ", qualified by a prefix of yours (e.g. acme.lamp)")}";
        }
        if (isBuiltIn && parts.Length > 1)
        {
            return "a built-in kind is a plain name (qualified kinds are the projects' own)";
        }
        if (!isBuiltIn && parts.Length < 2)
        {
            return $"a device of your own needs a qualified kind, e.g. 'app.{kind}' (plain kinds are the built-in catalogue's; the prefix keeps yours from clashing with one added later)";
        }
        return null;
    }

    /// <summary>Why <paramref name="type"/> cannot implement a device providing <paramref name="interface"/>, or null. A type not in the compilation is UK0014's, when a configuration uses it.</summary>
    private static string? CheckType(INamedTypeSymbol? type, ITypeSymbol @interface, KnownSymbols known)
    {
        if (type is null)
        {
            return "an implementation names no type; write [Implementation(typeof(TheClass), ...)]";
        }
        if (type.TypeKind == TypeKind.Error)
        {
            return null;
        }
        var name = ModelBuilder.Display(type);
        if (type.TypeKind != TypeKind.Class || type.IsAbstract || type.IsStatic || type.IsUnboundGenericType || type.TypeParameters.Length > 0)
        {
            return $"'{name}' is not a class that can be built (it must be a non-abstract, non-static, non-generic class)";
        }
        if (type.DeclaredAccessibility != Accessibility.Public && !SymbolEqualityComparer.Default.Equals(type.ContainingAssembly, known.CompilationAssembly))
        {
            return $"'{name}' is not public";
        }
        if (!known.Converts(type, @interface))
        {
            return $"'{name}' does not implement {ModelBuilder.Display(@interface)}, the interface the device provides";
        }
        if (!type.InstanceConstructors.Any(c => c.DeclaredAccessibility == Accessibility.Public))
        {
            return $"'{name}' has no public constructor; give it one whose parameters are the devices and arguments it needs";
        }
        return null;
    }

    private static string? CheckWhen(string when, IReadOnlyList<TargetInfo> targets, IReadOnlyList<string> nets, bool isBuiltIn)
    {
        var eq = when.IndexOf('=');
        if (eq <= 0 || eq == when.Length - 1)
        {
            return $"When = \"{when}\" must be \"key=value\" (e.g. \"net=direct\")";
        }
        var key = when.Substring(0, eq);
        var value = when.Substring(eq + 1);
        if (key == "target" && !targets.Any(t => t.Name == value))
        {
            return $"When = \"{when}\": '{value}' is not a target; name targets in Targets = \"...\"";
        }
        if (key == "net" && !isBuiltIn && !nets.Contains(value))
        {
            return $"When = \"{when}\": '{value}' is not a net choice{Suggestions.DidYouMean(value, nets)}; net is {string.Join(" or ", nets)}";
        }
        return null;
    }

    /// <summary>Target names and families to concrete targets (in declaration order); empty: every target.</summary>
    private static string[] ExpandTargets(string text, IReadOnlyList<TargetInfo> targets, out List<string> unknown)
    {
        unknown = [];
        var names = text.Split([','], StringSplitOptions.RemoveEmptyEntries).Select(t => t.Trim()).Where(t => t.Length > 0).ToList();
        if (names.Count == 0)
        {
            return [.. targets.Select(t => t.Name)];
        }
        var served = new List<string>();
        foreach (var name in names)
        {
            var matching = targets.Where(t => t.Name == name || t.Families.Contains(name)).Select(t => t.Name).ToList();
            if (matching.Count == 0)
            {
                unknown.Add(name);
                // Kept as written: a configuration for that target (UK0006 already) still finds the entry's text.
                matching.Add(name);
            }
            served.AddRange(matching.Where(m => !served.Contains(m)));
        }
        return [.. served];
    }

    private static List<TargetInfo> ReadTargets(INamedTypeSymbol configuration, KnownSymbols known, List<DiagnosticInfo> problems)
    {
        var targets = new List<TargetInfo>();
        foreach (var attribute in configuration.GetAttributes().Where(a => KnownSymbols.Is(a.AttributeClass, known.TargetAttribute)))
        {
            var name = attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0].Value as string ?? "" : "";
            var location = LocationInfo.From(attribute.ApplicationSyntaxReference?.GetSyntax().GetLocation());
            if (name.Length == 0 || name.Any(c => !(char.IsLetterOrDigit(c) || c == '-' || c == '_')))
            {
                problems.Add(DiagnosticInfo.Create(Diagnostics.InvalidTarget, location, name, "a target's name must be letters, digits, '-' and '_' (it is the UnikernelTarget build property)"));
                continue;
            }
            if (targets.Any(t => t.Name == name))
            {
                problems.Add(DiagnosticInfo.Create(Diagnostics.InvalidTarget, location, name, "it is declared twice; keep one declaration"));
                continue;
            }
            var families = (Named(attribute, "Families") ?? "").Split([','], StringSplitOptions.RemoveEmptyEntries).Select(f => f.Trim()).Where(f => f.Length > 0).ToEquatableArray();
            var bootsVm = attribute.NamedArguments.Any(a => a.Key == "BootsVm" && a.Value.Value is true);
            var image = attribute.NamedArguments.FirstOrDefault(a => a.Key == "Image").Value.Value is int value ? value : 0;
            var startUp = "";
            if (attribute.NamedArguments.FirstOrDefault(a => a.Key == "StartUp").Value.Value is INamedTypeSymbol hook)
            {
                if (hook.TypeKind != TypeKind.Error)
                {
                    if (!HasHook(hook))
                    {
                        problems.Add(DiagnosticInfo.Create(Diagnostics.InvalidTarget, location, name,
                            $"its start-up hook '{ModelBuilder.Display(hook)}' needs 'public static void Initialize()' and 'public static int Exit(int exitCode)'"));
                    }
                    startUp = ModelBuilder.FullName(hook);
                }
                else
                {
                    problems.Add(DiagnosticInfo.Create(Diagnostics.InvalidTarget, location, name, $"its start-up hook '{hook.ToDisplayString()}' is not in the compilation"));
                }
            }
            var imageName = image switch { 0 => "executable", 1 => "vm-image", _ => "unknown" };
            if (imageName == "unknown")
            {
                problems.Add(DiagnosticInfo.Create(Diagnostics.InvalidTarget, location, name, $"its image step ({image}) is not a TargetImage"));
            }
            var sealValue = attribute.NamedArguments.FirstOrDefault(a => a.Key == "Seal").Value.Value is int sealNumber ? sealNumber : 0;
            var seal = sealValue switch { 0 => "on-request", 1 => "by-default", 2 => "never", _ => "unknown" };
            if (seal == "unknown")
            {
                problems.Add(DiagnosticInfo.Create(Diagnostics.InvalidTarget, location, name, $"its seal ({sealValue}) is not a TargetSeal"));
            }
            targets.Add(new TargetInfo(name, families, bootsVm, startUp, imageName, seal));
        }
        foreach (var family in targets.SelectMany(t => t.Families).Distinct().Where(f => targets.Any(t => t.Name == f && !t.Families.Contains(f))))
        {
            problems.Add(DiagnosticInfo.Create(Diagnostics.InvalidTarget, null, family, "it is both a target and a family of other targets; rename the family"));
        }
        return targets;
    }

    private static bool HasHook(INamedTypeSymbol hook) =>
        hook.GetMembers("Initialize").OfType<IMethodSymbol>().Any(m => m.IsStatic && m.DeclaredAccessibility == Accessibility.Public && m.Parameters.Length == 0)
        && hook.GetMembers("Exit").OfType<IMethodSymbol>().Any(m => m.IsStatic && m.DeclaredAccessibility == Accessibility.Public && m.Parameters.Length == 1
            && m.Parameters[0].Type.SpecialType == SpecialType.System_Int32 && m.ReturnType.SpecialType == SpecialType.System_Int32);

    /// <summary>The project's own devices: [Device] extension methods on Configuration in its static classes.</summary>
    private static IEnumerable<IMethodSymbol> UserMethods(Compilation compilation, KnownSymbols known)
    {
        var stack = new Stack<INamespaceOrTypeSymbol>();
        stack.Push(compilation.Assembly.GlobalNamespace);
        var count = 0;
        while (stack.Count > 0 && count++ < 100_000)
        {
            var symbol = stack.Pop();
            foreach (var member in symbol.GetMembers())
            {
                if (member is INamespaceSymbol ns)
                {
                    stack.Push(ns);
                }
                else if (member is INamedTypeSymbol { IsStatic: true, MightContainExtensionMethods: true } type)
                {
                    foreach (var method in type.GetMembers().OfType<IMethodSymbol>())
                    {
                        if (method.IsExtensionMethod && method.Parameters.Length > 0 && KnownSymbols.Is(method.Parameters[0].Type, known.Configuration) && HasDevice(method, known))
                        {
                            yield return method;
                        }
                    }
                }
            }
        }
    }

    private static bool HasDevice(IMethodSymbol method, KnownSymbols known) =>
        method.GetAttributes().Any(a => KnownSymbols.Is(a.AttributeClass, known.DeviceAttribute));

    private static AttributeData? Attribute(IMethodSymbol method, INamedTypeSymbol? attributeClass) =>
        method.GetAttributes().FirstOrDefault(a => KnownSymbols.Is(a.AttributeClass, attributeClass));

    private static string? Named(AttributeData attribute, string name) =>
        attribute.NamedArguments.FirstOrDefault(a => a.Key == name).Value.Value as string;

    private static string Where(IMethodSymbol method) => method.ContainingType.Name + "." + method.Name;

    /// <summary>The metadata name of a type, for messages and look-ups (Namespace.Outer+Inner).</summary>
    private static string Metadata(INamedTypeSymbol type)
    {
        if (type.TypeKind == TypeKind.Error)
        {
            return type.ToDisplayString();
        }
        var name = type.MetadataName;
        for (var outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
        {
            name = outer.MetadataName + "+" + name;
        }
        return type.ContainingNamespace is { IsGlobalNamespace: false } ns ? ns.ToDisplayString() + "." + name : name;
    }

    /// <summary>UK0020 at the attribute (in the user's source), or without a location (the analyzer puts it on the configuration).</summary>
    private static DiagnosticInfo Problem(IMethodSymbol method, AttributeData? attribute, string kind, string problem) =>
        DiagnosticInfo.Create(Diagnostics.InvalidCatalogueEntry,
            LocationInfo.From(attribute?.ApplicationSyntaxReference?.GetSyntax().GetLocation()) ?? LocationInfo.From(method.Locations.FirstOrDefault()),
            Where(method), kind, problem);

    private static EquatableArray<ProviderHint> ProviderHints(IReadOnlyList<CatalogueEntry> entries)
    {
        var hints = new List<ProviderHint>();
        foreach (var entry in entries)
        {
            var display = ModelBuilder.Display(entry.Interface);
            if (hints.Any(h => h.Interface == display))
            {
                continue;
            }
            var variable = entry.Method.Name.Length == 0 ? entry.Kind : char.ToLowerInvariant(entry.Method.Name[0]) + entry.Method.Name.Substring(1);
            var required = entry.Parameters.Where(p => !p.IsOptional && !p.HasExplicitDefaultValue).ToList();
            var csharp = $"var {variable} = c.{entry.Method.Name}({string.Join(", ", required.Select(p => p.Type.SpecialType == SpecialType.System_String ? CSharpConfigReader.Literal(p.Name) : p.Name))});";
            var yaml = $"{variable}: {{ kind: {entry.Kind}{string.Concat(required.Select(p => $", {p.Name}: {p.Name}"))} }}";
            hints.Add(new ProviderHint(display, csharp, yaml));
        }
        return hints.ToEquatableArray();
    }
}
