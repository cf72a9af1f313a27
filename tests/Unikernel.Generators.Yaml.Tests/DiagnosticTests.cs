using System.Text;
using Microsoft.CodeAnalysis;

namespace Unikernel.Generators.Yaml.Tests;

/// <summary>A corpus of bad unikernel.yaml: each yields its diagnostic at the right line and column, and nothing throws or hangs.</summary>
public sealed class DiagnosticTests
{
    private const string Types = """
        using System.Threading;
        using System.Threading.Tasks;
        using Unikernel.Devices;

        namespace T;

        public sealed class Hello(IConsole console, ITime time, int ticks) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) { _ = (console, time, ticks); return Job.CompletedJob; }
        }

        public sealed class Loop(object other)
        {
            public object Other => other;
        }

        public sealed class Serve(IKeyValueStore store) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) { _ = store; return Job.CompletedJob; }
        }

        public abstract class Abstract
        {
        }
        """;

    private const string Head = "name: hello\nclass: T.HelloConfig\n";

    private const string Good = Head + """
        arguments:
          ticks: { type: int, default: 3 }
        devices:
          console: { kind: console }
          time: { kind: time }
        jobs:
          hello: { type: T.Hello, args: [console, time, ticks] }

        """;

    /// <summary>Where a diagnostic must start: the marker is removed from the YAML, its line and column are expected.</summary>
    private const string At = "⟦";

