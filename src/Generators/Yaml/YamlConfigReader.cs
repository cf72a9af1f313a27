using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Unikernel.Generators;

/// <summary>
/// Reads a parsed unikernel.yaml into a <see cref="ConfigModel"/> through the same <see cref="ModelBuilder"/> as
/// config.cs, so both forms produce the same wiring. Types are bound against the compilation here; the YAML parse itself
/// is cached separately (<see cref="YamlSyntaxParser"/>).
/// </summary>
internal sealed class YamlConfigReader
{
    public const string FileName = "unikernel.yaml";
    public const string SourceKind = "unikernel.yaml";
    public const string FallbackClassName = "UnikernelYamlConfiguration";
    public const int MaxReferenceDepth = 64;

    private static readonly string[] s_topLevel = ["name", "class", "keys", "arguments", "devices", "jobs"];
    private static readonly string[] s_argumentFields = ["type", "default", "description"];
    private static readonly string[] s_argumentTypes = ["string", "int", "long", "bool", "double", "string[]"];
    private static readonly string[] s_keyFields = ["default", "description"];
    private static readonly string[] s_builtInKeys = ["target", "net"];
    private static readonly string[] s_forms = ["kind", "type", "if", "match"];
    private static readonly string[] s_functorFields = ["type", "args"];
    private static readonly string[] s_ifFields = ["if", "then", "else", "provides"];
    private static readonly string[] s_conditionFields = ["key", "is"];
    private static readonly string[] s_matchFields = ["match", "cases", "otherwise", "provides"];

    private readonly ModelBuilder _builder;
    private readonly YamlDocumentSyntax _document;
    private readonly CancellationToken _cancellationToken;
    private readonly Dictionary<string, (string Section, YamlPair Pair)> _named = new(StringComparer.Ordinal);
    private readonly List<(string Section, YamlPair Pair)> _order = [];
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly List<string> _resolving = [];
    private readonly HashSet<string> _keys = new(s_builtInKeys, StringComparer.Ordinal);
    private int _reported;

    // No cascades: one error per named item (its first), and no "unknown name" for a name declared under a misspelled
    // section (devcies:), which has its own UK1002.
    private readonly HashSet<string> _itemsWithErrors = new(StringComparer.Ordinal);
    private readonly HashSet<string> _declaredUnderTypo = new(StringComparer.Ordinal);

    private YamlConfigReader(YamlDocumentSyntax document, Compilation compilation, CancellationToken cancellationToken)
    {
        _document = document;
        _builder = new ModelBuilder(compilation);
        _cancellationToken = cancellationToken;
    }

    public static bool IsConfigurationFile(string path) =>
        string.Equals(System.IO.Path.GetFileName(path), FileName, StringComparison.OrdinalIgnoreCase);

    /// <summary>True when <paramref name="path"/> lies directly in the project directory (or the directory is unknown).</summary>
    public static bool IsInProjectDirectory(string path, string projectDirectory)
    {
        if (projectDirectory.Length == 0)
        {
            return true;
        }
        var directory = (System.IO.Path.GetDirectoryName(path) ?? "").Replace('\\', '/').TrimEnd('/');
        return string.Equals(directory, projectDirectory.Replace('\\', '/').TrimEnd('/'), StringComparison.OrdinalIgnoreCase);
    }

    public static ConfigModel Read(YamlDocumentSyntax document, Compilation compilation, CancellationToken cancellationToken)
    {
        var reader = new YamlConfigReader(document, compilation, cancellationToken);
        var name = "unikernel";
        var @namespace = "";
        var className = FallbackClassName;
        var location = document.FileStart;
        try
        {
            foreach (var diagnostic in document.Diagnostics)
            {
                reader._builder.Report(Diagnostics.ById(diagnostic.Id), diagnostic.Location, [.. diagnostic.Arguments]);
            }
            if (document.Root is { } root)
            {
                reader.ReadDocument(root, ref name, ref @namespace, ref className, ref location);
            }
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception exception)
        {
            reader._builder.Report(Diagnostics.InternalError, location, exception.GetType().Name + ": " + exception.Message);
        }
        return reader._builder.Build(@namespace, className, name, location, SourceKind);
    }

