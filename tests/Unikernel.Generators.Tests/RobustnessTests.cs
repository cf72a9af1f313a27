using Microsoft.CodeAnalysis;

namespace Unikernel.Generators.Tests;

/// <summary>Garbage in, diagnostics out: the generator never throws, never hangs, and its output never adds compile errors.</summary>
public class RobustnessTests
{
    public static TheoryData<string> Bodies() =>
    [
        "",
        "c.Register();",
        "c.Register(null!);",
        "c.Register(c.Main<",
        "var x = c.Console(;",
        "var = ;",
        "c.Register(c.Main<App.Hello>(c.Console(), c.Console(), c.Console(), c.Console()));",
        "var console = c.Console(); c.Register(c.Main<App.Hello>(console)); c.Register(c.Main<App.Hello>(console));",
        "while (true) { c.Register(c.Main<App.Hello>(c.Console())); }",
        "for (;;) { }",
        "foreach (var x in new[] { 1, 2 }) { c.Console(); }",
        "System.Func<IImpl<Unikernel.Devices.IConsole>> f = () => c.Console(); c.Register(c.Main<App.Hello>(f()));",
        "c.Register(c.Main<App.Hello>(((System.Func<IImpl<Unikernel.Devices.IConsole>>)(() => c.Console()))()));",
        "var a = c.New<App.A>(); var b = c.New<App.B>(); c.Register(c.Main<App.UsesA>(a));",
        "var a = a;",
        "var console = console2; var console2 = console;",
        "c.Register(c.Main<System.Collections.Generic.List<int>>());",
        "c.Register(c.Main<App.Hello>(c.New<System.Collections.Generic.Dictionary<string, System.Collections.Generic.List<App.Hello>>>()));",
        "c.Register(c.New<App.Hello>(c.Console()) as IImpl<Unikernel.Devices.IJob>);",
        "c.Register(c.Main<IImpl<App.Hello>>());",
        "c.Register(c.Main<T>());",
        "c.Register(c.Main<App.Hello>(c.If(c.Target.Is(\"test\"), c.Console(\"a\"), c.If(c.Target.Is(\"unix\"), c.Console(\"b\"), c.Console(\"c\")))));",
        "c.Register(c.Main<App.Hello>(c.Match(c.Target, c.Console(\"a\"), new Case<Unikernel.Devices.IConsole>(\"unix\", c.Console(\"b\")), default, new(\"test\", null!))));",
        "c.Register(c.Main<App.Hello>(c.Match(c.Key(c.ToString()!, \"\", \"\"), c.Console())));",
        "c.Register(c.Main<App.Hello>(c.If(default!, c.Console(), c.Console())));",
        "var t = c.Argument(\"t\", new[] { 1, 2 }, \"ints\"); var s = c.Argument(\"s\", new[] { \"a\", $\"{1}\" }, \"strings\");",
        "var s = c.Argument<string[]>(\"s\", [], \"\"); var n = c.Argument(\"\", 1, \"\"); var m = c.Argument<int?>(\"m\", null, \"\");",
        "var x = c.Crunch(null!); var y = c.Crunch(\"../../etc\"); var z = c.Crunch(\"\");",
        "c.Register(c.Main<App.Site>(c.Directory(c.Argument(\"root\", \"/\", \"\"))), c.Main<App.Site>(c.Directory(c.Argument(\"root\", \"/x\", \"\"))));",
        "goto end; end: c.Register(c.Main<App.Hello>(c.Console()));",
        "unsafe { int* p = null; }",
        "lock (c) { }",
        "try { c.Register(c.Main<App.Hello>(c.Console())); } catch { }",
        "using var d = (System.IDisposable)null!;",
        "async void Local() { await System.Threading.Tasks.Task.Yield(); } Local();",
        "int Local() => Local(); c.Register(c.Main<App.Hello>(c.Console(Local().ToString())));",
        "c.Register(c.Main<App.Hello>(c.Console(nameof(c))));",
        "c.Register(c.Main<App.Hello>(c.Console(\"\\u0000\\\"\\n}\")));",
        "c.Register(c.Main<App.Hello>(c.Console(\"a b-c.d\")), c.Main<App.Hello>(c.Console(\"a_b_c_d\")));",
        "var @class = c.Console(); var args = c.Console(\"args\"); c.Register(c.Main<App.Hello>(@class), c.Main<App.Hello>(args));",
        "c = null!; c.Register(c.Main<App.Hello>(c.Console()));",
        "Configure(c);",
        "dynamic d = c; d.Register();",
        "c.Register(c.Main<App.Hello>(c.Console()), c.Main<App.Hello>(c.Console()), c.Main<App.Ticker>(c.Console(), c.Time(), c.Argument(\"ticks\", int.MaxValue, \"\")));",
        "var ticks = c.Argument(\"ticks\", 1e308, \"\"); var l = c.Argument(\"l\", long.MinValue, \"\"); var b = c.Argument(\"b\", true, \"\");",
        "var n = c.Argument(\"nan\", double.NaN, \"\"); var p = c.Argument(\"inf\", double.PositiveInfinity, \"\"); var m = c.Argument(\"minf\", double.NegativeInfinity, \"\"); c.Register(c.Main<App.Numbers>(n, p, m));",
        "var net = c.Network(); var i = c.Argument(\"interface\", true, \"\"); c.Register(c.Main<App.Sniffer>(net), c.Main<App.Flags>(i, c.Argument(\"t\", \"\", \"\")));",
        "var a = c.Argument(\"a b\", \"\\\"\", \"\\\"quoted\\\" \\n description\"); var b = c.Argument(\"a_b\", \"\", \"\"); c.Register(c.Main<App.Flags>(c.Argument(\"x\", true, \"\"), a), c.Main<App.Flags>(c.Argument(\"y\", true, \"\"), b));",
    ];