    /// <summary>(what, yaml with the marker, expected ID, text the message contains).</summary>
    public static TheoryData<string, string, string, string> Corpus => new()
    {
        // YAML itself
        { "unclosed flow mapping", Head + "devices: { console: { kind: console⟦ }\njobs: {}\n", "UK1001", "unclosed" },
        { "bad indentation", Head + "devices:\n  console:\n    kind: console\n   ⟦time: { kind: time }\n", "UK1001", "" },
        { "tab indentation", Head + "devices:\n⟦\tconsole: { kind: console }\n", "UK1001", "tab" },
        { "empty file", "⟦", "UK1001", "empty" },
        { "two documents", Good + "⟦---\nname: other\n", "UK1001", "more than one document" },
        { "duplicate key", Head + "devices:\n  console: { kind: console }\n  ⟦console: { kind: console }\njobs: {}\n", "UK1008", "'console'" },
        { "duplicate top-level key", Head + "⟦name: again\njobs: {}\n", "UK1008", "'name'" },
        { "alias", Head + "devices:\n  console: &c { kind: console }\n  other: ⟦*c\njobs: {}\n", "UK1009", "*c" },
        { "billion laughs", Head + "x0: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\nx1: &b [⟦*a, *a, *a, *a, *a, *a, *a, *a, *a]\nx2: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nx3: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n", "UK1009", "*a" },
        { "complex key", Head + "? ⟦[a, b]\n: c\njobs: {}\n", "UK1003", "plain name" },

        // The shape of the document
        { "root is a list", "⟦- a\n- b\n", "UK1003", "a mapping" },
        { "unknown top-level field", Good + "⟦devcies: {}\n", "UK1002", "did you mean 'devices'" },
        { "missing class", "⟦name: hello\njobs: {}\n", "UK1004", "'class'" },
        { "missing jobs", "⟦" + Head + "devices: { console: { kind: console } }\n", "UK1004", "'jobs'" },
        { "class not a C# name", "name: hello\nclass: ⟦T.Hello Config\njobs: {}\n", "UK1011", "class name" },
        { "devices is a list", Head + "devices: ⟦[console, time]\njobs: {}\n", "UK1003", "a mapping" },
        { "typo of kind", Good.Replace("console: { kind: console }", "console: { ⟦knd: console }", StringComparison.Ordinal), "UK1002", "did you mean 'kind'" },
        { "unknown device field", Good.Replace("time: { kind: time }", "time: { kind: time, ⟦drectory: x }", StringComparison.Ordinal), "UK1002", "allowed fields: kind" },
        { "unknown kind", Good.Replace("console: { kind: console }", "console: { kind: ⟦consol }", StringComparison.Ordinal), "UK1005", "did you mean 'console'" },
        { "kind is a list", Good.Replace("console: { kind: console }", "console: { kind: ⟦[console] }", StringComparison.Ordinal), "UK1003", "a string" },
        { "name on a named device", Good.Replace("console: { kind: console }", "console: { kind: console, ⟦name: log }", StringComparison.Ordinal), "UK1002", "allowed fields: kind" },
        { "kind and type", Good.Replace("console: { kind: console }", "console: { kind: console, ⟦type: T.Hello }", StringComparison.Ordinal), "UK1011", "both 'kind' and 'type'" },
        { "crunch without directory", Head + "devices:\n  ⟦data: { kind: crunch }\njobs: { serve: { type: T.Serve, args: [data] } }\n", "UK1004", "'directory'" },
        { "int default not an int", Good.Replace("default: 3", "default: ⟦three", StringComparison.Ordinal), "UK1003", "an int" },
        { "quoted int default", Good.Replace("default: 3", "default: ⟦\"3\"", StringComparison.Ordinal), "UK1003", "an int" },
        { "unknown argument type", Good.Replace("type: int", "type: ⟦itn", StringComparison.Ordinal), "UK1011", "did you mean 'int'" },
        { "argument is a scalar", Good.Replace("ticks: { type: int, default: 3 }", "ticks: ⟦3", StringComparison.Ordinal), "UK1003", "a mapping" },
        { "args is a scalar", Good.Replace("args: [console, time, ticks]", "args: ⟦console", StringComparison.Ordinal), "UK1003", "a list" },

        // Names and types
        { "unknown functor type", Good.Replace("type: T.Hello", "type: ⟦T.Helo", StringComparison.Ordinal), "UK1006", "did you mean 'T.Hello'" },
        { "functor type without namespace", Good.Replace("type: T.Hello", "type: ⟦Hello", StringComparison.Ordinal), "UK1006", "did you mean 'T.Hello'" },
        { "abstract functor type", Good.Replace("type: T.Hello", "type: ⟦T.Abstract", StringComparison.Ordinal), "UK1012", "non-abstract" },
        { "unknown reference", Good.Replace("[console, time, ticks]", "[console, ⟦tme, ticks]", StringComparison.Ordinal), "UK1007", "did you mean 'time'" },
        { "job that is not a job", Head + "devices: { console: { kind: console } }\njobs:\n  ⟦console2: { kind: console }\n", "UK1012", "not a job" },
        { "undeclared key", Head + "devices:\n  store:\n    match: ⟦mode\n    otherwise: { kind: crunch, directory: d }\njobs: { serve: { type: T.Serve, args: [store] } }\n", "UK1013", "'mode'" },
        { "unknown target in if", Head + "devices:\n  c:\n    if: { key: target, is: ⟦linux }\n    then: { kind: console }\n    else: { kind: console }\njobs: {}\n", "UK1011", "'linux' is not a target" },
        { "built-in key declared", Head + "keys: { ⟦target: unix }\njobs: {}\n", "UK1011", "built-in" },

        // The wiring diagnostics of config.cs, located in the YAML
        { "reference cycle", Head + "devices:\n  a: { type: T.Loop, args: [b] }\n  b: { type: T.Loop, args: [⟦a] }\njobs: { hello: { type: T.Hello, args: [{ kind: console }, { kind: time }, a] } }\n", "UK0003", "a -> b -> a" },
        { "type mismatch", Good.Replace("[console, time, ticks]", "[⟦time, console, ticks]", StringComparison.Ordinal), "UK0002", "'time'" },
        { "missing argument", Good.Replace("  hello: { type: T.Hello, args: [console, time, ticks] }", "  ⟦hello: { type: T.Hello, args: [console] }", StringComparison.Ordinal), "UK0001", "'ticks'" },
        { "name used twice", Good.Replace("devices:\n", "devices:\n  ⟦ticks: { kind: random }\n", StringComparison.Ordinal), "UK0005", "'ticks'" },
        { "ambiguous by-type wiring", Good.Replace("  hello: { type: T.Hello, args: [console, time, ticks] }", "  ⟦hello: { type: T.Hello, args: [console] }", StringComparison.Ordinal).Replace("  time: { kind: time }\n", "  time: { kind: time }\n  time2: { kind: time }\n", StringComparison.Ordinal), "UK0012", "time, time2" },
        { "device not on the target", Head + "arguments: { root: { type: string } }\ndevices:\n  ⟦files: { kind: directory, root: root }\njobs: { serve: { type: T.Serve, args: [files] } }\n", "UK0004", "target 'test'" },
        { "no jobs", "⟦" + Head + "jobs: {}\n", "UK0007", "'hello'" },
        { "negative tcp buffer", Good.Replace("devices:\n", "devices:\n  tcp: { kind: tcp, sendBuffer: ⟦-1 }\n", StringComparison.Ordinal), "UK0022", "-1 is out of range: give a whole number from 4096 to 1073741824" },
        { "tcp buffer not a number", Good.Replace("devices:\n", "devices:\n  tcp: { kind: tcp, receiveBuffer: ⟦big }\n", StringComparison.Ordinal), "UK0022", "give a whole number from 4096" },
        { "unknown congestion controller", Good.Replace("devices:\n", "devices:\n  tcp:\n    kind: tcp\n    congestionControl: ⟦bbr\n", StringComparison.Ordinal), "UK0022", "'bbr' is not one of its values: give one of: cubic, newreno" },
        { "inline tcp of a stack", Good.Replace("devices:\n", "devices:\n  stack: { kind: stack, tcp: { kind: tcp, nagle: ⟦maybe } }\n", StringComparison.Ordinal), "UK0022", "give one of: auto, on, off" },
        { "too many constructor arguments", Good.Replace("[console, time, ticks]", "[console, time, ticks, ⟦ticks]", StringComparison.Ordinal), "UK0013", "takes 3" },
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public void Bad_yaml_is_reported_at_its_line_and_column(string what, string marked, string id, string message)
    {
        var index = marked.IndexOf(At, StringComparison.Ordinal);
        Assert.True(index >= 0, "the case marks where its diagnostic starts");
        var yaml = marked.Remove(index, At.Length);
        var line = marked.Take(index).Count(c => c == '\n') + 1;
        var lineStart = index == 0 ? 0 : marked.LastIndexOf('\n', index - 1) + 1;
        var column = index - lineStart + 1;
        var result = Harness.Run(yaml, [("/project/Types.cs", Types)], target: what == "device not on the target" ? "test" : "unix");
        var found = result.Diagnostics.Where(d => d.Id == id).ToList();
        Assert.True(found.Count > 0, $"{what}: expected {id}, got: {string.Join("; ", result.Diagnostics)}");
        var diagnostic = found[0];
        var span = diagnostic.Location.GetLineSpan();
        Assert.Equal(Harness.YamlPath, span.Path);
        Assert.True((line, column) == (span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1), $"{what}: expected {id} at ({line},{column}), got {diagnostic}");
        Assert.Equal(index, diagnostic.Location.SourceSpan.Start);
        // A range an editor can underline: never zero-width (an empty file has nothing to underline).
        Assert.True(yaml.Length == 0 || !diagnostic.Location.SourceSpan.IsEmpty, $"{what}: zero-width range {diagnostic.Location}");
        // YAML advice: nothing of config.cs's DSL in a message about unikernel.yaml.
        Assert.DoesNotContain("c.", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture).Replace("e.g.", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains(message, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        // An absolute help link into the repository's docs (UK1xxx: the YAML page; shared UK0xxx: config.cs's page).
        Assert.Equal(
            "https://github.com/unikernel-dotnet/unikernel/blob/main/docs/" + (id.StartsWith("UK1", StringComparison.Ordinal) ? "diagnostics-yaml.md#" : "diagnostics.md#") + id.ToLowerInvariant(),
            diagnostic.Descriptor.HelpLinkUri);
        // Errors stop the wiring: the entry point only reports them.
        Assert.Contains("return 70;", result.Source(".Unikernel.g.cs"), StringComparison.Ordinal);
    }

    [Fact]
    public void The_good_document_has_no_diagnostics_and_compiles()
    {
        var result = Harness.Run(Good, [("/project/Types.cs", Types)]);
        Assert.Empty(result.Diagnostics);
        Assert.Empty(result.CompilerErrors);
    }

    public static TheoryData<string, string, string> Hostile => new()
    {
        { "over a megabyte", Good + "# " + new string('x', 1024 * 1024) + "\n", "UK1010" },
        { "deeply nested flow", Head + "jobs: " + new string('[', 100_000) + new string(']', 100_000) + "\n", "UK1010" },
        { "deeply nested blocks", Head + string.Concat(Enumerable.Range(0, 200).Select(i => new string(' ', i) + "k" + i + ":\n")), "UK1010" },
        { "unclosed flow nesting", Head + "jobs: " + new string('{', 50_000) + "\n", "UK1010" },
        { "unclosed shallow flow", Head + "jobs: {{{{\n", "UK1001" },
        { "many nodes", Head + "devices:\n" + string.Concat(Enumerable.Range(0, 15_000).Select(i => $"  d{i}: {{ kind: console }}\n")), "UK1010" },
        { "long chain of references", Head + "devices:\n" + string.Concat(Enumerable.Range(0, 2_000).Select(i => $"  d{i}: {{ type: T.Loop, args: [d{i + 1}] }}\n")) + "  d2000: { kind: console }\njobs: { hello: { type: T.Hello, args: [{ kind: console }, { kind: time }, d0] } }\n", "UK1010" },
        { "long scalar", Head + "name2: " + new string('y', 900_000) + "\n", "UK1002" },
        { "many errors", Head + string.Concat(Enumerable.Range(0, 5_000).Select(i => $"bad{i}: 1\n")), "UK1002" },
        { "control characters", Head + "devices: { c: { kind: \u0001 } }\n", "UK1005" },
        { "binary", Encoding.Latin1.GetString(Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919 % 256)).ToArray()), "UK1001" },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Hostile_documents_are_refused_quickly(string what, string yaml, string id)
    {
        var result = Harness.Run(yaml, [("/project/Types.cs", Types)], seconds: 30);
        Assert.True(result.Ids.Contains(id), $"{what}: expected {id}, got: {string.Join("; ", result.Diagnostics.Take(5))}");
        Assert.True(result.Diagnostics.Length <= 60, $"{what}: {result.Diagnostics.Length} diagnostics");
    }

    [Fact]
    public void Mutated_documents_never_crash_the_generator()
    {
        // Deterministic "fuzzing": delete, duplicate or insert characters of a valid document (and of the rich one).
        var random = new Random(4);
        const string alphabet = ":-[]{},&*!|>'\"#? \n\tak0";
        foreach (var seed in new[] { Good, EquivalenceTests.RichYaml })
        {
            for (var i = 0; i < 150; i++)
            {
                var text = new StringBuilder(seed);
                for (var edits = random.Next(1, 4); edits > 0; edits--)
                {
                    var at = random.Next(text.Length);
                    switch (random.Next(3))
                    {
                        case 0:
                            text.Remove(at, Math.Min(random.Next(1, 6), text.Length - at));
                            break;
                        case 1:
                            text.Insert(at, text.ToString(at, Math.Min(random.Next(1, 12), text.Length - at)));
                            break;
                        default:
                            text.Insert(at, alphabet[random.Next(alphabet.Length)]);
                            break;
                    }
                }
                var result = Harness.Run(text.ToString(), [("/project/Types.cs", Types)], seconds: 20);
                Assert.DoesNotContain(result.Diagnostics, d => d.Id is "UK0099" or "CS8785");
            }
        }
    }

    [Fact]
    public void Config_cs_and_unikernel_yaml_together_report_UK0017_once_in_the_yaml()
    {
        var config = """
            using Unikernel.Config;
            namespace T;
            [Unikernel("hello")]
            public static partial class HelloConfig
            {
                static void Configure(Configuration c) => c.Register(c.Main<Hello>(c.Console(), c.Time(), c.Argument("ticks", 3, "")));
            }
            """;
        var result = Harness.Run(Good.Replace("{ kind: time }", "{ kind: tme }", StringComparison.Ordinal), [("/project/Types.cs", Types), ("/project/config.cs", config)]);
        var both = Assert.Single(result.Diagnostics, d => d.Id == "UK0017");
        Assert.Equal(Harness.YamlPath, both.Location.GetLineSpan().Path);
        Assert.Contains("T.HelloConfig", both.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        // The YAML is not read further: its own mistakes are not reported on top.
        Assert.DoesNotContain(result.Diagnostics, d => d.Id.StartsWith("UK1", StringComparison.Ordinal));
        Assert.Single(result.RunResult.Results.Single().GeneratedSources, s => s.HintName.EndsWith(".Unikernel.g.cs", StringComparison.Ordinal));
    }

    [Fact]
    public void A_misspelled_section_is_one_diagnostic_not_a_cascade()
    {
        var result = Harness.Run(Good.Replace("devices:", "devcies:", StringComparison.Ordinal), [("/project/Types.cs", Types)]);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("UK1002", diagnostic.Id);
        Assert.Contains("did you mean 'devices'?", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public void One_item_with_several_mistakes_reports_the_first()
    {
        var result = Harness.Run(Good.Replace("args: [console, time, ticks]", "args: [consol, tme, ticks]", StringComparison.Ordinal), [("/project/Types.cs", Types)]);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("UK1007", diagnostic.Id);
        Assert.Contains("'consol'", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public void Wiring_advice_is_in_yaml_terms()
    {
        var result = Harness.Run(Good.Replace("  time: { kind: time }\n", "", StringComparison.Ordinal).Replace("[console, time, ticks]", "[console]", StringComparison.Ordinal), [("/project/Types.cs", Types)]);
        var messages = result.Diagnostics.Where(d => d.Id == "UK0001").Select(d => d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Contains(messages, m => m.Contains("add 'time: { kind: time }' under devices: or pass one in args:", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("declare it under arguments: (e.g. ticks: { type: int }) and pass it in args:", StringComparison.Ordinal));
        Assert.DoesNotContain(messages, m => m.Contains("c.", StringComparison.Ordinal));
    }
}