    // ---- the document ------------------------------------------------------------------------------------------------

    private void ReadDocument(YamlNode root, ref string name, ref string @namespace, ref string className, ref LocationInfo location)
    {
        if (root.Kind != YamlNodeKind.Mapping)
        {
            if (!root.IsNull)
            {
                Report(YamlDiagnostics.WrongType, root.Location, "unikernel.yaml", "a mapping (name:, class:, devices:, jobs: ...)", root.Describe());
            }
            else
            {
                Report(YamlDiagnostics.MissingField, root.Location, "unikernel.yaml", "name", "");
            }
            return;
        }
        CheckFields(root, "the document", s_topLevel);
        foreach (var typo in root.Pairs.Where(p => !s_topLevel.Contains(p.Key.Value) && p.Value.Kind == YamlNodeKind.Mapping))
        {
            foreach (var declared in typo.Value.Pairs)
            {
                _declaredUnderTypo.Add(declared.Key.Value);
            }
        }
        if (_builder.ConfigurationType is null)
        {
            Report(YamlDiagnostics.NotAJob, root.Location, "unikernel.yaml needs the Unikernel package: the type Unikernel.Config.Configuration (the device catalogue) is not in the compilation");
            return;
        }

        if (Field(root, "name") is { } namePair)
        {
            location = namePair.Key.Location;
            if (String(namePair, "name") is { Length: > 0 } text)
            {
                name = text;
            }
            else if (namePair.Value.Kind == YamlNodeKind.Scalar)
            {
                Report(YamlDiagnostics.InvalidValue, namePair.Value.Location, "'name' must not be empty");
            }
        }
        else
        {
            Report(YamlDiagnostics.MissingField, root.Location, "unikernel.yaml", "name", " (the appliance's name)");
        }

        if (Field(root, "class") is { } classPair)
        {
            if (String(classPair, "class") is { } text)
            {
                var parts = text.Split('.');
                if (parts.All(p => SyntaxFacts.IsValidIdentifier(p) && SyntaxFacts.GetKeywordKind(p) == SyntaxKind.None))
                {
                    className = parts[parts.Length - 1];
                    @namespace = string.Join(".", parts.Take(parts.Length - 1));
                }
                else
                {
                    Report(YamlDiagnostics.InvalidValue, classPair.Value.Location, $"'class' must be a C# class name with its namespace (e.g. MyAppliance.Config), not '{text}'");
                }
            }
        }
        else
        {
            Report(YamlDiagnostics.MissingField, root.Location, "unikernel.yaml", "class", " (the namespace and class that get the entry point, e.g. MyAppliance.Config)");
        }

        if (Field(root, "keys") is { } keys && Mapping(keys, "keys") is { } keyMap)
        {
            foreach (var pair in keyMap.Pairs)
            {
                ReadKey(pair);
            }
        }

        // Every name first, so references may point forward.
        foreach (var section in new[] { "arguments", "devices", "jobs" })
        {
            if (Field(root, section) is { } field && Mapping(field, section) is { } map)
            {
                foreach (var pair in map.Pairs)
                {
                    if (_named.ContainsKey(pair.Key.Value))
                    {
                        Report(Diagnostics.DuplicateName, pair.Key.Location, pair.Key.Value);
                        continue;
                    }
                    _named[pair.Key.Value] = (section, pair);
                    _order.Add((section, pair));
                }
            }
        }

        foreach (var entry in _order.Where(n => n.Section == "arguments").ToList())
        {
            _ids[entry.Pair.Key.Value] = ReadArgument(entry.Pair);
        }
        foreach (var entry in _order.Where(n => n.Section == "devices").ToList())
        {
            Resolve(entry.Pair.Key.Value, null);
        }
        var jobType = _builder.Known.Job;
        var jobs = _order.Where(n => n.Section == "jobs").ToList();
        foreach (var entry in jobs)
        {
            var id = Resolve(entry.Pair.Key.Value, null);
            if (id < 0)
            {
                continue;
            }
            var provided = _builder.ProvidedType(id);
            if (jobType is not null && provided is not null && !_builder.Compilation.HasImplicitConversion(provided, jobType))
            {
                Report(YamlDiagnostics.NotAJob, entry.Pair.Key.Location, $"The job '{entry.Pair.Key.Value}' provides {ModelBuilder.Display(provided)}, which is not a job (Unikernel.Devices.IJob); declare it under 'devices:' or make it implement IJob");
                continue;
            }
            _builder.AddJob(id);
        }
        if (jobs.Count == 0 && Field(root, "jobs") is null)
        {
            Report(YamlDiagnostics.MissingField, root.Location, "unikernel.yaml", "jobs", " (what the appliance runs, e.g. jobs: { hello: { type: MyAppliance.Hello } })");
        }
    }