    [Theory]
    [MemberData(nameof(Bodies))]
    public void Garbage_configure_body(string body) => RunGarbage(DiagnosticVerifier.InConfigure(body));

    public static TheoryData<string> Files() =>
    [
        "[Unikernel(\"x\")] partial class",
        "[Unikernel(\"x\")] partial class X { static void Configure(Configuration c) {",
        "[Unikernel(\"x\")] partial class X { static void Configure(Configuration c) => c.Register(c.Main<App.Hello>(c.Console())); }",
        "[Unikernel(\"x\")] partial class X { static void Configure(Configuration c) => c.Console(); }",
        "[Unikernel(\"x\")] partial class X { static void Configure(Configuration c); }",
        "[Unikernel(\"x\")] partial class X { static abstract void Configure(Configuration c); }",
        "[Unikernel(\"x\")] partial class X { void Configure(Configuration c) { } }",
        "[Unikernel(\"x\")] partial class X { static void Configure(Configuration c) { } static void Configure(Configuration c, int i) { } }",
        "[Unikernel(\"x\")] partial class X<T> { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } }",
        "[Unikernel(null!)] partial class X { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } }",
        "[Unikernel(\"\")] partial class X { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } }",
        "partial class Outer { [Unikernel(\"x\")] partial class X { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } } }",
        "[Unikernel(\"x\")] partial record X { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } }",
        "[Unikernel(\"x\")] partial struct X { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } }",
        "[Unikernel(\"x\")] partial class X { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } }\npartial class X { static void Configure(Configuration c) { } }",
        "[Unikernel(\"x\")] partial class X { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } public static void Main() { } }",
        "[Unikernel(\"x\")] partial class X : System.Collections.Generic.List<X> { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } }",
        "[Unikernel] class",
        "}}}}{{{{ [Unikernel(\"x\")] ((((",
    ];

    [Theory]
    [MemberData(nameof(Files))]
    public void Garbage_file(string file) => RunGarbage("using Unikernel.Config;\nnamespace App;\n" + file);

    [Fact]
    public void Two_unikernels_in_one_project_is_left_to_the_compiler()
    {
        // Each class gets its Main; the compiler reports CS0017 (more than one entry point). Nothing throws.
        RunGarbage("""
            using Unikernel.Config;
            namespace App;
            [Unikernel("x")] partial class X { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } }
            [Unikernel("y")] partial class Y { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } }
            """, allowed: "CS0017");
    }

