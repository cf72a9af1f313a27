using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Unikernel.Generators.Editor.Tests;

/// <summary>
/// yaml-language-server 2.0.0 (npm, installed into the test's own folder) with unikernel.yaml.schema.json: completion at
/// a new device or job entry offers the entry's properties, conditional on kind, with their descriptions, and nothing
/// invalid or internal.
/// </summary>
public sealed class YamlLanguageServerTests(ITestOutputHelper output)
{
    private const string Head = "name: hello\nclass: HelloAppliance.HelloConfig\narguments:\n  ticks: { type: int, default: 3 }\n";

    [Fact]
    public async Task Completion_offers_each_entry_its_properties_by_kind()
    {
        Scratch.RequireTool("node", "nodejs");
        Scratch.RequireTool("npm", "npm");
        using var scratch = new Scratch("hello-yaml", "hello");
        var prefix = Path.Combine(scratch.Root, "yls");
        Directory.CreateDirectory(prefix);
        Scratch.Run("npm", $"install --no-audit --no-fund --no-save --prefix \"{prefix}\" yaml-language-server@2.0.0", prefix, TimeSpan.FromMinutes(4));
        var schema = new Uri(Path.Combine(Scratch.RepositoryRoot, "unikernel.yaml.schema.json")).AbsoluteUri;

        var settings = new JsonObject { ["yaml"] = new JsonObject { ["validate"] = true, ["completion"] = true, ["hover"] = true, ["schemaStore"] = new JsonObject { ["enable"] = false } } };
        using var server = new LspClient("node", $"\"{Path.Combine(prefix, "node_modules", "yaml-language-server", "bin", "yaml-language-server")}\" --stdio", scratch.Project, settings);
        var rootUri = new Uri(scratch.Project + "/").AbsoluteUri;
        await server.Request("initialize", new JsonObject
        {
            ["processId"] = Environment.ProcessId,
            ["rootUri"] = rootUri,
            ["capabilities"] = new JsonObject
            {
                ["workspace"] = new JsonObject { ["configuration"] = true },
                ["textDocument"] = new JsonObject
                {
                    ["completion"] = new JsonObject { ["completionItem"] = new JsonObject { ["snippetSupport"] = false, ["documentationFormat"] = new JsonArray("markdown", "plaintext") } },
                },
            },
        }, TimeSpan.FromMinutes(1));
        server.Notify("initialized", new JsonObject());
        server.Notify("workspace/didChangeConfiguration", new JsonObject { ["settings"] = settings.DeepClone() });

        var uri = new Uri(Path.Combine(scratch.Project, "unikernel.yaml")).AbsoluteUri;
        var version = 0;
        async Task<JsonArray> Complete(string text, string cursorMarker)
        {
            var document = "# yaml-language-server: $schema=" + schema + "\n" + text;
            var at = document.IndexOf(cursorMarker, StringComparison.Ordinal);
            Assert.True(at >= 0, cursorMarker);
            document = document.Remove(at, cursorMarker.Length);
            var line = document[..at].Count(c => c == '\n');
            var column = at - (document.LastIndexOf('\n', at - 1) + 1);
            if (version == 0)
            {
                server.Notify("textDocument/didOpen", new JsonObject { ["textDocument"] = new JsonObject { ["uri"] = uri, ["languageId"] = "yaml", ["version"] = ++version, ["text"] = document } });
            }
            else
            {
                server.Notify("textDocument/didChange", new JsonObject
                {
                    ["textDocument"] = new JsonObject { ["uri"] = uri, ["version"] = ++version },
                    ["contentChanges"] = new JsonArray(new JsonObject { ["text"] = document }),
                });
            }
            var result = await server.Request("textDocument/completion", new JsonObject
            {
                ["textDocument"] = new JsonObject { ["uri"] = uri },
                ["position"] = new JsonObject { ["line"] = line, ["character"] = column },
            }, TimeSpan.FromSeconds(60));
            var items = (result as JsonArray) ?? result?["items"]?.AsArray() ?? [];
            output.WriteLine($"{cursorMarker.Trim()} {string.Join(", ", items.Select(Label))}");
            return items;
        }

        // A new device entry: the four forms, each described; not 'name' (a named entry is named by its key), nor any
        // field of one form only.
        var entry = await Complete(Head + "devices:\n  store:\n    @\njobs:\n  hello: { type: HelloAppliance.Hello }\n", "@");
        AssertOffers(entry, ["kind", "type", "if", "match"], ["name", "directory", "root", "network", "args", "then", "cases"]);

        // After kind: crunch, its directory; not the fields of other kinds.
        var crunch = await Complete(Head + "devices:\n  store:\n    kind: crunch\n    @\njobs:\n  hello: { type: HelloAppliance.Hello }\n", "@");
        AssertOffers(crunch, ["directory"], ["root", "network", "name", "type", "args", "if", "match"]);

        // After kind: direct-stack, its network.
        var direct = await Complete(Head + "devices:\n  stack:\n    kind: direct-stack\n    @\njobs:\n  hello: { type: HelloAppliance.Hello }\n", "@");
        AssertOffers(direct, ["network"], ["root", "directory", "name"]);

        // A new job entry: a class with its args (a job is usually type + args).
        var job = await Complete(Head + "jobs:\n  hello:\n    type: HelloAppliance.Hello\n    @\n", "@");
        AssertOffers(job, ["args"], ["kind", "name", "directory", "if", "match"]);

        // The value of is: for the target key: targets only.
        var target = await Complete(Head + "devices:\n  out:\n    if:\n      key: target\n      is: @\n    then: { kind: console }\n    else: { kind: console }\njobs:\n  hello: { type: HelloAppliance.Hello }\n", "@");
        var targets = target.Select(Label).ToList();
        Assert.Contains("unix", targets);
        Assert.Contains("test", targets);
        Assert.DoesNotContain("direct", targets);
        Assert.DoesNotContain("socket", targets);

        // An args: entry: no schema-internal names, no names taken from the schema's examples.
        var args = await Complete(Head + "devices:\n  console: { kind: console }\njobs:\n  hello:\n    type: HelloAppliance.Hello\n    args:\n      - @\n", "@");
        foreach (var label in args.Select(Label))
        {
            Assert.DoesNotContain(label, new[] { "device", "functor", "ifChoice", "matchChoice", "item", "reference", "namedItem", "loopback", "sockets", "memory", "disk", "time", "ticks" });
        }
    }

    private static string Label(JsonNode? item) => item?["label"]?.GetValue<string>() ?? "";

    private static void AssertOffers(JsonArray items, string[] expected, string[] forbidden)
    {
        var labels = items.Select(Label).ToList();
        foreach (var label in expected)
        {
            var item = items.FirstOrDefault(i => Label(i) == label);
            Assert.True(item is not null, $"'{label}' not offered; offered: {string.Join(", ", labels)}");
            var documentation = item!["documentation"] is JsonObject markup ? markup["value"]?.GetValue<string>() : item["documentation"]?.GetValue<string>();
            Assert.False(string.IsNullOrWhiteSpace(documentation), $"'{label}' has no description");
        }
        foreach (var label in forbidden)
        {
            Assert.True(!labels.Contains(label), $"'{label}' offered where it is invalid; offered: {string.Join(", ", labels)}");
        }
    }
}