    private void ReadKey(YamlPair pair)
    {
        var name = pair.Key.Value;
        string defaultValue;
        var description = "";
        if (pair.Value.Kind == YamlNodeKind.Scalar)
        {
            defaultValue = pair.Value.IsNull ? "" : pair.Value.Value;
        }
        else if (pair.Value.Kind == YamlNodeKind.Mapping)
        {
            CheckFields(pair.Value, $"key '{name}'", s_keyFields);
            defaultValue = Field(pair.Value, "default") is { } d ? String(d, "default") ?? "" : "";
            description = Field(pair.Value, "description") is { } text ? String(text, "description") ?? "" : "";
            if (Field(pair.Value, "default") is null)
            {
                Report(YamlDiagnostics.MissingField, pair.Key.Location, $"The key '{name}'", "default", "");
            }
        }
        else
        {
            Report(YamlDiagnostics.WrongType, pair.Value.Location, name, "a default value or a mapping { default:, description: }", pair.Value.Describe());
            return;
        }
        if (s_builtInKeys.Contains(name))
        {
            Report(YamlDiagnostics.InvalidValue, pair.Key.Location, $"'{name}' is a built-in key (set by the UnikernelTarget / UnikernelNet build properties); choose another name");
            return;
        }
        _keys.Add(name);
        _builder.AddKey(name, defaultValue, description);
    }

    // ---- arguments ---------------------------------------------------------------------------------------------------

    private int ReadArgument(YamlPair pair)
    {
        var name = pair.Key.Value;
        var location = pair.Key.Location;
        var node = pair.Value;
        if (Mapping(pair, $"argument '{name}'") is null)
        {
            return -1;
        }
        CheckFields(node, $"argument '{name}'", s_argumentFields);
        var typePair = Field(node, "type");
        if (typePair is null)
        {
            Report(YamlDiagnostics.MissingField, location, $"The argument '{name}'", "type", " (one of: " + string.Join(", ", s_argumentTypes) + ")");
            return -1;
        }
        var kind = String(typePair, "type");
        if (kind is null)
        {
            return -1;
        }
        if (!s_argumentTypes.Contains(kind))
        {
            Report(YamlDiagnostics.InvalidValue, typePair.Value.Location, $"'{kind}' is not an argument type{Suggestions.DidYouMean(kind, s_argumentTypes)}; use one of: {string.Join(", ", s_argumentTypes)}");
            return -1;
        }
        var compilation = _builder.Compilation;
        ITypeSymbol type = kind switch
        {
            "int" => compilation.GetSpecialType(SpecialType.System_Int32),
            "long" => compilation.GetSpecialType(SpecialType.System_Int64),
            "bool" => compilation.GetSpecialType(SpecialType.System_Boolean),
            "double" => compilation.GetSpecialType(SpecialType.System_Double),
            "string[]" => compilation.CreateArrayTypeSymbol(compilation.GetSpecialType(SpecialType.System_String)),
            _ => compilation.GetSpecialType(SpecialType.System_String),
        };
        var description = Field(node, "description") is { } d ? String(d, "description") ?? "" : "";
        var (code, display) = Default(name, kind, Field(node, "default"));
        return _builder.AddArgument(name, type, kind, code, display, description, location);
    }