    [Theory]
    [InlineData("namespace A.B { [Unikernel(\"x\")] partial class C_D { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } } }\nnamespace A { [Unikernel(\"y\")] partial class B_C_D { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } } }", "CS0017")]
    // X<T>'s Main is no entry point candidate (generic): one Main, no error.
    [InlineData("namespace A { [Unikernel(\"x\")] partial class X { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } } [Unikernel(\"y\")] partial class X<T> { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } } }", "")]
    [InlineData("namespace A { [Unikernel(\"x\")] partial class X { static void Configure(Configuration c) { c.Register(c.Main<App.Hello>(c.Console())); } } [Unikernel(\"x\")] partial class X { } }", "CS0579")]
    public void Two_unikernels_whose_names_look_alike(string file, string compilerError)
    {
        var source = "using Unikernel.Config;\n" + file;
        var compilation = GeneratorHarness.CreateCompilation((GeneratorHarness.ConfigPath, source), (DiagnosticVerifier.TypesPath, DiagnosticVerifier.Types));
        var result = GeneratorHarness.Run(compilation);
        result.AssertNoGeneratorException();
        // Each configuration is right on its own: no UK diagnostic; the clash is the compiler's one error, in the user's file.
        Assert.Empty(result.Diagnostics);
        Assert.All(result.CompilerErrors, d => Assert.Equal(compilerError, d.Id));
        Assert.Equal(compilerError.Length > 0, !result.CompilerErrors.IsEmpty);
    }

    [Fact]
    public void Random_statement_soup()
    {
        string[] pieces =
        [
            "c.Console()", "c.Time()", "c.Main<App.Hello>(", "c.New<App.A>(", "c.Register(", ")", "(", ";", ",", "var x =", "var y =",
            "x", "y", "c.If(c.Target.Is(\"test\"),", "c.Argument(\"n\", 1, \"\")", "{", "}", "=>", "new Case<Unikernel.Devices.IConsole>(\"a\",",
            "c.Crunch(\"d\")", "null!", "\"name\"", "if (", "for (;;)", "<", ">", "c.Match(c.Target,", "default", "c.Key(\"k\", \"v\", \"\")",
        ];
        var random = new Random(20261126);
        for (var round = 0; round < 40; round++)
        {
            var body = string.Join(" ", Enumerable.Range(0, random.Next(1, 30)).Select(_ => pieces[random.Next(pieces.Length)]));
            RunGarbage(DiagnosticVerifier.InConfigure(body));
        }
    }

    [Theory]
    [InlineData("unix")]
    [InlineData("test")]
    [InlineData("microvm")]
    [InlineData("xen")]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("UNIX")]
    public void Every_target_on_a_mixed_configuration(string target)
    {
        RunGarbage(DiagnosticVerifier.InConfigure("""
            var console = c.Console();
            var net = c.If(c.Target.Is("test"), c.Network("never"), c.Network());
            var stack = c.Stack();
            var site = c.Crunch("wwwroot");
            c.Register(c.Main<App.Server>(stack), c.Main<App.Site>(site), c.Main<App.Sniffer>(net), c.Main<App.Hello>(console));
            """), new BuildProperties(target, Net: "direct", Keys: "a=b;;=;net=socket;x"));
    }

    private static void RunGarbage(string source, BuildProperties? properties = null, string? allowed = null)
    {
        var compilation = GeneratorHarness.CreateCompilation((GeneratorHarness.ConfigPath, source), (DiagnosticVerifier.TypesPath, DiagnosticVerifier.Types));
        var run = Task.Run(() => GeneratorHarness.Run(compilation, properties ?? BuildProperties.Unix));
        Assert.True(run.Wait(TimeSpan.FromSeconds(60)), "The generator hangs on:\n" + source);
        var result = run.Result;
        result.AssertNoGeneratorException();
        // The user's code may be broken, but the generated files must not add errors of their own.
        var generated = result.CompilerErrors.Where(d => d.Location.SourceTree is { } tree && !compilation.SyntaxTrees.Contains(tree) && d.Id != allowed).ToList();
        Assert.True(generated.Count == 0, "Errors in generated code for:\n" + source + "\n" + string.Join("\n", generated));
    }
}
