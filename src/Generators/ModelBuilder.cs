using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace Unikernel.Generators;

/// <summary>
/// Builds a <see cref="ConfigModel"/> from declarations made by a front end (config.cs or unikernel.yaml). Symbols are
/// used only while building; the model it returns holds strings and equatable arrays.
/// </summary>
internal sealed class ModelBuilder
{
    public const string ConfigurationTypeName = "Unikernel.Config.Configuration";

    private static readonly SymbolDisplayFormat s_fullName = SymbolDisplayFormat.FullyQualifiedFormat
        .WithMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.UseSpecialTypes | SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    private readonly List<Draft> _items = [];
    private readonly List<int> _jobs = [];
    private readonly List<KeyInfo> _keys = [];
    private readonly List<DiagnosticInfo> _diagnostics = [];
    private readonly Dictionary<string, int> _implicitDefaults = new(StringComparer.Ordinal);

    public ModelBuilder(Compilation compilation)
    {
        Compilation = compilation;
        Known = KnownSymbols.For(compilation);
        ConfigurationType = Known.Configuration;
        Catalogue = Known.Catalogue.Entries;
        // A catalogue entry or target declaration that is wrong is reported with every configuration that reads it.
        _diagnostics.AddRange(Known.Catalogue.Problems);
    }

    public Compilation Compilation { get; }

    public KnownSymbols Known { get; }

    public INamedTypeSymbol? ConfigurationType { get; }

    /// <summary>The devices: the built-in catalogue and the project's [Device] extensions.</summary>
    public IReadOnlyList<CatalogueEntry> Catalogue { get; }

    /// <summary>The declared targets' names.</summary>
    public IReadOnlyList<string> TargetNames => Known.Catalogue.TargetNames;

    /// <summary>The net choices (-p:UnikernelNet).</summary>
    public IReadOnlyList<string> Nets => Known.Catalogue.Nets;

    /// <summary>An entry's problems (UK0020), unless the catalogue reported them already (it reads the built-in and the project's entries).</summary>
    public void ReportProblems(CatalogueEntry entry)
    {
        if (!Catalogue.Any(e => SymbolEqualityComparer.Default.Equals(e.Method, entry.Method)))
        {
            _diagnostics.AddRange(entry.Problems.Where(p => !_diagnostics.Contains(p)));
        }
    }

    public void Report(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments) =>
        _diagnostics.Add(DiagnosticInfo.Create(descriptor, location, arguments));

    public ITypeSymbol? ProvidedType(int id) => id >= 0 && id < _items.Count ? _items[id].Provided : null;

    public string ItemName(int id) => _items[id].Name;

    public void MarkTopLevel(int id, string? variableName)
    {
        if (id < 0)
        {
            return;
        }
        var item = _items[id];
        item.IsTopLevel = true;
        if (variableName is not null && !item.HasExplicitName)
        {
            item.Name = variableName;
            item.HasExplicitName = true;
        }
    }

    public void AddJob(int id)
    {
        if (id >= 0)
        {
            _items[id].IsTopLevel = true;
            _jobs.Add(id);
        }
    }

    public void AddKey(string name, string defaultValue, string description)
    {
        if (!_keys.Any(k => k.Name == name))
        {
            _keys.Add(new KeyInfo(name, defaultValue, description));
        }
    }

