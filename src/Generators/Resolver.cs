using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace Unikernel.Generators;

/// <summary>
/// Chooses implementations for one target and orders the device graph: a pure function from the declared
/// configuration and the build options to the wiring the emitter writes.
/// </summary>
internal sealed class Resolver
{
    /// <summary>
    /// Why <paramref name="key"/> can never be <paramref name="value"/> (the built-in keys take only the values the
    /// catalogue declares: its targets and net choices), or null; both front ends report it (config.cs UK0019,
    /// unikernel.yaml UK1011).
    /// </summary>
    public static string? ImpossibleKeyValue(string key, string value, IReadOnlyList<string> targets, IReadOnlyList<string> nets) => key switch
    {
        "target" when !targets.Contains(value) =>
            $"'{value}' is not a target{Suggestions.DidYouMean(value, targets)}; targets: {string.Join(", ", targets)}",
        "net" when !nets.Contains(value) =>
            $"'{value}' is not a network stack choice{Suggestions.DidYouMean(value, nets)}; net is {string.Join(" or ", nets)}",
        _ => null,
    };

    private readonly ConfigModel _config;
    private readonly BuildOptions _options;
    private readonly Dictionary<string, string> _keys = new(StringComparer.Ordinal);
    private readonly List<DiagnosticInfo> _diagnostics = [];
    private readonly Dictionary<int, string?> _done = [];
    private readonly List<int> _path = [];
    private readonly List<NodeInfo> _nodes = [];
    private readonly List<(string From, string To, string Label)> _edges = [];
    private readonly Dictionary<string, ArgumentSpec> _arguments = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _shared = new(StringComparer.Ordinal);
    private readonly HashSet<string> _variables = new(StringComparer.Ordinal);
    private readonly HashSet<int> _jobs;

    private Resolver(ConfigModel config, BuildOptions options)
    {
        _config = config;
        _options = options;
        _jobs = [.. config.Jobs];
    }

    public static ResolvedModel Resolve(ConfigModel config, BuildOptions options, EquatableArray<CrunchFile> crunch)
    {
        var resolver = new Resolver(config, options);
        try
        {
            return resolver.Run(crunch);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            var diagnostics = config.Diagnostics.Items.Add(DiagnosticInfo.Create(Diagnostics.InternalError, config.Location, exception.GetType().Name + ": " + exception.Message));
            return new ResolvedModel(config.Namespace, config.ClassName, config.Name, options.Target, EquatableArray<NodeInfo>.Empty, EquatableArray<ArgumentSpec>.Empty,
                new EquatableArray<DiagnosticInfo>(diagnostics), "", true, EquatableArray<CrunchFile>.Empty, null);
        }
    }

    private ResolvedModel Run(EquatableArray<CrunchFile> crunch)
    {
        var target = _options.Target;
        var declared = _config.Targets.FirstOrDefault(t => t.Name == target);
        // No declared targets at all: no catalogue (reported by the reader), nothing to say about the target.
        if (declared is null && _config.Targets.Length > 0)
        {
            var names = _config.Targets.Select(t => t.Name).ToList();
            Report(Diagnostics.UnknownTarget, _config.Location, target, string.Join(", ", names));
        }
        else
        {
            SetKeys();
            if (_config.Jobs.Length == 0 && !_config.Diagnostics.Any(d => Diagnostics.IsError(d.Id)))
            {
                Report(Diagnostics.NoJobs, _config.Location, _config.Name, _config.SourceKind == "config.cs"
                    ? "add c.Register(c.Main<YourJob>(...)) to Configure"
                    : "add one under jobs: (e.g. hello: { type: MyAppliance.Hello, args: [console] })");
            }
            foreach (var job in _config.Jobs)
            {
                Visit(job);
            }
        }

        var usedCrunch = _nodes.Where(n => n.CrunchDirectory.Length > 0).Select(n => n.CrunchDirectory).Distinct().ToList();
        foreach (var directory in usedCrunch.Where(d => !crunch.Any(f => f.Directory == d)))
        {
            var item = _config.Items.OfType<DeviceItem>().First(i => i.CrunchDirectory == directory);
            Report(Diagnostics.EmptyCrunch, item.Location, directory);
        }

        var diagnostics = _config.Diagnostics.Items.AddRange(_diagnostics);
        var hasErrors = diagnostics.Any(d => Diagnostics.IsError(d.Id));
        return new ResolvedModel(
            _config.Namespace,
            _config.ClassName,
            _config.Name,
            target,
            hasErrors ? EquatableArray<NodeInfo>.Empty : _nodes.ToEquatableArray(),
            hasErrors ? EquatableArray<ArgumentSpec>.Empty : _arguments.Values.ToEquatableArray(),
            new EquatableArray<DiagnosticInfo>(diagnostics),
            hasErrors ? "" : Dot(),
            hasErrors,
            crunch.Where(f => usedCrunch.Contains(f.Directory)).OrderBy(f => f.Directory, StringComparer.Ordinal).ThenBy(f => f.Key, StringComparer.Ordinal).ToEquatableArray(),
            declared)
        {
            // -p:UnikernelSeal decides, else the target's declaration (by default on the VM targets); a target that is
            // never sealed (test: the JIT over in-memory devices) says "Not sealed" in its help.
            Seal = declared?.Seal switch
            {
                "never" => false,
                "by-default" => _options.Seal ?? true,
                _ => _options.Seal ?? false,
            },
        };
    }

