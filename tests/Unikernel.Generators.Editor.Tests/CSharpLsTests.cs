using System.Diagnostics;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Unikernel.Generators.Editor.Tests;

/// <summary>
/// csharp-ls 0.28.0 (installed from NuGet into the test's own folder) opened on a throwaway copy of examples/hello:
/// wiring mistakes typed with didChange show up as UK diagnostics with their exact range, and go away when undone.
/// </summary>
public sealed class CSharpLsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_load = TimeSpan.FromMinutes(4);
    private static readonly TimeSpan s_edit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Wiring_mistakes_appear_live_with_their_range_and_disappear_when_undone()
    {
        using var scratch = new Scratch("hello");
        scratch.Prepare();
        var tools = Path.Combine(scratch.Root, "tools");
        Scratch.Run("dotnet", $"tool install --tool-path \"{tools}\" csharp-ls --version 0.28.0", scratch.Root, TimeSpan.FromMinutes(3));

        var settings = new JsonObject { ["csharp"] = new JsonObject { ["analyzersEnabled"] = true } };
        using var server = new LspClient(Path.Combine(tools, "csharp-ls"), "--loglevel info", scratch.Project, settings);
        var rootUri = new Uri(scratch.Project + "/").AbsoluteUri;
        await server.Request("initialize", new JsonObject
        {
            ["processId"] = Environment.ProcessId,
            ["rootUri"] = rootUri,
            ["workspaceFolders"] = new JsonArray(new JsonObject { ["uri"] = rootUri, ["name"] = "hello" }),
            ["capabilities"] = new JsonObject
            {
                ["workspace"] = new JsonObject { ["configuration"] = true, ["workspaceFolders"] = true },
                ["textDocument"] = new JsonObject
                {
                    ["synchronization"] = new JsonObject { ["dynamicRegistration"] = false },
                    ["diagnostic"] = new JsonObject { ["dynamicRegistration"] = false },
                    ["publishDiagnostics"] = new JsonObject(),
                },
            },
            // Analyzers are off by default in csharp-ls; the Editor set-up section of the README says to turn them on.
            ["initializationOptions"] = settings.DeepClone(),
        }, TimeSpan.FromMinutes(1));
        server.Notify("initialized", new JsonObject());
        server.Notify("workspace/didChangeConfiguration", new JsonObject { ["settings"] = settings.DeepClone() });

        var path = Path.Combine(scratch.Project, "config.cs");
        var uri = new Uri(path).AbsoluteUri;
        var original = File.ReadAllText(path);
        server.Notify("textDocument/didOpen", new JsonObject
        {
            ["textDocument"] = new JsonObject { ["uri"] = uri, ["languageId"] = "csharp", ["version"] = 1, ["text"] = original },
        });

        // The example as it is: no error at all (no spurious CS0012/CS0311 from a generator or dependency not loaded).
        var clean = await Pull(server, uri, items => true, s_load);
        Assert.True(Errors(clean.Items).Count == 0, "errors on the unchanged example: " + clean.Items.ToJsonString());

        var version = 1;
        var mistakes = new (string What, string From, string To, string Id, string Marked)[]
        {
            ("console passed where ITime is wanted", "c.Main<Hello>(console, time, ticks)", "c.Main<Hello>(console, console, ticks)", "UK0002", "console, console"),
            ("a statement that is not a declaration (lock)", "c.Register(", "lock (c) { }\n        c.Register(", "UK0008", "lock (c) { }"),
            ("two devices named alike", "var time = c.Time();", "var time = c.Time(\"console\");", "UK0005", "c.Time(\"console\")"),
        };
        foreach (var (what, from, to, id, marked) in mistakes)
        {
            Assert.Contains(from, original, StringComparison.Ordinal);
            var broken = original.Replace(from, to, StringComparison.Ordinal);
            // The expected range: the marked text (for UK0002 the second 'console' only), in LSP's line/UTF-16 column.
            var start = broken.IndexOf(marked, StringComparison.Ordinal) + (id == "UK0002" ? "console, ".Length : 0);
            var length = id == "UK0002" ? "console".Length : marked.Length;
            var expected = Range(broken, start, length);

            var sent = Stopwatch.StartNew();
            Change(server, uri, ++version, broken);
            var found = await Pull(server, uri, items => items.Any(d => Code(d) == id), s_edit);
            var appeared = sent.Elapsed;
            var diagnostic = found.Items.Single(d => Code(d) == id);
            Assert.True(expected == Range(diagnostic!), $"{what}: {id} expected at {expected}, got {diagnostic!.ToJsonString()}");
            Assert.StartsWith("https://", diagnostic!["codeDescription"]?["href"]?.GetValue<string>() ?? "https://(no codeDescription)", StringComparison.Ordinal);
            // Nothing else: one mistake, one diagnostic (the generator reports nothing of its own, nothing is doubled).
            Assert.True(Errors(found.Items).Count == 1, $"{what}: {found.Items.ToJsonString()}");

            sent.Restart();
            Change(server, uri, ++version, original);
            var fixedItems = await Pull(server, uri, items => !items.Any(d => (Code(d) ?? "").StartsWith("UK", StringComparison.Ordinal)), s_edit);
            var disappeared = sent.Elapsed;
            Assert.Empty(Errors(fixedItems.Items));
            output.WriteLine($"csharp-ls latency, {what}: edit -> {id} {appeared.TotalMilliseconds:F0} ms ({found.Polls} pulls); undo -> cleared {disappeared.TotalMilliseconds:F0} ms");
        }
    }

    private static void Change(LspClient server, string uri, int version, string text) =>
        server.Notify("textDocument/didChange", new JsonObject
        {
            ["textDocument"] = new JsonObject { ["uri"] = uri, ["version"] = version },
            ["contentChanges"] = new JsonArray(new JsonObject { ["text"] = text }),
        });

    /// <summary>Pulls the document's diagnostics until <paramref name="done"/> holds (bounded by <paramref name="timeout"/>).</summary>
    private static async Task<(JsonArray Items, int Polls)> Pull(LspClient server, string uri, Func<JsonArray, bool> done, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        JsonArray? items = null;
        var polls = 0;
        while (clock.Elapsed < timeout)
        {
            var remaining = timeout - clock.Elapsed;
            var report = await server.Request("textDocument/diagnostic", new JsonObject { ["textDocument"] = new JsonObject { ["uri"] = uri } }, remaining > TimeSpan.FromSeconds(1) ? remaining : TimeSpan.FromSeconds(1));
            polls++;
            items = report?["items"]?.AsArray() ?? [];
            if (done(items))
            {
                return ((JsonArray)items.DeepClone(), polls);
            }
            await Task.Delay(50);
        }
        Assert.Fail($"the diagnostics did not reach the expected state within {timeout.TotalSeconds} s; last: {items?.ToJsonString()}\n{server.Transcript[^Math.Min(4000, server.Transcript.Length)..]}");
        return default;
    }

    private static string? Code(JsonNode? diagnostic) => diagnostic?["code"]?.ToString();

    private static List<JsonNode?> Errors(JsonArray items) => [.. items.Where(d => d?["severity"]?.GetValue<int>() == 1)];

    private static (int, int, int, int) Range(JsonNode diagnostic)
    {
        var range = diagnostic["range"]!;
        return (range["start"]!["line"]!.GetValue<int>(), range["start"]!["character"]!.GetValue<int>(), range["end"]!["line"]!.GetValue<int>(), range["end"]!["character"]!.GetValue<int>());
    }

    private static (int, int, int, int) Range(string text, int start, int length)
    {
        (int Line, int Column) Position(int offset)
        {
            var line = text.Take(offset).Count(c => c == '\n');
            var lineStart = text.LastIndexOf('\n', Math.Max(0, offset - 1)) + 1;
            return (line, offset - (offset == 0 ? 0 : lineStart));
        }
        var (startLine, startColumn) = Position(start);
        var (endLine, endColumn) = Position(start + length);
        return (startLine, startColumn, endLine, endColumn);
    }
}