    public static string Display(ITypeSymbol type) => type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat);

    public static string FullName(ITypeSymbol type) => type.ToDisplayString(s_fullName);

    // ---- items -----------------------------------------------------------------------------------------------------

    public int AddArgument(string name, ITypeSymbol type, string argumentType, string defaultCode, string defaultDisplay, string description, LocationInfo? location)
    {
        var draft = NewDraft(ItemKind.Argument, name, "argument --" + name, type, location);
        draft.HasExplicitName = true;
        draft.ArgumentType = argumentType;
        draft.DefaultCode = defaultCode;
        draft.DefaultDisplay = defaultDisplay;
        draft.Description = description;
        return draft.Id;
    }

    public int AddChoice(ITypeSymbol type, string keyName, IReadOnlyList<ChoiceCase> cases, int otherwise, LocationInfo? location)
    {
        var draft = NewDraft(ItemKind.Choice, "choice", "choice on " + keyName, type, location);
        draft.KeyName = keyName;
        draft.Cases = [.. cases];
        draft.OtherwiseId = otherwise;
        return draft.Id;
    }

    /// <summary>A user type built over <paramref name="arguments"/> (positional, each with its location).</summary>
    public int AddFunctor(INamedTypeSymbol type, IReadOnlyList<(int Item, LocationInfo? Location)> arguments, string? name, LocationInfo? location)
    {
        var draft = NewDraft(ItemKind.Functor, name ?? CamelCase(type.Name), type.Name, type, location);
        draft.HasExplicitName = name is not null;
        var constructor = PickConstructor(type, (parameter, index) => index < arguments.Count || IsWiredByType(parameter.Type));
        if (constructor is null)
        {
            Report(Diagnostics.WrongArity, location, $"'{Display(type)}' has no public constructor; give it one whose parameters are the devices it needs");
            draft.Implementations = [Implementation(type, null, [], "", "", "", draft, new Dictionary<string, int>(), [], isCatalogue: false, positional: arguments)];
            return draft.Id;
        }
        if (arguments.Count > constructor.Parameters.Length)
        {
            Report(Diagnostics.WrongArity, arguments[constructor.Parameters.Length].Location ?? location,
                $"'{Display(type)}' takes {constructor.Parameters.Length} constructor parameter(s), but {arguments.Count} argument(s) were given; remove the extra ones");
        }
        draft.Implementations = [Implementation(type, constructor, [], "", "", "", draft, new Dictionary<string, int>(), [], isCatalogue: false, positional: arguments)];
        return draft.Id;
    }

    /// <summary>A catalogue device with arguments given by method parameter name.</summary>
    /// <param name="options">The [Option] values given (a constant from config.cs, a scalar converted from unikernel.yaml), each where it was written.</param>
    public int AddDevice(CatalogueEntry entry, IReadOnlyDictionary<string, (int Item, LocationInfo? Location)> given, string? name, string crunchDirectory, LocationInfo? location, bool isImplicit = false,
        IReadOnlyDictionary<string, (object? Value, LocationInfo? Location)>? options = null)
    {
        var draft = NewDraft(ItemKind.Device, name ?? entry.Kind, entry.Kind, entry.Interface, location);
        draft.HasExplicitName = name is not null;
        draft.IsImplicit = isImplicit;
        draft.IsCatalogue = true;
        draft.CrunchDirectory = crunchDirectory;
        draft.CatalogueArguments = entry.Arguments;

        var givenItems = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var pair in given)
        {
            if (pair.Value.Item < 0)
            {
                givenItems[pair.Key] = -1; // Reported already (or a compile error): no UK0001 on top.
                continue;
            }
            var parameter = entry.Method.Parameters.FirstOrDefault(p => p.Name == pair.Key);
            var expected = parameter?.Type is INamedTypeSymbol { IsGenericType: true } impl ? impl.TypeArguments[0] : null;
            var provided = ProvidedType(pair.Value.Item);
            if (expected is not null && provided is not null && !Compilation.HasImplicitConversion(provided, expected))
            {
                Report(Diagnostics.TypeMismatch, pair.Value.Location, ItemName(pair.Value.Item), Display(provided), pair.Key, entry.Kind, Display(expected));
                givenItems[pair.Key] = -1;
                continue;
            }
            givenItems[pair.Key] = pair.Value.Item;
        }

        // Every option is passed: the value given (checked: UK0022) or the method's default.
        var constants = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var option in entry.Options)
        {
            var code = option.DefaultCode;
            if (options is not null && options.TryGetValue(option.Name, out var value))
            {
                if (option.Check(value.Value, out var problem) is { } checkedCode)
                {
                    code = checkedCode;
                }
                else
                {
                    Report(Diagnostics.InvalidOption, value.Location ?? location, option.Name, entry.Kind, problem);
                }
            }
            constants[option.Name] = code;
        }

        var implementations = new List<ImplementationInfo>();
        foreach (var implementation in entry.Implementations)
        {
            var type = implementation.Type is { TypeKind: not TypeKind.Error } found ? found : null;
            var constructor = type is null ? null : PickConstructor(type, (parameter, index) =>
                constants.ContainsKey(parameter.Name)
                || givenItems.ContainsKey(parameter.Name)
                || entry.Arguments.Any(a => a.Parameter == parameter.Name)
                || (entry.IsCrunch && index == 0)
                || IsWiredByType(parameter.Type));
            implementations.Add(Implementation(type, constructor, implementation.Targets, implementation.When, implementation.SharedInstance, implementation.TypeName, draft, givenItems, entry.Arguments, isCatalogue: true, positional: [], crunch: entry.IsCrunch, constants: constants));
        }
        draft.Implementations = [.. implementations];
        return draft.Id;
    }

    private ImplementationInfo Implementation(
        INamedTypeSymbol? type,
        IMethodSymbol? constructor,
        IReadOnlyList<string> targets,
        string when,
        string shared,
        string metadataName,
        Draft owner,
        Dictionary<string, int> givenItems,
        EquatableArray<CatalogueArgument> runtimeArguments,
        bool isCatalogue,
        IReadOnlyList<(int Item, LocationInfo? Location)> positional,
        bool crunch = false,
        IReadOnlyDictionary<string, string>? constants = null)
    {
        var whenKey = "";
        var whenValue = "";
        if (when.Length > 0)
        {
            var eq = when.IndexOf('=');
            whenKey = eq < 0 ? when : when.Substring(0, eq);
            whenValue = eq < 0 ? "" : when.Substring(eq + 1);
        }
        if (type is null)
        {
            return new ImplementationInfo(targets.ToEquatableArray(), "global::" + metadataName, metadataName, whenKey, whenValue, shared, false, false, false, false, EquatableArray<ParameterInfo>.Empty);
        }

        var parameters = new List<ParameterInfo>();
        if (constructor is not null)
        {
            for (var i = 0; i < constructor.Parameters.Length; i++)
            {
                var parameter = constructor.Parameters[i];
                Binding binding;
                if (i < positional.Count && positional[i].Item >= 0)
                {
                    var provided = ProvidedType(positional[i].Item);
                    if (provided is not null && !Compilation.HasImplicitConversion(provided, parameter.Type))
                    {
                        Report(Diagnostics.TypeMismatch, positional[i].Location, ItemName(positional[i].Item), Display(provided), parameter.Name, Display(type), Display(parameter.Type));
                    }
                    binding = new Binding(BindingKind.Item, positional[i].Item);
                }
                else if (i < positional.Count)
                {
                    // The argument itself was wrong and is reported already; keep the code compiling.
                    binding = new Binding(BindingKind.Reported);
                }
                else if (constants is not null && constants.TryGetValue(parameter.Name, out var constant))
                {
                    binding = new Binding(BindingKind.Constant, Text: constant);
                }
                else if (givenItems.TryGetValue(parameter.Name, out var item))
                {
                    // A negative item is an argument that was wrong and is reported already.
                    binding = item >= 0 ? new Binding(BindingKind.Item, item) : new Binding(BindingKind.Reported);
                }
                else if (runtimeArguments.FirstOrDefault(a => a.Parameter == parameter.Name) is { } argument)
                {
                    binding = new Binding(BindingKind.RuntimeArgument, Text: argument.Name);
                }
                else if (crunch && i == 0)
                {
                    binding = new Binding(BindingKind.CrunchTable);
                }
                else if (IsWiredByType(parameter.Type))
                {
                    binding = new Binding(BindingKind.ByType);
                    owner.Pending.Add((parameters.Count, parameter.Type, isCatalogue));
                }
                else
                {
                    binding = new Binding(BindingKind.Missing);
                }
                parameters.Add(new ParameterInfo(parameter.Name, Display(parameter.Type), binding));
            }
        }
        var implementsStartable = KnownSymbols.Implements(type, Known.Startable);
        var disposable = KnownSymbols.Implements(type, Known.Disposable);
        var asyncDisposable = KnownSymbols.Implements(type, Known.AsyncDisposable);
        return new ImplementationInfo(targets.ToEquatableArray(), FullName(type), Display(type), whenKey, whenValue, shared, constructor is not null, implementsStartable, disposable, asyncDisposable, parameters.ToEquatableArray())
        {
            SystemCalls = Sealing.Read(type, Known),
        };
    }

    /// <summary>
    /// The public constructor with the most parameters that can all be given (<paramref name="canBind"/>); if none can,
    /// the one with the most parameters (its missing ones are reported). So a type with a parameterless constructor and
    /// one taking a value (VirtualClock(DateTimeOffset epoch)) is built with the parameterless one.
    /// </summary>
    private static IMethodSymbol? PickConstructor(INamedTypeSymbol type, Func<IParameterSymbol, int, bool> canBind)
    {
        var constructors = type.InstanceConstructors
            .Where(c => c.DeclaredAccessibility == Accessibility.Public && !c.IsStatic)
            .OrderByDescending(c => c.Parameters.Length)
            .ToList();
        return constructors.FirstOrDefault(c => c.Parameters.Select((p, i) => canBind(p, i)).All(b => b)) ?? constructors.FirstOrDefault();
    }

    /// <summary>Parameters of interface or class type are wired by type (see <see cref="WireByType"/>).</summary>
    private static bool IsWiredByType(ITypeSymbol type) =>
        type.SpecialType == SpecialType.None && type.TypeKind is TypeKind.Interface or TypeKind.Class;

    private Draft NewDraft(ItemKind kind, string name, string label, ITypeSymbol provided, LocationInfo? location)
    {
        var draft = new Draft(_items.Count, kind, name, label, provided, location);
        _items.Add(draft);
        return draft;
    }

    private static string CamelCase(string name) => name.Length == 0 ? name : char.ToLowerInvariant(name[0]) + name.Substring(1);

    // ---- finishing ---------------------------------------------------------------------------------------------------

    public ConfigModel Build(string @namespace, string className, string name, LocationInfo? location, string sourceKind)
    {
        WireByType();
        CheckDuplicateNames();
        var items = _items.Select(d => d.ToInfo()).ToEquatableArray();
        var catalogue = Known.Catalogue;
        return new ConfigModel(@namespace, className, name, location, items, _jobs.ToEquatableArray(), _keys.ToEquatableArray(), _diagnostics.ToEquatableArray(), sourceKind,
            catalogue.Targets.ToEquatableArray(), catalogue.Nets.ToEquatableArray(), catalogue.Providers);
    }

    /// <summary>Fills every by-type binding with its candidates (top-level items that provide the type) and a catalogue default.</summary>
    private void WireByType()
    {
        for (var index = 0; index < _items.Count; index++)
        {
            var draft = _items[index];
            foreach (var (parameterIndex, type, isCatalogue) in draft.Pending.ToList())
            {
                var candidates = _items
                    .Where(o => o.IsTopLevel && o.Id != draft.Id && o.Kind != ItemKind.Argument && Compilation.HasImplicitConversion(o.Provided, type))
                    .Select(o => o.Id)
                    .ToEquatableArray();
                var defaultId = -1;
                if (candidates.Length == 0 && isCatalogue)
                {
                    defaultId = ImplicitDefault(type, draft.Location);
                }
                draft.SetByType(parameterIndex, type, candidates, defaultId);
            }
            draft.Pending.Clear();
        }
    }

    private int ImplicitDefault(ITypeSymbol type, LocationInfo? location)
    {
        var entry = Catalogue.FirstOrDefault(e => e.IsDefault && SymbolEqualityComparer.Default.Equals(e.Interface, type));
        if (entry is null)
        {
            return -1;
        }
        if (!_implicitDefaults.TryGetValue(entry.Kind, out var id))
        {
            id = AddDevice(entry, new Dictionary<string, (int, LocationInfo?)>(), null, "", location, isImplicit: true);
            _implicitDefaults[entry.Kind] = id;
        }
        return id;
    }

    private void CheckDuplicateNames()
    {
        var seen = new Dictionary<string, Draft>(StringComparer.Ordinal);
        foreach (var draft in _items.Where(d => d.HasExplicitName))
        {
            if (draft.Kind == ItemKind.Argument && draft.Name is "help" or "describe")
            {
                // The generated parser has --help (and -h) and --describe built in.
                Report(Diagnostics.DuplicateName, draft.Location, "--" + draft.Name);
                continue;
            }
            var key = (draft.Kind == ItemKind.Argument ? "--" : "") + draft.Name;
            if (seen.ContainsKey(key))
            {
                // The fix renames this one to the first free name2, name3, ...
                var fresh = Enumerable.Range(2, 1000).Select(i => draft.Name + i.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    .First(n => !_items.Any(o => o.Name == n));
                _diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DuplicateName, draft.Location, draft.Kind == ItemKind.Argument ? "--" + draft.Name : draft.Name)
                    with { Fix = draft.Name + "|" + fresh });
            }
            else
            {
                seen[key] = draft;
            }
        }
    }

    /// <summary>Mutable state of an item while the configuration is read.</summary>
    private sealed class Draft(int id, ItemKind kind, string name, string label, ITypeSymbol provided, LocationInfo? location)
    {
        public int Id { get; } = id;
        public ItemKind Kind { get; } = kind;
        public string Name { get; set; } = name;
        public string Label { get; } = label;
        public ITypeSymbol Provided { get; } = provided;
        public LocationInfo? Location { get; } = location;
        public bool HasExplicitName { get; set; }
        public bool IsTopLevel { get; set; }
        public bool IsImplicit { get; set; }
        public bool IsCatalogue { get; set; }
        public string CrunchDirectory { get; set; } = "";
        public EquatableArray<CatalogueArgument> CatalogueArguments { get; set; } = EquatableArray<CatalogueArgument>.Empty;
        public ImplementationInfo[] Implementations { get; set; } = [];
        public string ArgumentType { get; set; } = "";
        public string DefaultCode { get; set; } = "";
        public string DefaultDisplay { get; set; } = "";
        public string Description { get; set; } = "";
        public string KeyName { get; set; } = "";
        public ChoiceCase[] Cases { get; set; } = [];
        public int OtherwiseId { get; set; } = -1;

        /// <summary>By-type parameters waiting for candidates: (parameter index, type, whether the owner is a catalogue device).</summary>
        public List<(int Parameter, ITypeSymbol Type, bool IsCatalogue)> Pending { get; } = [];

        public void SetByType(int parameterIndex, ITypeSymbol type, EquatableArray<int> candidates, int defaultId)
        {
            // Every implementation with a by-type parameter at this index and of this type gets the same wiring.
            for (var i = 0; i < Implementations.Length; i++)
            {
                var implementation = Implementations[i];
                if (parameterIndex >= implementation.Parameters.Length)
                {
                    continue;
                }
                var parameter = implementation.Parameters[parameterIndex];
                if (parameter.Binding.Kind != BindingKind.ByType || parameter.TypeDisplay != Display(type))
                {
                    continue;
                }
                var parameters = implementation.Parameters.Items.SetItem(parameterIndex, parameter with { Binding = new Binding(BindingKind.ByType, Candidates: candidates, DefaultItemId: defaultId) });
                Implementations[i] = implementation with { Parameters = new EquatableArray<ParameterInfo>(parameters) };
            }
        }

        public ItemInfo ToInfo() => Kind switch
        {
            ItemKind.Functor => new FunctorItem(Id, Name, Label, Display(Provided), Location, Implementations[0]),
            ItemKind.Argument => new ArgumentItem(Id, Name, Label, Display(Provided), Location, ArgumentType, DefaultCode, DefaultDisplay, Description),
            ItemKind.Choice => new ChoiceItem(Id, Name, Label, Display(Provided), Location, KeyName, Cases.ToEquatableArray(), OtherwiseId),
            _ => new DeviceItem(Id, Name, Label, Display(Provided), Location, IsImplicit, Implementations.ToEquatableArray(), CatalogueArguments, CrunchDirectory),
        };
    }
}