    private void SetKeys()
    {
        foreach (var key in _config.Keys)
        {
            _keys[key.Name] = key.DefaultValue;
        }
        foreach (var pair in _options.Keys.Split([';'], StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var name = (eq < 0 ? pair : pair.Substring(0, eq)).Trim();
            var value = eq < 0 ? "true" : pair.Substring(eq + 1).Trim();
            if (!_keys.ContainsKey(name) && name != "net")
            {
                Report(Diagnostics.UnknownKey, _config.Location, name, _config.Keys.Length == 0 ? "(none)" : string.Join(", ", _config.Keys.Select(k => k.Name)));
            }
            _keys[name] = value;
        }
        _keys["target"] = _options.Target;
        // The first net choice of the catalogue is the default (socket).
        _keys["net"] = _options.Net.Length == 0 ? _config.Nets.FirstOrDefault() ?? "" : _options.Net;
    }

    private string KeyValue(string key) => _keys.TryGetValue(key, out var value) ? value : "";

    /// <summary>Builds an item (once) and everything it needs; returns the C# expression for it, or null after reporting.</summary>
    private string? Visit(int id)
    {
        if (id < 0 || id >= _config.Items.Length)
        {
            return null;
        }
        if (_path.Contains(id))
        {
            var start = _path.IndexOf(id);
            var cycle = _path.Skip(start).Append(id).Select(i => _config.Items[i].Name);
            Report(Diagnostics.Cycle, _config.Items[id].Location, string.Join(" -> ", cycle));
            return null;
        }
        if (_done.TryGetValue(id, out var existing))
        {
            return existing;
        }
        _path.Add(id);
        var result = Build(_config.Items[id]);
        _path.RemoveAt(_path.Count - 1);
        _done[id] = result;
        return result;
    }

    private string? Build(ItemInfo item)
    {
        switch (item)
        {
            case ArgumentItem argument:
                return AddArgument(argument.Name, argument.ArgumentType, argument.DefaultCode, argument.DefaultDisplay, argument.Description, argument.Location);
            case ChoiceItem choice:
                var value = KeyValue(choice.KeyName);
                var chosen = choice.Cases.FirstOrDefault(c => c.Value == value)?.ItemId ?? choice.OtherwiseId;
                return Visit(chosen);
        }

        var implementation = ChooseImplementation(item);
        if (implementation is null)
        {
            return null;
        }
        var sharedKey = implementation.SharedInstance.Length > 0 ? implementation.SharedInstance + "|" + implementation.TypeName : null;
        if (sharedKey is not null && _shared.TryGetValue(sharedKey, out var sharedVariable))
        {
            return sharedVariable;
        }

        var arguments = new List<string>();
        var dependencies = new List<(string Variable, string Parameter)>();
        var failed = false;
        foreach (var parameter in implementation.Parameters)
        {
            var expression = Bind(item, parameter);
            if (expression is null)
            {
                failed = true;
                continue;
            }
            arguments.Add(expression);
            if (parameter.Binding.Kind != BindingKind.Constant)
            {
                dependencies.Add((expression, parameter.Name));
            }
        }
        if (failed)
        {
            return null;
        }

        var variable = NewVariable(item.Name);
        _nodes.Add(new NodeInfo(variable, item.Name, implementation.TypeName, arguments.ToEquatableArray(), implementation.IsStartable, implementation.IsDisposable, implementation.IsAsyncDisposable, _jobs.Contains(item.Id), (item as DeviceItem)?.CrunchDirectory ?? "") { SystemCalls = implementation.SystemCalls });
        foreach (var (dependency, parameter) in dependencies)
        {
            _edges.Add((variable, dependency, parameter));
        }
        if (sharedKey is not null)
        {
            _shared[sharedKey] = variable;
        }
        return variable;
    }

    /// <summary>The implementation chosen for <paramref name="item"/> on this target (functors have one).</summary>
    private static ImplementationInfo? Implementation(ItemInfo item) => (item as FunctorItem)?.Implementation;

    private ImplementationInfo? ChooseImplementation(ItemInfo item)
    {
        if (item is FunctorItem functor)
        {
            return functor.Implementation.Found ? functor.Implementation : null;
        }
        if (item is not DeviceItem device)
        {
            return null;
        }
        var target = _options.Target;
        var candidates = device.Implementations.Where(i => i.WhenKey.Length == 0 || KeyValue(i.WhenKey) == i.WhenValue).ToList();
        var implementation = candidates.FirstOrDefault(i => i.Targets.Contains(target));
        if (implementation is null)
        {
            var available = candidates.SelectMany(i => i.Targets).Distinct().ToList();
            var advice = _config.SourceKind == "config.cs"
                ? $"Choose another device for this target with c.If(c.Target.Is(\"{target}\"), ...) or c.Match(c.Target, ...)"
                : $"Choose another device for this target with if: {{ key: target, is: {target} }} (then:, else:) or match: target";
            Report(Diagnostics.TargetUnsupported, item.Location, item.Name, item.Label, target, available.Count == 0 ? "no target" : string.Join(", ", available), advice);
            return null;
        }
        if (!implementation.Found)
        {
            Report(Diagnostics.ImplementationMissing, item.Location, item.Name, target, implementation.TypeDisplay);
            return null;
        }
        return implementation;
    }

    private string? Bind(ItemInfo owner, ParameterInfo parameter)
    {
        var binding = parameter.Binding;
        switch (binding.Kind)
        {
            case BindingKind.Item:
                return Visit(binding.ItemId);
            case BindingKind.RuntimeArgument:
                var argument = ((DeviceItem)owner).CatalogueArguments.First(a => a.Name == binding.Text);
                return AddArgument(argument.Name, "string", CSharpConfigReader.Literal(argument.DefaultValue), argument.DefaultValue, argument.Description, owner.Location);
            case BindingKind.CrunchTable:
                return CrunchMethod(((DeviceItem)owner).CrunchDirectory) + "()";
            case BindingKind.ByType when binding.Candidates.Length == 1:
                return Visit(binding.Candidates[0]);
            case BindingKind.ByType when binding.Candidates.Length > 1:
                var names = binding.Candidates.Select(c => _config.Items[c].Name).ToList();
                Report(Diagnostics.AmbiguousDependency, owner.Location, owner.Name, parameter.TypeDisplay, parameter.Name, string.Join(", ", names));
                // The fix passes one candidate: positionally to a class (c.Main/c.New), by parameter name to a device.
                var position = Implementation(owner)?.Parameters.Items.IndexOf(parameter) ?? -1;
                _diagnostics[_diagnostics.Count - 1] = _diagnostics[_diagnostics.Count - 1] with
                {
                    Fix = (owner is FunctorItem ? position.ToString(System.Globalization.CultureInfo.InvariantCulture) : "@" + parameter.Name) + "|" + string.Join(",", names),
                };
                return null;
            case BindingKind.ByType when binding.DefaultItemId >= 0:
                return Visit(binding.DefaultItemId);
            case BindingKind.Reported:
                return null;
            case BindingKind.Constant:
                return binding.Text;
            default:
                var yaml = _config.SourceKind != "config.cs";
                var provider = _config.Providers.FirstOrDefault(p => p.Interface == parameter.TypeDisplay) is { } found ? yaml ? found.Yaml : found.CSharp : null;
                var hint = provider is not null
                    ? yaml ? $"add '{provider}' under devices: or pass one in args:" : $"add '{provider}' to Configure or pass one explicitly"
                    : binding.Kind == BindingKind.Missing
                        ? yaml
                            ? $"declare it under arguments: (e.g. {parameter.Name}: {{ type: {YamlType(parameter.TypeDisplay)} }}) and pass it in args:"
                            : $"pass a value, e.g. c.Argument<{parameter.TypeDisplay}>(\"{parameter.Name}\", ...)"
                        : yaml
                            ? $"add a device or job that provides {parameter.TypeDisplay} under devices:, or pass one in args:"
                            : $"add a device or job that provides {parameter.TypeDisplay} to Configure, or pass one explicitly";
                Report(Diagnostics.MissingDependency, owner.Location, owner.Name, parameter.TypeDisplay, parameter.Name, hint);
                if (provider is not null && !yaml)
                {
                    _diagnostics[_diagnostics.Count - 1] = _diagnostics[_diagnostics.Count - 1] with { Fix = provider };
                }
                return null;
        }
    }

    /// <summary>
    /// A runtime argument, shared by everything that uses its name (a catalogue device's --interface and the user's
    /// c.Argument("interface", ...) are one option); two uses with different types are reported (UK0005).
    /// </summary>
    private string? AddArgument(string name, string type, string defaultCode, string defaultDisplay, string description, LocationInfo? location)
    {
        if (!_arguments.TryGetValue(name, out var spec))
        {
            spec = new ArgumentSpec(name, NewVariable("arg_" + name), type, defaultCode, defaultDisplay, description);
            _arguments[name] = spec;
        }
        else if (spec.Type != type)
        {
            Report(Diagnostics.DuplicateName, location, "--" + name);
            return null;
        }
        return spec.Variable;
    }

    /// <summary>An argument type as unikernel.yaml writes it (int, string[], ...).</summary>
    private static string YamlType(string display) => display switch
    {
        "int" or "long" or "bool" or "double" or "string" or "string[]" => display,
        _ => "string",
    };

    public static string CrunchMethod(string directory) => "__Crunch_" + Identifier(directory);

    private string NewVariable(string name)
    {
        var baseName = Identifier(name);
        var candidate = baseName;
        for (var i = 2; !_variables.Add(candidate) || s_reserved.Contains(candidate); i++)
        {
            candidate = baseName + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return candidate;
    }

    private static readonly HashSet<string> s_reserved = new(StringComparer.Ordinal)
    {
        "args", "i", "name", "value", "equals", "exception", "device",
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const", "continue",
        "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern", "false", "finally",
        "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface", "internal", "is", "lock", "long",
        "namespace", "new", "null", "object", "operator", "out", "override", "params", "private", "protected", "public",
        "readonly", "ref", "return", "sbyte", "sealed", "short", "sizeof", "stackalloc", "static", "string", "struct", "switch",
        "this", "throw", "true", "try", "typeof", "uint", "ulong", "unchecked", "unsafe", "ushort", "using", "virtual", "void",
        "volatile", "while",
    };

    public static string Identifier(string name)
    {
        var builder = new StringBuilder();
        foreach (var c in name)
        {
            builder.Append(char.IsLetterOrDigit(c) || c == '_' ? c : '_');
        }
        if (builder.Length == 0 || char.IsDigit(builder[0]))
        {
            builder.Insert(0, '_');
        }
        return builder.ToString();
    }

    private string Dot()
    {
        var dot = new StringBuilder();
        dot.Append("digraph \"").Append(Escape(_config.Name)).Append("\" {\n");
        dot.Append("  label=\"").Append(Escape(_config.Name)).Append(" (target ").Append(Escape(_options.Target)).Append(")\";\n");
        dot.Append("  node [shape=box];\n");
        foreach (var node in _nodes)
        {
            var typeName = node.TypeName.StartsWith("global::", StringComparison.Ordinal) ? node.TypeName.Substring(8) : node.TypeName;
            dot.Append("  \"").Append(node.Variable).Append("\" [label=<").Append(Html(node.Name)).Append("<BR/><FONT POINT-SIZE=\"10\">").Append(Html(typeName)).Append("</FONT>>");
            if (node.IsJob)
            {
                dot.Append(", shape=doubleoctagon");
            }
            dot.Append("];\n");
        }
        foreach (var argument in _arguments.Values)
        {
            dot.Append("  \"").Append(argument.Variable).Append("\" [label=<--").Append(Html(argument.Name)).Append("<BR/>").Append(Html(argument.Type)).Append(">, shape=note];\n");
        }
        foreach (var (from, to, label) in _edges)
        {
            if (to.StartsWith("__Crunch_", StringComparison.Ordinal))
            {
                continue;
            }
            dot.Append("  \"").Append(from).Append("\" -> \"").Append(to).Append("\" [label=\"").Append(Escape(label)).Append("\"];\n");
        }
        dot.Append("}\n");
        return dot.ToString();
    }

    // Labels use Graphviz's HTML form: MSBuild would rewrite the backslash of "\n" when copying the graph out.
    private static string Escape(string text) => text.Replace("\\", "/").Replace("\"", "'");

    private static string Html(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");

    private void Report(Microsoft.CodeAnalysis.DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments) =>
        _diagnostics.Add(DiagnosticInfo.Create(descriptor, location, arguments));
}
