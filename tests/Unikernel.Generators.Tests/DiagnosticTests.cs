using Microsoft.CodeAnalysis;
using static Unikernel.Generators.Tests.DiagnosticVerifier;

namespace Unikernel.Generators.Tests;

/// <summary>
/// Every diagnostic of the catalogue (docs/diagnostics.md), as UnikernelAnalyzer reports it on the compilation with the
/// generated code: exact ID, location and a message that says what to do.
/// </summary>
public class DiagnosticTests
{
    [Fact]
    public void The_generator_reports_nothing_itself_the_analyzer_reports_each_diagnostic_once()
    {
        var compilation = GeneratorHarness.CreateCompilation(
            (GeneratorHarness.ConfigPath, InConfigure("""
                var console = c.Console();
                c.Register(c.Main<Ticker>(console));
                if (console is null) { }
                """)),
            (TypesPath, Types));
        var driver = GeneratorHarness.CreateDriver(BuildProperties.Unix).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        Assert.Empty(generatorDiagnostics);
        Assert.Empty(driver.GetRunResult().Diagnostics);
        // The code is still emitted (an entry point that reports the errors), so no CS5001 joins the UK errors.
        Assert.Contains("return 70;", driver.GetRunResult().GeneratedTrees.Single(t => t.FilePath.EndsWith(".Unikernel.g.cs", StringComparison.Ordinal)).ToString(), StringComparison.Ordinal);

        var diagnostics = GeneratorHarness.Analyze(output, BuildProperties.Unix, []);
        Assert.Equal(["UK0001", "UK0001", "UK0008"], diagnostics.Select(d => d.Id).Order(StringComparer.Ordinal));
        Assert.Equal(diagnostics.Length, diagnostics.Select(d => d.ToString()).Distinct().Count());
        Assert.All(diagnostics, d => Assert.Same(output.SyntaxTrees.Single(t => t.FilePath == GeneratorHarness.ConfigPath), d.Location.SourceTree));
    }

    [Fact]
    public void The_analyzer_supports_every_catalogue_id()
    {
        var supported = new UnikernelAnalyzer().SupportedDiagnostics.Select(d => d.Id).ToHashSet();
        foreach (var id in Enumerable.Range(1, 19).Select(i => $"UK{i:0000}").Concat(Enumerable.Range(1, 13).Select(i => $"UK{1000 + i}")).Append("UK0099"))
        {
            Assert.Contains(id, supported);
        }
    }

