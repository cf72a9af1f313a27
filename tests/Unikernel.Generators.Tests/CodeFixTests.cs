using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.Text;
using Unikernel.Generators.CodeFixes;
using static Unikernel.Generators.Tests.DiagnosticVerifier;

namespace Unikernel.Generators.Tests;

/// <summary>
/// The code fixes, in the Roslyn testing style: config.cs before, the fix the editor offers, config.cs after; then the
/// analyzer finds nothing left to report.
/// </summary>
public class CodeFixTests
{
    [Fact]
    public async Task UK0010_makes_the_class_partial()
    {
        await VerifyFix(
            """
            using Unikernel.Config;

            namespace App;

            [Unikernel("app")]
            public static class AppConfig
            {
                static void Configure(Configuration c) => c.Register(c.Main<Hello>(c.Console()));
            }
            """,
            """
            using Unikernel.Config;

            namespace App;

            [Unikernel("app")]
            public static partial class AppConfig
            {
                static void Configure(Configuration c) => c.Register(c.Main<Hello>(c.Console()));
            }
            """,
            "UK0010", "Make 'AppConfig' partial");
    }

    [Fact]
    public async Task UK0010_without_modifiers_keeps_the_layout()
    {
        await VerifyFix(
            "using Unikernel.Config;\nnamespace App;\n[Unikernel(\"app\")]\n    class AppConfig\n{\n    static void Configure(Configuration c) => c.Register(c.Main<Hello>(c.Console()));\n}\n",
            "using Unikernel.Config;\nnamespace App;\n[Unikernel(\"app\")]\n    partial class AppConfig\n{\n    static void Configure(Configuration c) => c.Register(c.Main<Hello>(c.Console()));\n}\n",
            "UK0010", "Make 'AppConfig' partial");
    }

    [Fact]
    public async Task UK0001_adds_the_missing_device_before_its_use()
    {
        await VerifyFix(
            InConfigure("""
                var console = c.Console();
                c.Register(c.Main<Server>(), c.Main<Hello>(console));
                """),
            InConfigure("""
                var console = c.Console();
                var stack = c.Stack();
                c.Register(c.Main<Server>(), c.Main<Hello>(console));
                """),
            "UK0001", "Add 'var stack = c.Stack();'");
    }

    [Fact]
    public async Task UK0001_uses_the_parameter_name_and_a_free_variable_name()
    {
        static string WithCfg(string source) => source.Replace("Configuration c)", "Configuration cfg)", StringComparison.Ordinal).Replace("c.", "cfg.", StringComparison.Ordinal);
        await VerifyFix(
            WithCfg(InConfigure("""
                var stack = c.Console();
                c.Register(c.Main<Hello>(stack), c.Main<Server>());
                """)),
            WithCfg(InConfigure("""
                var stack = c.Console();
                var stack2 = c.Stack();
                c.Register(c.Main<Hello>(stack), c.Main<Server>());
                """)),
            "UK0001", "Add 'var stack2 = cfg.Stack();'");
    }

    [Fact]
    public async Task UK0012_passes_the_device_you_mean()
    {
        var before = InConfigure("""
            var plain = c.New<Greeter>();
            var loud = c.New<LoudGreeter>();
            c.Register(c.Main<Greets>());
            """);
        Assert.Equal(["Pass 'plain'", "Pass 'loud'"], await Titles(before, "UK0012"));
        await VerifyFix(
            before,
            InConfigure("""
                var plain = c.New<Greeter>();
                var loud = c.New<LoudGreeter>();
                c.Register(c.Main<Greets>(loud));
                """),
            "UK0012", "Pass 'loud'");
    }

    [Fact]
    public async Task UK0012_passes_a_device_by_parameter_name()
    {
        await VerifyFix(
            InConfigure("""
                var a = c.Network("a");
                var b = c.Network("b");
                var stack = c.DirectStack();
                c.Register(c.Main<Server>(stack), c.Main<Sniffer>(a));
                """),
            InConfigure("""
                var a = c.Network("a");
                var b = c.Network("b");
                var stack = c.DirectStack(network: b);
                c.Register(c.Main<Server>(stack), c.Main<Sniffer>(a));
                """),
            "UK0012", "Pass 'b'", properties: BuildProperties.Unix with { Net = "direct" });
    }