    private (string Code, string Display) Default(string name, string kind, YamlPair? pair)
    {
        var value = pair?.Value;
        if (kind == "string[]")
        {
            if (value is null || value.IsNull)
            {
                return ("global::System.Array.Empty<string>()", "");
            }
            if (value.Kind != YamlNodeKind.Sequence || value.Items.Any(i => i.Kind != YamlNodeKind.Scalar))
            {
                Report(YamlDiagnostics.WrongType, value.Location, $"default of --{name}", "a list of strings", value.Describe());
                return ("global::System.Array.Empty<string>()", "");
            }
            var elements = value.Items.Select(i => i.Value).ToList();
            return (elements.Count == 0 ? "global::System.Array.Empty<string>()" : "new string[] { " + string.Join(", ", elements.Select(CSharpConfigReader.Literal)) + " }", string.Join(", ", elements));
        }
        object constant = kind switch
        {
            "int" => 0,
            "long" => 0L,
            "bool" => false,
            "double" => 0d,
            _ => "",
        };
        if (value is not null && !(value.IsNull && kind != "string"))
        {
            var expected = kind switch
            {
                "int" => "an int",
                "long" => "a long integer",
                "bool" => "true or false",
                "double" => "a number",
                _ => "a string",
            };
            object? parsed = null;
            if (value.Kind == YamlNodeKind.Scalar)
            {
                var text = value.Value;
                var plain = value.IsPlain;
                parsed = kind switch
                {
                    "int" when plain && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) => i,
                    "long" when plain && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => l,
                    "double" when plain && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) => f,
                    "bool" when plain && text is "true" or "True" or "TRUE" => true,
                    "bool" when plain && text is "false" or "False" or "FALSE" => false,
                    "string" => value.IsNull ? "" : text,
                    _ => null,
                };
            }
            if (parsed is null)
            {
                Report(YamlDiagnostics.WrongType, value.Location, $"default of --{name}", expected, value.Describe());
            }
            else
            {
                constant = parsed;
            }
        }
        return CSharpConfigReader.FormatConstant(constant, kind);
    }

    // ---- devices, functors, choices ----------------------------------------------------------------------------------

    /// <summary>The id of a named item, reading it on first use; -1 after reporting.</summary>
    private int Resolve(string name, LocationInfo? reference)
    {
        if (_ids.TryGetValue(name, out var known))
        {
            return known;
        }
        if (_resolving.Contains(name))
        {
            var cycle = _resolving.Skip(_resolving.IndexOf(name)).Append(name);
            Report(Diagnostics.Cycle, reference, string.Join(" -> ", cycle));
            return -1;
        }
        var (section, pair) = _named[name];
        if (_resolving.Count >= MaxReferenceDepth)
        {
            // Bounds the recursion here and in the resolver, whatever the document.
            Report(YamlDiagnostics.Limit, reference ?? pair.Key.Location, $"names refer to names more than {MaxReferenceDepth} levels deep");
            _ids[name] = -1;
            return -1;
        }
        _resolving.Add(name);
        var id = ReadItem(pair.Value, section == "jobs" ? $"job '{name}'" : $"device '{name}'", pair.Key.Location, inline: false);
        _resolving.RemoveAt(_resolving.Count - 1);
        _ids[name] = id;
        _builder.MarkTopLevel(id, name);
        return id;
    }

    /// <summary>A reference to an item: its name, or an inline item (a mapping).</summary>
    private int ReadReference(YamlNode node, string what)
    {
        _cancellationToken.ThrowIfCancellationRequested();
        if (node.Kind == YamlNodeKind.Mapping)
        {
            return ReadItem(node, "inline device in " + what, node.Location, inline: true);
        }
        if (node.Kind != YamlNodeKind.Scalar || node.IsNull)
        {
            Report(YamlDiagnostics.WrongType, node.Location, what, "the name of a device, argument or job, or an inline device { kind: ... }", node.Describe());
            return -1;
        }
        if (!_named.ContainsKey(node.Value))
        {
            if (_declaredUnderTypo.Contains(node.Value))
            {
                return -1;
            }
            Report(YamlDiagnostics.UnknownReference, node.Location, node.Value, Suggestions.DidYouMean(node.Value, _named.Keys));
            return -1;
        }
        return Resolve(node.Value, node.Location);
    }

    private int ReadItem(YamlNode node, string what, LocationInfo location, bool inline)
    {
        if (node.Kind != YamlNodeKind.Mapping)
        {
            Report(YamlDiagnostics.WrongType, node.Location, what, "a mapping with 'kind', 'type', 'if' or 'match'", node.Describe());
            return -1;
        }
        var forms = s_forms.Where(f => Field(node, f) is not null).ToList();
        if (forms.Count == 0)
        {
            var known = s_forms.Concat(s_functorFields).Concat(s_ifFields).Concat(s_matchFields);
            var typo = node.Pairs.Select(p => Suggestions.Closest(p.Key.Value, s_forms) is { } close ? (p, close) : default).FirstOrDefault(t => t.p is not null);
            if (typo.p is not null)
            {
                Report(YamlDiagnostics.UnknownField, typo.p.Key.Location, typo.p.Key.Value, what, $" (did you mean '{typo.close}'?)", string.Join(", ", s_forms));
                return -1;
            }
            _ = known;
            Report(YamlDiagnostics.MissingField, location, char.ToUpperInvariant(what[0]) + what.Substring(1), "kind", " (a catalogue device), or 'type' (a class built over other devices), 'if' or 'match' (a configure-time choice)");
            return -1;
        }
        if (forms.Count > 1)
        {
            Report(YamlDiagnostics.InvalidValue, Field(node, forms[1])!.Key.Location, $"The {what} has both '{forms[0]}' and '{forms[1]}'; an item is one of: a device (kind), a class (type), a choice (if or match)");
            return -1;
        }
        return forms[0] switch
        {
            "kind" => ReadDevice(node, what, location, inline),
            "type" => ReadFunctor(node, what, location, inline),
            "if" => ReadIf(node, what, location),
            _ => ReadMatch(node, what, location),
        };
    }

    private int ReadDevice(YamlNode node, string what, LocationInfo location, bool inline)
    {
        var kindPair = Field(node, "kind")!;
        var kind = String(kindPair, "kind");
        if (kind is null)
        {
            return -1;
        }
        var kinds = _builder.Catalogue.Select(e => e.Kind).ToList();
        var entry = _builder.Catalogue.FirstOrDefault(e => e.Kind == kind);
        if (entry is null)
        {
            Report(YamlDiagnostics.UnknownKind, kindPair.Value.Location, kind, Suggestions.DidYouMean(kind, kinds), string.Join(", ", kinds));
            return -1;
        }
        var parameters = entry.Parameters.Where(p => p.Name != "name").ToList();
        var allowed = new[] { "kind" }.Concat(parameters.Select(p => p.Name)).Concat(inline ? ["name"] : []).ToArray();
        CheckFields(node, $"{what} (kind {kind})", allowed);
        var given = new Dictionary<string, (int Item, LocationInfo? Location)>(StringComparer.Ordinal);
        var options = new Dictionary<string, (object? Value, LocationInfo? Location)>(StringComparer.Ordinal);
        var directory = "";
        var failed = false;
        foreach (var parameter in parameters)
        {
            var pair = Field(node, parameter.Name);
            if (pair is null || pair.Value.IsNull)
            {
                if (!parameter.HasExplicitDefaultValue && !parameter.IsOptional)
                {
                    Report(YamlDiagnostics.MissingField, location, char.ToUpperInvariant(what[0]) + what.Substring(1), parameter.Name, $" (a {kind} device needs it)");
                    failed = true;
                }
                continue;
            }
            if (entry.Option(parameter.Name) is { } option)
            {
                options[parameter.Name] = (OptionValue(pair.Value, option.Kind), pair.Value.Location);
                continue;
            }
            if (parameter.Type.SpecialType == SpecialType.System_String)
            {
                if (String(pair, parameter.Name) is { } text && entry.IsCrunch)
                {
                    directory = text;
                }
                continue;
            }
            given[parameter.Name] = (ReadReference(pair.Value, $"'{parameter.Name}' of the {what}"), pair.Value.Location);
        }
        if (failed)
        {
            return -1;
        }
        return _builder.AddDevice(entry, given, InlineName(node, inline), directory, location, options: options);
    }

    /// <summary>A device option's scalar as the option's kind; what does not read as one is passed on as text (UK0022 says what to give).</summary>
    private static object? OptionValue(YamlNode value, string kind)
    {
        if (value.Kind != YamlNodeKind.Scalar)
        {
            return null;
        }
        var text = value.Value;
        if (!value.IsPlain)
        {
            return text;
        }
        return kind switch
        {
            "int" or "long" when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => l,
            "double" when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) => f,
            "bool" when text is "true" or "True" or "TRUE" => true,
            "bool" when text is "false" or "False" or "FALSE" => false,
            _ => text,
        };
    }

    private int ReadFunctor(YamlNode node, string what, LocationInfo location, bool inline)
    {
        CheckFields(node, what, inline ? [.. s_functorFields, "name"] : s_functorFields);
        var typePair = Field(node, "type")!;
        var type = NamedType(typePair);
        if (type is null)
        {
            return -1;
        }
        if (type.TypeKind != TypeKind.Class || type.IsAbstract || type.IsStatic || type.IsUnboundGenericType)
        {
            Report(YamlDiagnostics.NotAJob, typePair.Value.Location, $"'{ModelBuilder.Display(type)}' cannot be built: the type of a {what} must be a non-abstract, non-static class");
            return -1;
        }
        var arguments = new List<(int, LocationInfo?)>();
        if (Field(node, "args") is { } args && !args.Value.IsNull)
        {
            if (args.Value.Kind != YamlNodeKind.Sequence)
            {
                Report(YamlDiagnostics.WrongType, args.Value.Location, "args", "a list of names (e.g. [console, time])", args.Value.Describe());
                return -1;
            }
            for (var i = 0; i < args.Value.Items.Length; i++)
            {
                var item = args.Value.Items[i];
                arguments.Add((ReadReference(item, $"argument {i + 1} of the {what}"), item.Location));
            }
        }
        return _builder.AddFunctor(type, arguments, InlineName(node, inline), location);
    }

    /// <summary>An inline item's optional 'name' (named items are named by their key), like c.Console("log") in config.cs.</summary>
    private string? InlineName(YamlNode node, bool inline)
    {
        if (!inline || Field(node, "name") is not { } pair)
        {
            return null;
        }
        var name = String(pair, "name");
        return name is { Length: > 0 } ? name : null;
    }

    private int ReadIf(YamlNode node, string what, LocationInfo location)
    {
        CheckFields(node, what, s_ifFields);
        var condition = Field(node, "if")!;
        if (Mapping(condition, "if") is not { } map)
        {
            return -1;
        }
        CheckFields(map, "the condition", s_conditionFields);
        var keyPair = Field(map, "key");
        var isPair = Field(map, "is");
        if (keyPair is null || isPair is null)
        {
            Report(YamlDiagnostics.MissingField, condition.Key.Location, "The condition", keyPair is null ? "key" : "is", " (e.g. if: { key: target, is: test })");
            return -1;
        }
        var key = KeyName(keyPair);
        var value = String(isPair, "is");
        if (key is null || value is null)
        {
            return -1;
        }
        CheckKeyValue(key, value, isPair.Value.Location);
        var thenPair = Field(node, "then");
        var elsePair = Field(node, "else");
        if (thenPair is null || elsePair is null)
        {
            Report(YamlDiagnostics.MissingField, location, char.ToUpperInvariant(what[0]) + what.Substring(1), thenPair is null ? "then" : "else", " (the device chosen when the condition holds, and the one otherwise)");
            return -1;
        }
        var then = ReadReference(thenPair.Value, $"'then' of the {what}");
        var otherwise = ReadReference(elsePair.Value, $"'else' of the {what}");
        var type = ChoiceType(node, what, [then, otherwise]);
        return type is null ? -1 : _builder.AddChoice(type, key, [new ChoiceCase(value, then)], otherwise, location);
    }

    private int ReadMatch(YamlNode node, string what, LocationInfo location)
    {
        CheckFields(node, what, s_matchFields);
        var key = KeyName(Field(node, "match")!);
        if (key is null)
        {
            return -1;
        }
        var otherwisePair = Field(node, "otherwise");
        if (otherwisePair is null)
        {
            Report(YamlDiagnostics.MissingField, location, char.ToUpperInvariant(what[0]) + what.Substring(1), "otherwise", " (the device chosen when no case matches)");
            return -1;
        }
        var cases = new List<ChoiceCase>();
        if (Field(node, "cases") is { } casesPair && Mapping(casesPair, "cases") is { } map)
        {
            foreach (var pair in map.Pairs)
            {
                CheckKeyValue(key, pair.Key.Value, pair.Key.Location);
                cases.Add(new ChoiceCase(pair.Key.Value, ReadReference(pair.Value, $"case '{pair.Key.Value}' of the {what}")));
            }
        }
        var otherwise = ReadReference(otherwisePair.Value, $"'otherwise' of the {what}");
        var type = ChoiceType(node, what, [.. cases.Select(c => c.ItemId), otherwise]);
        return type is null ? -1 : _builder.AddChoice(type, key, cases, otherwise, location);
    }

    private string? KeyName(YamlPair pair)
    {
        var key = String(pair, pair.Key.Value);
        if (key is not null && !_keys.Contains(key))
        {
            Report(YamlDiagnostics.UndeclaredKey, pair.Value.Location, key, Suggestions.DidYouMean(key, _keys));
            return null;
        }
        return key;
    }

    private void CheckKeyValue(string key, string value, LocationInfo location)
    {
        if (Resolver.ImpossibleKeyValue(key, value, _builder.TargetNames, _builder.Nets) is { } problem)
        {
            Report(YamlDiagnostics.InvalidValue, location, problem);
        }
    }

    /// <summary>What a choice provides: 'provides:' when given, else the branch type every branch converts to.</summary>
    private ITypeSymbol? ChoiceType(YamlNode node, string what, IReadOnlyList<int> branches)
    {
        if (Field(node, "provides") is { } provides)
        {
            var declared = NamedType(provides);
            if (declared is null)
            {
                return null;
            }
            foreach (var branch in branches.Where(b => b >= 0))
            {
                var provided = _builder.ProvidedType(branch)!;
                if (!_builder.Compilation.HasImplicitConversion(provided, declared))
                {
                    Report(Diagnostics.TypeMismatch, provides.Value.Location, _builder.ItemName(branch), ModelBuilder.Display(provided), "provides", what, ModelBuilder.Display(declared));
                }
            }
            return declared;
        }
        var types = branches.Where(b => b >= 0).Select(b => _builder.ProvidedType(b)!).ToList();
        if (types.Count == 0 || types.Count < branches.Count)
        {
            return null; // A branch was wrong and is reported already.
        }
        var common = types.FirstOrDefault(t => types.All(o => _builder.Compilation.HasImplicitConversion(o, t)));
        if (common is null)
        {
            Report(YamlDiagnostics.InvalidValue, node.Location, $"The branches of the {what} provide different types ({string.Join(", ", types.Select(ModelBuilder.Display).Distinct())}); say what the choice provides with 'provides: Namespace.IInterface'");
        }
        return common;
    }

    private INamedTypeSymbol? NamedType(YamlPair pair)
    {
        var name = String(pair, pair.Key.Value);
        if (name is null)
        {
            return null;
        }
        var metadataName = name.StartsWith("global::", StringComparison.Ordinal) ? name.Substring(8) : name;
        var type = metadataName.Length > 0 ? _builder.Compilation.GetTypeByMetadataName(metadataName) : null;
        if (type is null)
        {
            Report(YamlDiagnostics.UnknownType, pair.Value.Location, name, TypeSuggestion(metadataName));
        }
        return type;
    }

    private string TypeSuggestion(string name)
    {
        var simple = name.Substring(name.LastIndexOf('.') + 1);
        var names = new List<string>();
        Collect(_builder.Compilation.Assembly.GlobalNamespace, names, 0);
        var sameName = names.FirstOrDefault(n => n.Substring(n.LastIndexOf('.') + 1) == simple);
        return sameName is not null ? $" (did you mean '{sameName}'?)" : Suggestions.DidYouMean(name, names);

        static void Collect(INamespaceOrTypeSymbol symbol, List<string> names, int depth)
        {
            if (names.Count > 5000 || depth > 20)
            {
                return;
            }
            foreach (var member in symbol.GetMembers())
            {
                if (member is INamedTypeSymbol type)
                {
                    names.Add(type.ToDisplayString());
                }
                else if (member is INamespaceSymbol ns)
                {
                    Collect(ns, names, depth + 1);
                }
            }
        }
    }

    // ---- helpers -----------------------------------------------------------------------------------------------------

    private static YamlPair? Field(YamlNode mapping, string name) =>
        mapping.Kind == YamlNodeKind.Mapping ? mapping.Pairs.FirstOrDefault(p => p.Key.Value == name) : null;

    private void CheckFields(YamlNode mapping, string what, IReadOnlyList<string> allowed)
    {
        foreach (var pair in mapping.Pairs)
        {
            if (!allowed.Contains(pair.Key.Value))
            {
                Report(YamlDiagnostics.UnknownField, pair.Key.Location, pair.Key.Value, what, Suggestions.DidYouMean(pair.Key.Value, allowed), string.Join(", ", allowed));
            }
        }
    }

    private YamlNode? Mapping(YamlPair pair, string what)
    {
        if (pair.Value.Kind == YamlNodeKind.Mapping)
        {
            return pair.Value;
        }
        if (pair.Value.IsNull)
        {
            return pair.Value with { Kind = YamlNodeKind.Mapping };
        }
        Report(YamlDiagnostics.WrongType, pair.Value.Location, what, "a mapping", pair.Value.Describe());
        return null;
    }

    private string? String(YamlPair pair, string what)
    {
        if (pair.Value.Kind == YamlNodeKind.Scalar && !pair.Value.IsNull)
        {
            return pair.Value.Value;
        }
        Report(YamlDiagnostics.WrongType, pair.Value.Location, what, "a string", pair.Value.Describe());
        return null;
    }

    private void Report(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments)
    {
        // The first error of a named item is the one to fix: what follows from it would only be noise.
        if (_resolving.Count > 0 && !_itemsWithErrors.Add(_resolving[_resolving.Count - 1]))
        {
            return;
        }
        // A document full of mistakes gets the first ones, not thousands.
        if (++_reported <= YamlSyntaxParser.MaxDiagnostics)
        {
            _builder.Report(descriptor, location ?? _document.FileStart, arguments);
        }
    }
}