    [Fact]
    public void Valid_configuration_has_no_diagnostics()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.Console();
            var time = c.Time();
            var ticks = c.Argument("ticks", 3, "How many");
            c.Register(c.Main<Ticker>(console, time, ticks));
            """));
        Assert.Empty(diagnostics);
    }

    [Fact]
    public void UK0001_job_needs_an_interface_nothing_provides()
    {
        var diagnostics = Verify(InConfigure("""
            c.Register({|UK0001:c.Main<Server>()|});
            """));
        Assert.Equal(
            "'server' needs INetworkStack for its parameter 'stack', but nothing in the configuration provides it; add 'var stack = c.Stack();' to Configure or pass one explicitly",
            diagnostics.Message("UK0001"));
        Assert.Equal(DiagnosticSeverity.Error, diagnostics[0].Severity);
    }

    [Fact]
    public void UK0001_functor_needs_a_user_interface_nothing_provides()
    {
        var diagnostics = Verify(InConfigure("""
            c.Register({|UK0001:c.Main<Greets>()|});
            """));
        Assert.Contains("add a device or job that provides IGreeter to Configure, or pass one explicitly", diagnostics.Message("UK0001"), StringComparison.Ordinal);
    }

    [Fact]
    public void UK0001_value_parameter_without_an_argument()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.Console();
            var time = c.Time();
            c.Register({|UK0001:c.Main<Ticker>(console, time)|});
            """));
        Assert.Contains("pass a value, e.g. c.Argument<int>(\"ticks\", ...)", diagnostics.Message("UK0001"), StringComparison.Ordinal);
    }

    [Fact]
    public void UK0002_argument_of_the_wrong_device_type()
    {
        var diagnostics = Verify(InConfigure("""
            var time = c.Time();
            c.Register(c.Main<Hello>({|UK0002:time|}));
            """));
        Assert.Equal(
            "Argument 'time' provides ITime, but parameter 'console' of Hello needs IConsole; pass a device or argument that provides IConsole",
            diagnostics.Message("UK0002"));
    }

    [Fact]
    public void UK0002_catalogue_device_argument_of_the_wrong_type()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.Console();
            var files = c.Directory({|UK0002:(IImpl<string>)(object)console|});
            c.Register(c.Main<Site>(files));
            """));
        Assert.Equal(
            "Argument 'console' provides IConsole, but parameter 'root' of directory needs string; pass a device or argument that provides string",
            diagnostics.Message("UK0002"));
    }

    [Fact]
    public void UK0003_cycle_through_by_type_wiring_shows_the_whole_path()
    {
        var diagnostics = Verify(InConfigure("""
            var a = {|UK0003:c.New<A>()|};
            var b = c.New<B>();
            c.Register(c.Main<UsesA>(a));
            """));
        Assert.Equal(
            "The devices depend on each other in a cycle: a -> b -> a; break the cycle by passing a different device to one of them",
            diagnostics.Message("UK0003"));
    }

    [Fact]
    public void UK0004_tap_network_on_the_test_target()
    {
        var diagnostics = Verify(InConfigure("""
            var net = {|UK0004:c.Network()|};
            c.Register(c.Main<Sniffer>(net));
            """), BuildProperties.Test);
        Assert.Equal(
            "'net' (network) cannot be provided on target 'test'; it is available on: unix, microvm, xen. Choose another device for this target with c.If(c.Target.Is(\"test\"), ...) or c.Match(c.Target, ...)",
            diagnostics.Message("UK0004"));
    }

    [Fact]
    public void UK0004_directory_store_on_the_test_target()
    {
        Verify(InConfigure("""
            var root = c.Argument("root", "/srv", "Files to serve");
            var files = {|UK0004:c.Directory(root)|};
            c.Register(c.Main<Site>(files));
            """), BuildProperties.Test);
    }

    [Fact]
    public void UK0005_two_devices_with_one_name()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.Console("out");
            var other = {|UK0005:c.Console("out")|};
            c.Register(c.Main<Hello>(console), c.Main<Hello>(other));
            """));
        Assert.Equal("The name 'out' is used twice in this configuration; give one of them another name", diagnostics.Message("UK0005"));
    }

    [Fact]
    public void UK0005_two_runtime_arguments_with_one_name()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.Console();
            var time = c.Time();
            var ticks = c.Argument("ticks", 3, "How many");
            var again = {|UK0005:c.Argument("ticks", 4, "How many, again")|};
            c.Register(c.Main<Ticker>(console, time, ticks), c.Main<Ticker>(console, time, again));
            """));
        Assert.Contains("'--ticks'", diagnostics.Message("UK0005"), StringComparison.Ordinal);
    }

    [Fact]
    public void UK0005_argument_named_like_the_built_in_help()
    {
        var diagnostics = Verify(InConfigure("""
            var help = {|UK0005:c.Argument("help", false, "")|};
            var h = c.Argument("h", "", "");
            c.Register(c.Main<Flags>(help, h));
            """));
        Assert.Equal("The name '--help' is used twice in this configuration; give one of them another name", diagnostics.Message("UK0005"));
    }

    [Fact]
    public void UK0005_argument_named_like_the_built_in_describe()
    {
        var diagnostics = Verify(InConfigure("""
            var describe = {|UK0005:c.Argument("describe", false, "")|};
            var h = c.Argument("h", "", "");
            c.Register(c.Main<Flags>(describe, h));
            """));
        Assert.Equal("The name '--describe' is used twice in this configuration; give one of them another name", diagnostics.Message("UK0005"));
    }

    [Fact]
    public void Catalogue_runtime_argument_is_shared_with_a_user_argument_of_its_name_and_type()
    {
        var diagnostics = Verify(InConfigure("""
            var lamp = c.Lamp();
            var colour = c.Argument("colour", "blue", "Colour");
            c.Register(c.Main<Hello>(lamp), c.Main<Flags>(c.Argument("on", true, ""), colour));
            """));
        Assert.Empty(diagnostics);
    }

    [Fact]
    public void UK0005_user_argument_of_another_type_named_like_a_catalogue_argument()
    {
        Verify(InConfigure("""
            var lamp = c.Lamp();
            var colour = {|UK0005:c.Argument("colour", true, "Colour")|};
            c.Register(c.Main<Hello>(lamp), c.Main<Flags>(colour, c.Argument("text", "", "")));
            """));
    }

    [Fact]
    public void UK0006_unknown_target()
    {
        var diagnostics = Verify("""
            using Unikernel.Config;

            namespace App;

            [Unikernel("app")]
            public static partial class {|UK0006:AppConfig|}
            {
                static void Configure(Configuration c)
                {
                    var console = c.Console();
                    c.Register(c.Main<Hello>(console));
                }
            }
            """, new BuildProperties("solaris"));
        Assert.Equal("Unknown target 'solaris' (from the UnikernelTarget build property); use one of: unix, test, microvm, xen", diagnostics.Message("UK0006"));
    }

    [Fact]
    public void UK0007_no_job()
    {
        var diagnostics = Verify("""
            using Unikernel.Config;

            namespace App;

            [Unikernel("app")]
            public static partial class {|UK0007:AppConfig|}
            {
                static void Configure(Configuration c)
                {
                    var console = c.Console();
                }
            }
            """);
        Assert.Equal("The unikernel 'app' registers no job; add c.Register(c.Main<YourJob>(...)) to Configure", diagnostics.Message("UK0007"));
    }

    [Fact]
    public void UK0008_unsupported_statements()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.Console();
            {|UK0008:if (console is null) { return; }|}
            {|UK0008:for (var i = 0; i < 2; i++) { c.Register(c.Main<Hello>(console)); }|}
            {|UK0008:System.Console.WriteLine("configuring")|};
            string? {|UK0008:later|}, x = {|UK0008:"text"|};
            c.Register(c.Main<Hello>(console));
            """));
        var messages = diagnostics.Select(d => d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.All(messages, m => Assert.EndsWith("; the configuration is read, not run: use 'var x = c.Device(...);' declarations and 'c.Register(...);' calls", m, StringComparison.Ordinal));
        Assert.StartsWith("'if' statements cannot be read;", messages[0], StringComparison.Ordinal);
        Assert.StartsWith("'for' statements cannot be read;", messages[1], StringComparison.Ordinal);
        Assert.StartsWith("Only c.Register(...) calls are read as statements;", messages[2], StringComparison.Ordinal);
        Assert.StartsWith("'later' has no value;", messages[3], StringComparison.Ordinal);
        Assert.StartsWith("'\"text\"' is not a device, job or argument of this configuration;", messages[4], StringComparison.Ordinal);
    }

    [Fact]
    public void UK0008_other_statements()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.Console();
            {|UK0008:int Local() => 1;|}
            {|UK0008:{ }|}
            {|UK0008:while (false) { }|}
            c.Register(c.Main<Hello>(console));
            """));
        var messages = diagnostics.Select(d => d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.StartsWith("Local functions cannot be read;", messages[0], StringComparison.Ordinal);
        Assert.StartsWith("Blocks cannot be read;", messages[1], StringComparison.Ordinal);
        Assert.StartsWith("'while' statements cannot be read;", messages[2], StringComparison.Ordinal);
    }

    [Fact]
    public void UK0008_lambda_and_unknown_method()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.Console();
            System.Func<int> f = {|UK0008:() => 1|};
            var n = {|UK0008:f()|};
            c.Register(c.Main<Hello>(console));
            """));
        Assert.Equal(
            "'f()' is not a call of the configuration DSL (a Configuration method or a [Device] extension); the configuration is read, not run: use 'var x = c.Device(...);' declarations and 'c.Register(...);' calls",
            diagnostics[1].GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void UK0009_missing_Configure()
    {
        var diagnostics = Verify("""
            using Unikernel.Config;

            namespace App;

            [Unikernel("app")]
            public static partial class {|UK0009:AppConfig|}
            {
                static void Configure(string c)
                {
                }
            }
            """);
        Assert.Equal("The [Unikernel] class 'AppConfig' needs a method 'static void Configure(Unikernel.Config.Configuration c)'", diagnostics.Message("UK0009"));
    }

    [Fact]
    public void UK0010_class_not_partial()
    {
        var diagnostics = Verify("""
            using Unikernel.Config;

            namespace App;

            [Unikernel("app")]
            public static class {|UK0010:AppConfig|}
            {
                static void Configure(Configuration c)
                {
                    var console = c.Console();
                    c.Register(c.Main<Hello>(console));
                }
            }
            """, allowedCompilerErrors: ["CS5001"]);
        Assert.Equal("The [Unikernel] class 'AppConfig' must be declared 'partial' so the generator can add its entry point", diagnostics.Message("UK0010"));
    }

    [Fact]
    public void UK0011_unsupported_argument_type()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.Console();
            var when = {|UK0011:c.Argument("when", System.DateTime.MinValue, "Start time")|};
            c.Register(c.Main<Hello>(console));
            """));
        Assert.Equal("Runtime argument 'when' has type DateTime; use string, int, long, bool, double or string[] (repeatable)", diagnostics.Message("UK0011"));
    }

    [Fact]
    public void UK0012_ambiguous_by_type_wiring()
    {
        var diagnostics = Verify(InConfigure("""
            var greeter = c.New<Greeter>();
            var loud = c.New<LoudGreeter>();
            c.Register({|UK0012:c.Main<Greets>()|});
            """));
        Assert.Equal(
            "'greets' needs IGreeter for its parameter 'greeter', and several items provide it (greeter, loud); pass the one you mean explicitly",
            diagnostics.Message("UK0012"));
    }

    [Fact]
    public void UK0013_too_many_arguments()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.Console();
            var time = c.Time();
            c.Register(c.Main<Hello>(console, {|UK0013:time|}));
            """));
        Assert.Equal("'Hello' takes 1 constructor parameter(s), but 2 argument(s) were given; remove the extra ones", diagnostics.Message("UK0013"));
    }

    [Fact]
    public void UK0013_type_without_a_public_constructor()
    {
        var diagnostics = Verify(InConfigure("""
            var hidden = {|UK0013:c.New<Hidden>()|};
            c.Register(c.Main<Greets>(hidden));
            """));
        Assert.Equal("'Hidden' has no public constructor; give it one whose parameters are the devices it needs", diagnostics.Message("UK0013"));
    }

    [Theory]
    [InlineData("test")]
    [InlineData("unix")]
    public void UK0004_fix_choose_a_device_per_target(string target)
    {
        var diagnostics = Verify(InConfigure("""
            var files = c.If(c.Target.Is("test"), c.Crunch("wwwroot"), c.Directory(c.Argument("root", "/srv", "Files to serve")));
            c.Register(c.Main<Site>(files));
            """), new BuildProperties(target), additionalTexts: [new InMemoryAdditionalText("/project/wwwroot/index.html", "<h1>hi</h1>")]);
        Assert.Empty(diagnostics);
    }

    [Fact]
    public void Constructor_that_can_be_wired_is_preferred_over_a_longer_one()
    {
        var result = GeneratorHarness.Run(GeneratorHarness.CreateCompilation((GeneratorHarness.ConfigPath, InConfigure("""
            var greeter = c.New<Flexible>();
            c.Register(c.Main<Greets>(greeter));
            """)), (TypesPath, Types)));
        Assert.Empty(result.Diagnostics);
        Assert.Contains("new global::App.Flexible()", result.Source(".Unikernel.g.cs"), StringComparison.Ordinal);
    }

    [Fact]
    public void UK0014_implementation_type_missing_from_the_compilation()
    {
        // A vendor package whose [Device] names its implementation in a second assembly the appliance does not reference.
        var sensors = Library("Vendor.Sensors", "namespace Vendor.Sensors; public sealed class SerialSensor : Unikernel.Devices.IConsole { public void WriteLine(string line) { } }");
        var devices = Library("Vendor.Devices", """
            using Unikernel.Config;
            using Unikernel.Devices;
            namespace Vendor.Devices;
            public static class VendorDevices
            {
                [Device("vendor.sensor", typeof(IConsole))]
                [Implementation(typeof(Vendor.Sensors.SerialSensor), Targets = "unix,test")]
                public static IImpl<IConsole> Sensor(this Configuration c, string? name = null) => throw new System.NotSupportedException();
            }
            """, sensors);
        var config = "using Vendor.Devices;\n" + InConfigure("""
            var sensor = c.Sensor();
            c.Register(c.Main<Hello>(sensor));
            """);
        var compilation = GeneratorHarness.CreateCompilation((GeneratorHarness.ConfigPath, config), (TypesPath, Types)).AddReferences(devices);
        var result = GeneratorHarness.Run(compilation, BuildProperties.Unix);
        result.AssertNoGeneratorException();
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("UK0014", diagnostic.Id);
        Assert.Equal("c.Sensor()", config.Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
        Assert.Equal(
            "'sensor' on target 'unix' is implemented by 'Vendor.Sensors.SerialSensor', which is not in the compilation; reference the package or project that contains it",
            diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Empty(result.CompilerErrors);
    }

    /// <summary>A class library compiled in memory over the Unikernel assemblies (and <paramref name="references"/>).</summary>
    internal static MetadataReference Library(string name, string source, params MetadataReference[] references)
    {
        var compilation = Microsoft.CodeAnalysis.CSharp.CSharpCompilation.Create(name,
            [Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(source, GeneratorHarness.ParseOptions, "/" + name + "/Library.cs")],
            GeneratorHarness.References.AddRange(references),
            new Microsoft.CodeAnalysis.CSharp.CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var emit = compilation.Emit(image);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        return MetadataReference.CreateFromImage(image.ToArray());
    }

    [Fact]
    public void UK0015_non_constant_device_name()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.Console({|UK0015:System.Environment.MachineName|});
            c.Register(c.Main<Hello>(console));
            """));
        Assert.Equal("The 'name' of c.Console must be a compile-time constant (a literal or a const)", diagnostics.Message("UK0015"));
    }

    [Fact]
    public void UK0015_non_constant_argument_default()
    {
        Verify(InConfigure("""
            var console = c.Console();
            var time = c.Time();
            var ticks = c.Argument("ticks", System.Environment.ProcessorCount, "How many");
            c.Register(c.Main<Ticker>(console, time, ticks));
            """).Replace("System.Environment.ProcessorCount", "{|UK0015:System.Environment.ProcessorCount|}", StringComparison.Ordinal));
    }

    [Fact]
    public void UK0016_empty_crunch_is_a_warning()
    {
        var diagnostics = Verify(InConfigure("""
            var site = {|UK0016:c.Crunch("wwwroot")|};
            c.Register(c.Main<Site>(site));
            """));
        Assert.Equal(DiagnosticSeverity.Warning, diagnostics.Single().Severity);
        Assert.Equal(
            "No files were found under 'wwwroot' for c.Crunch; the store will be empty (files must be part of the project, e.g. as None items)",
            diagnostics.Message("UK0016"));
    }

    [Fact]
    public void UK0016_not_reported_when_the_directory_has_files()
    {
        var diagnostics = Verify(InConfigure("""
            var site = c.Crunch("wwwroot");
            c.Register(c.Main<Site>(site));
            """), additionalTexts: [new InMemoryAdditionalText("/project/wwwroot/index.html", "<h1>hi</h1>")]);
        Assert.Empty(diagnostics);
    }

    [Fact]
    public void UK0018_unknown_key_is_a_warning()
    {
        var diagnostics = Verify("""
            using Unikernel.Config;

            namespace App;

            [Unikernel("app")]
            public static partial class {|UK0018:AppConfig|}
            {
                static void Configure(Configuration c)
                {
                    var console = c.Console();
                    c.Register(c.Main<Hello>(console));
                }
            }
            """, new BuildProperties(Keys: "colour=blue"));
        Assert.Equal(DiagnosticSeverity.Warning, diagnostics.Single().Severity);
        Assert.Equal("UnikernelKeys sets 'colour', which the configuration does not declare; declared keys: (none)", diagnostics.Message("UK0018"));
    }

    [Fact]
    public void Declared_key_is_not_reported()
    {
        var diagnostics = Verify(InConfigure("""
            var mode = c.Key("mode", "quiet", "How chatty");
            var console = c.If(mode.Is("loud"), c.Console("loud"), c.Console("quiet"));
            c.Register(c.Main<Hello>(console));
            """), new BuildProperties(Keys: "mode=loud"));
        Assert.Empty(diagnostics);
    }

    [Fact]
    public void UK0019_target_is_a_value_no_target_has()
    {
        var diagnostics = Verify(InConfigure("""
            var console = c.If(c.Target.Is({|UK0019:"solaris"|}), c.Console(), c.Console());
            c.Register(c.Main<Hello>(console));
            """));
        Assert.Equal("'solaris' is not a target; targets: unix, test, microvm, xen; the condition can never hold", diagnostics.Message("UK0019"));
    }

    [Fact]
    public void UK0019_match_case_and_key_is_with_a_value_no_build_has()
    {
        var diagnostics = Verify(InConfigure("""
            var net = c.Key("net", "socket", "stack");
            var console = c.Match(c.Target, c.Console(), new Case<Unikernel.Devices.IConsole>({|UK0019:"tset"|}, c.Console()));
            var time = c.If(net.Is({|UK0019:"sockets"|}), c.Time(), c.Time());
            c.Register(c.Main<Ticker>(console, time, c.Argument("ticks", 1, "")));
            """));
        Assert.Contains("'tset' is not a target (did you mean 'test'?)", diagnostics[0].GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.Contains("'sockets' is not a network stack choice (did you mean 'socket'?)", diagnostics[1].GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public void UK0019_not_for_a_user_key_or_a_real_target()
    {
        var diagnostics = Verify(InConfigure("""
            var mode = c.Key("mode", "a", "");
            var console = c.If(mode.Is("anything"), c.Console(), c.If(c.Target.Is("xen"), c.Console(), c.Console()));
            c.Register(c.Main<Hello>(console));
            """));
        Assert.Empty(diagnostics);
    }
}
