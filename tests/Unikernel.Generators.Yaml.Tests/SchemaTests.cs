using System.Text.Json;
using Json.Schema;

namespace Unikernel.Generators.Yaml.Tests;

/// <summary>unikernel.yaml.schema.json is a valid draft 2020-12 schema, every example validates, and typos do not.</summary>
public sealed class SchemaTests
{
    private static readonly string s_schemaText = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "schema", "unikernel.yaml.schema.json"));
    private static readonly Lazy<JsonSchema> s_schema = new(() => JsonSchema.FromText(s_schemaText));

    [Fact]
    public void Schema_is_valid_against_the_draft_2020_12_meta_schema()
    {
        using var document = JsonDocument.Parse(s_schemaText);
        Assert.Equal("https://json-schema.org/draft/2020-12/schema", document.RootElement.GetProperty("$schema").GetString());
        var result = MetaSchemas.Draft202012.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, Errors(result));
        Assert.NotNull(s_schema.Value);
    }

    [Fact]
    public void Every_property_has_a_description()
    {
        using var document = JsonDocument.Parse(s_schemaText);
        var missing = new List<string>();
        Walk(document.RootElement, "#", missing);
        Assert.Empty(missing);

        static void Walk(JsonElement element, string path, List<string> missing)
        {
            if (element.ValueKind != JsonValueKind.Object)
            {
                return;
            }
            if (element.TryGetProperty("properties", out var properties))
            {
                foreach (var property in properties.EnumerateObject())
                {
                    if (property.Value.ValueKind == JsonValueKind.Object && !property.Value.TryGetProperty("description", out _) && !IsRestriction(path))
                    {
                        missing.Add(path + "/properties/" + property.Name);
                    }
                }
            }
            foreach (var child in element.EnumerateObject())
            {
                if (child.Value.ValueKind == JsonValueKind.Object)
                {
                    Walk(child.Value, path + "/" + child.Name, missing);
                }
                else if (child.Value.ValueKind == JsonValueKind.Array)
                {
                    var i = 0;
                    foreach (var item in child.Value.EnumerateArray())
                    {
                        Walk(item, path + "/" + child.Name + "/" + i++, missing);
                    }
                }
            }
        }

        // Conditional (if/then/else) subschemas only restrict properties described elsewhere.
        static bool IsRestriction(string path) => path.Contains("/if", StringComparison.Ordinal) || path.Contains("/then", StringComparison.Ordinal) || path.Contains("/else", StringComparison.Ordinal);
    }

    public static TheoryData<string> Examples()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "examples"), "unikernel.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(AppContext.BaseDirectory, file));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Example_validates(string relativePath)
    {
        AssertValid(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, relativePath)));
    }

    [Fact]
    public void There_is_at_least_one_yaml_example() => Assert.NotEmpty(Examples());

    [Fact]
    public void Every_form_of_the_equivalence_test_validates() => AssertValid(EquivalenceTests.RichYaml);

    [Fact]
    public void A_device_of_the_projects_own_validates_by_its_qualified_kind()
    {
        AssertValid(UserDeviceTests.Yaml);
        AssertValid(UserDeviceTests.Yaml.Replace("{ kind: acme.greeter }", "{ kind: acme.greeter, greeting: hi, other: { kind: console } }", StringComparison.Ordinal));
    }

    /// <summary>
    /// The schema's enums are the catalogue's, as the generator reads it: the device kinds, the targets (wherever a
    /// condition or case names one) and the net choices. A new device kind, target or net fails here until the schema has it.
    /// </summary>
    [Fact]
    public void The_schema_and_the_catalogue_agree()
    {
        var catalogue = KnownSymbols.For(Harness.Compilation(("/project/Empty.cs", "static class Empty { static void Main() { } }"))).Catalogue;
        Assert.Empty(catalogue.Problems);
        using var document = JsonDocument.Parse(s_schemaText);
        var enums = new List<(string Path, string[] Values)>();
        Collect(document.RootElement, "#", enums);

        var kinds = enums.Where(e => e.Path.EndsWith("/device/properties/kind/anyOf/0/enum", StringComparison.Ordinal)).ToList();
        Assert.Single(kinds);
        Assert.Equal(catalogue.Entries.Select(e => e.Kind).Order(StringComparer.Ordinal), kinds[0].Values.Order(StringComparer.Ordinal));

        // Every enum that names a target names them all; likewise the nets. The if: and match: forms each have one.
        var targets = enums.Where(e => e.Values.Intersect(catalogue.TargetNames).Any()).ToList();
        Assert.True(targets.Count >= 2, "the schema lists the targets for if: and for match:");
        Assert.All(targets, e => Assert.Equal(catalogue.TargetNames, e.Values));
        var nets = enums.Where(e => e.Values.Intersect(catalogue.Nets).Any()).ToList();
        Assert.True(nets.Count >= 2, "the schema lists the nets for if: and for match:");
        Assert.All(nets, e => Assert.Equal(catalogue.Nets, e.Values));
        // The built-in keys are the two the catalogue's choices use.
        var keys = enums.Single(e => e.Values.Contains("target") && e.Values.Contains("net"));
        Assert.Equal(["target", "net"], keys.Values);

        // Every device option ([Option]) is a field of its kind, with the catalogue's range or values and default.
        var allOf = document.RootElement.GetProperty("$defs").GetProperty("device").GetProperty("allOf").EnumerateArray().ToList();
        var optionEntries = catalogue.Entries.Where(e => e.Options.Count > 0).ToList();
        Assert.Contains(optionEntries, e => e.Kind == "tcp");
        foreach (var entry in optionEntries)
        {
            var block = allOf.Single(b => b.GetProperty("if").GetProperty("properties").GetProperty("kind").TryGetProperty("const", out var k) && k.GetString() == entry.Kind);
            var fields = block.GetProperty("then").GetProperty("properties");
            Assert.Equal(entry.Options.Select(o => o.Name).Order(StringComparer.Ordinal), fields.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
            foreach (var option in entry.Options)
            {
                var field = fields.GetProperty(option.Name);
                Assert.Equal(option.DefaultCode, field.GetProperty("default").ValueKind == JsonValueKind.String ? "\"" + field.GetProperty("default").GetString() + "\"" : field.GetProperty("default").GetRawText());
                if (option.Kind is "int" or "long")
                {
                    Assert.Equal(option.Min, field.GetProperty("minimum").GetInt64());
                    Assert.Equal(option.Max, field.GetProperty("maximum").GetInt64());
                }
                else if (option.Values.Length > 0)
                {
                    Assert.Equal(option.Values, field.GetProperty("enum").EnumerateArray().Select(v => v.GetString()));
                }
            }
        }

        static void Collect(JsonElement element, string path, List<(string, string[])> enums)
        {
            if (element.ValueKind == JsonValueKind.Object)
            {
                foreach (var child in element.EnumerateObject())
                {
                    if (child.Name == "enum" && child.Value.ValueKind == JsonValueKind.Array)
                    {
                        enums.Add((path + "/enum", [.. child.Value.EnumerateArray().Select(v => v.GetString() ?? "")]));
                    }
                    else
                    {
                        Collect(child.Value, path + "/" + child.Name, enums);
                    }
                }
            }
            else if (element.ValueKind == JsonValueKind.Array)
            {
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    Collect(item, path + "/" + i++, enums);
                }
            }
        }
    }

    public static TheoryData<string, string> Invalid => new()
    {
        { "typo at the top", "name: a\nclass: A.B\njobs: { j: { type: A.J } }\ndevcies: {}\n" },
        { "typo in a device", "name: a\nclass: A.B\ndevices: { c: { knd: console } }\njobs: { j: { type: A.J } }\n" },
        { "unknown kind", "name: a\nclass: A.B\ndevices: { c: { kind: consol } }\njobs: { j: { type: A.J } }\n" },
        { "crunch without directory", "name: a\nclass: A.B\ndevices: { c: { kind: crunch } }\njobs: { j: { type: A.J } }\n" },
        { "negative tcp buffer", "name: a\nclass: A.B\ndevices: { t: { kind: tcp, sendBuffer: -1 } }\njobs: { j: { type: A.J } }\n" },
        { "unknown congestion controller", "name: a\nclass: A.B\ndevices: { t: { kind: tcp, congestionControl: bbr } }\njobs: { j: { type: A.J } }\n" },
        { "tcp field on a console", "name: a\nclass: A.B\ndevices: { c: { kind: console, sendBuffer: 4096 } }\njobs: { j: { type: A.J } }\n" },
        { "tcp on a socket stack", "name: a\nclass: A.B\ndevices: { s: { kind: socket-stack, tcp: { kind: tcp } } }\njobs: { j: { type: A.J } }\n" },
        { "directory field on a console", "name: a\nclass: A.B\ndevices: { c: { kind: console, directory: x } }\njobs: { j: { type: A.J } }\n" },
        { "directory without root", "name: a\nclass: A.B\ndevices: { c: { kind: directory } }\njobs: { j: { type: A.J } }\n" },
        { "kind and type", "name: a\nclass: A.B\ndevices: { c: { kind: console, type: A.C } }\njobs: { j: { type: A.J } }\n" },
        { "int argument with a string default", "name: a\nclass: A.B\narguments: { n: { type: int, default: three } }\njobs: { j: { type: A.J } }\n" },
        { "unknown argument type", "name: a\nclass: A.B\narguments: { n: { type: integer } }\njobs: { j: { type: A.J } }\n" },
        { "unknown target", "name: a\nclass: A.B\ndevices: { c: { if: { key: target, is: linux }, then: x, else: y } }\njobs: { j: { type: A.J } }\n" },
        { "match case on an unknown target", "name: a\nclass: A.B\ndevices: { c: { match: target, cases: { linux: x }, otherwise: y } }\njobs: { j: { type: A.J } }\n" },
        { "no jobs", "name: a\nclass: A.B\n" },
        { "class is not a name", "name: a\nclass: 'A B'\njobs: { j: { type: A.J } }\n" },
        { "target declared as a key", "name: a\nclass: A.B\nkeys: { target: unix }\njobs: { j: { type: A.J } }\n" },
        { "name on a named device", "name: a\nclass: A.B\ndevices: { c: { kind: console, name: log } }\njobs: { j: { type: A.J } }\n" },
        { "args is not a list", "name: a\nclass: A.B\njobs: { j: { type: A.J, args: console } }\n" },
        { "a project kind with a list for a field", "name: a\nclass: A.B\ndevices: { g: { kind: acme.greeter, greeting: [1] } }\njobs: { j: { type: A.J } }\n" },
        { "a project kind that is not qualified", "name: a\nclass: A.B\ndevices: { g: { kind: greeter } }\njobs: { j: { type: A.J } }\n" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Mistakes_do_not_validate(string what, string yaml)
    {
        var result = s_schema.Value.Evaluate(ToElement(yaml), new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.False(result.IsValid, what);
    }

    internal static void AssertValid(string yaml)
    {
        var result = s_schema.Value.Evaluate(ToElement(yaml), new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, Errors(result));
    }

    private static JsonElement ToElement(string yaml) => JsonDocument.Parse(YamlJson.Convert(yaml)!.ToJsonString()).RootElement;

    private static string Errors(EvaluationResults result) =>
        string.Join("\n", (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} ({d.EvaluationPath}): {e.Key}: {e.Value}")));
}