    [Fact]
    public async Task UK0005_renames_a_name_given_as_a_string()
    {
        await VerifyFix(
            InConfigure("""
                var console = c.Console("out");
                var time = c.Time("out");
                c.Register(c.Main<Ticker>(console, time, c.Argument("ticks", 1, "")));
                """),
            InConfigure("""
                var console = c.Console("out");
                var time = c.Time("out2");
                c.Register(c.Main<Ticker>(console, time, c.Argument("ticks", 1, "")));
                """),
            "UK0005", "Rename 'out' to 'out2'");
    }

    [Fact]
    public async Task UK0005_renames_a_variable_and_its_uses()
    {
        await VerifyFix(
            InConfigure("""
                var console = c.Console("time");
                var time = c.Time();
                c.Register(c.Main<Ticker>(console, time, c.Argument("ticks", 1, "")));
                """),
            InConfigure("""
                var console = c.Console("time");
                var time2 = c.Time();
                c.Register(c.Main<Ticker>(console, time2, c.Argument("ticks", 1, "")));
                """),
            "UK0005", "Rename 'time' to 'time2'");
    }

    private static async Task<IReadOnlyList<string>> Titles(string before, string id, BuildProperties? properties = null)
    {
        var (_, actions) = await Actions(before, id, properties);
        return [.. actions.Select(a => a.Title)];
    }

    private static async Task<(Document Document, List<CodeAction> Actions)> Actions(string before, string id, BuildProperties? properties)
    {
        var result = GeneratorHarness.Run(GeneratorHarness.CreateCompilation((GeneratorHarness.ConfigPath, before), (TypesPath, Types)), properties);
        result.AssertNoGeneratorException();
        var diagnostic = Assert.Single(result.Diagnostics, d => d.Id == id);

        var workspace = new AdhocWorkspace();
        var projectId = ProjectId.CreateNewId();
        var documentId = DocumentId.CreateNewId(projectId);
        var solution = workspace.CurrentSolution
            .AddProject(ProjectInfo.Create(projectId, VersionStamp.Default, "App", "App", LanguageNames.CSharp,
                compilationOptions: result.Output.Options, parseOptions: GeneratorHarness.ParseOptions, metadataReferences: GeneratorHarness.References))
            .AddDocument(documentId, "config.cs", SourceText.From(before), filePath: GeneratorHarness.ConfigPath)
            .AddDocument(DocumentId.CreateNewId(projectId), "Types.cs", SourceText.From(Types), filePath: TypesPath);
        var document = solution.GetDocument(documentId)!;
        var actions = new List<CodeAction>();
        var context = new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None);
        await new UnikernelCodeFixProvider().RegisterCodeFixesAsync(context);
        return (document, actions);
    }

    /// <summary>Applies the fix titled <paramref name="title"/> to <paramref name="before"/>'s diagnostic <paramref name="id"/> and compares with <paramref name="after"/>.</summary>
    private static async Task VerifyFix(string before, string after, string id, string title, BuildProperties? properties = null)
    {
        Assert.Contains(id, new UnikernelCodeFixProvider().FixableDiagnosticIds);
        var (document, actions) = await Actions(before, id, properties);
        var action = Assert.Single(actions, a => a.Title == title);
        var operations = await action.GetOperationsAsync(CancellationToken.None);
        var changed = Assert.Single(operations.OfType<ApplyChangesOperation>()).ChangedSolution;
        var text = (await changed.GetDocument(document.Id)!.GetTextAsync()).ToString();
        Assert.Equal(after.ReplaceLineEndings("\n"), text.ReplaceLineEndings("\n"));

        // Fixed: the analyzer has nothing left to say, and it all compiles.
        var fixedResult = GeneratorHarness.Run(GeneratorHarness.CreateCompilation((GeneratorHarness.ConfigPath, text), (TypesPath, Types)), properties);
        Assert.Empty(fixedResult.Diagnostics);
        Assert.Empty(fixedResult.CompilerErrors);
    }
}
