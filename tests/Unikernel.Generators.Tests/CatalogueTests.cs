using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Unikernel.Config;

namespace Unikernel.Generators.Tests;

/// <summary>
/// The catalogue as the generator reads it: every built-in entry without a problem and as reflection sees it, the
/// build's list of VM-image targets agrees with the [Target] declarations, and wrong entries or targets are UK0020 /
/// UK0021 where they are declared.
/// </summary>
public class CatalogueTests
{
    private static Catalogue Read(params (string Path, string Text)[] sources) =>
        KnownSymbols.For(GeneratorHarness.CreateCompilation(sources.Length == 0 ? [("/project/Empty.cs", "static class Empty { static void Main() { } }")] : sources)).Catalogue;

    public static TheoryData<string> Kinds()
    {
        var data = new TheoryData<string>();
        foreach (var method in typeof(Configuration).GetMethods(BindingFlags.Public | BindingFlags.Instance))
        {
            if (method.GetCustomAttribute<DeviceAttribute>() is { } device)
            {
                data.Add(device.Kind);
            }
        }
        return data;
    }

    [Fact]
    public void The_built_in_catalogue_has_no_problem()
    {
        var catalogue = Read();
        Assert.Empty(catalogue.Problems);
        Assert.Equal(CatalogueCoverageTests.Declared().Select(t => t.Name), catalogue.TargetNames);
        Assert.Equal(["socket", "direct"], catalogue.Nets);
        Assert.Equal(typeof(Configuration).GetMethods().Count(m => m.GetCustomAttribute<DeviceAttribute>() is not null), catalogue.Entries.Count);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Every_entry_reads_as_reflection_sees_it(string kind)
    {
        var entry = Assert.Single(Read().Entries, e => e.Kind == kind);
        Assert.Empty(entry.Problems);
        var method = typeof(Configuration).GetMethods().Single(m => m.GetCustomAttribute<DeviceAttribute>()?.Kind == kind);
        var implementations = method.GetCustomAttributes<ImplementationAttribute>().ToList();
        Assert.Equal(implementations.Count, entry.Implementations.Length);
        for (var i = 0; i < implementations.Count; i++)
        {
            var read = entry.Implementations[i];
            Assert.NotNull(read.Type);
            Assert.NotEqual(TypeKind.Error, read.Type!.TypeKind);
            Assert.Equal(implementations[i].Type.FullName, read.TypeName);
            Assert.Equal(CatalogueCoverageTests.Served(implementations[i]), read.Targets);
            Assert.Equal(implementations[i].When ?? "", read.When);
        }
    }

    [Fact]
    public void Every_target_is_declared_once_with_what_it_needs()
    {
        var targets = Read().Targets;
        Assert.Equal(targets.Count, targets.Select(t => t.Name).Distinct().Count());
        foreach (var target in targets)
        {
            // A target that boots a VM has a start-up hook and makes a VM image; the others neither.
            Assert.Equal(target.BootsVm, target.StartUp.Length > 0);
            Assert.Equal(target.BootsVm ? "vm-image" : "executable", target.Image);
            // The VM images are sealed by default, unix on request, the test target (JIT, in-memory devices) never.
            Assert.Equal(target.BootsVm ? "by-default" : target.Name == "test" ? "never" : "on-request", target.Seal);
        }
        Assert.Equal("global::Unikernel.Devices.Vm.VmInit", targets.Single(t => t.Name == "microvm").StartUp);
    }

    [Fact]
    public void The_builds_list_of_vm_image_targets_is_the_declared_one_and_no_build_file_names_a_target()
    {
        var build = Path.Combine(Snapshot.RepositoryRoot, "src", "Config", "build");
        var vm = File.ReadAllText(Path.Combine(build, "Unikernel.Vm.targets"));
        var list = Regex.Match(vm, @"<UnikernelVmImageTargets [^>]*>([^<]*)</UnikernelVmImageTargets>");
        Assert.True(list.Success, "Unikernel.Vm.targets declares no UnikernelVmImageTargets");
        Assert.Equal(
            CatalogueCoverageTests.Declared().Where(t => t.Image == TargetImage.VmImage).Select(t => t.Name),
            list.Groups[1].Value.Split(';', StringSplitOptions.RemoveEmptyEntries));
        foreach (var file in Directory.GetFiles(build, "*.targets").Concat(Directory.GetFiles(build, "*.props")))
        {
            Assert.DoesNotMatch(@"'\$\(UnikernelTarget\)' *[!=]= *'[a-z]", File.ReadAllText(file));
        }
    }

    [Fact]
    public void The_builds_list_of_targets_sealed_by_default_is_the_declared_one()
    {
        var props = File.ReadAllText(Path.Combine(Snapshot.RepositoryRoot, "src", "Config", "build", "Unikernel.props"));
        var list = Regex.Match(props, @"<UnikernelSealedTargets [^>]*>([^<]*)</UnikernelSealedTargets>");
        Assert.True(list.Success, "Unikernel.props declares no UnikernelSealedTargets");
        Assert.Equal(
            CatalogueCoverageTests.Declared().Where(t => t.Seal == TargetSeal.ByDefault).Select(t => t.Name),
            list.Groups[1].Value.Split(';', StringSplitOptions.RemoveEmptyEntries));
    }

    private const string Job = """
        using System.Threading;
        using System.Threading.Tasks;
        using Unikernel.Config;
        using Unikernel.Devices;

        namespace App;

        public sealed class Hello(IConsole console) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) => Job.CompletedJob;
        }

        public sealed class Lamp : IConsole
        {
            public void WriteLine(string line) { }
        }

        public sealed class NotAConsole
        {
        }

        public sealed class Hidden : IConsole
        {
            private Hidden() { }

            public void WriteLine(string line) { }
        }

        public abstract class Abstract : IConsole
        {
            public abstract void WriteLine(string line);
        }
        """;

    public static TheoryData<string, string, string> Wrong => new()
    {
        { "an unknown target", "[Implementation(typeof(Lamp), Targets = \"unx\")]", "'unx' is not a target or target family (did you mean 'unix'?); targets: unix, test, microvm, xen; families: linux, vm" },
        { "a type without the interface", "[Implementation(typeof(NotAConsole))]", "'NotAConsole' does not implement IConsole, the interface the device provides" },
        { "a type without a public constructor", "[Implementation(typeof(Hidden))]", "'Hidden' has no public constructor" },
        { "an abstract type", "[Implementation(typeof(Abstract))]", "'Abstract' is not a class that can be built" },
        { "no type", "[Implementation(null!)]", "an implementation names no type" },
        { "a net choice that does not exist", "[Implementation(typeof(Lamp), When = \"net=dirct\")]", "'dirct' is not a net choice (did you mean 'direct'?); net is socket or direct" },
        { "a When without a value", "[Implementation(typeof(Lamp), When = \"net\")]", "must be \"key=value\"" },
    };

    [Theory]
    [MemberData(nameof(Wrong))]
    public void A_wrong_entry_of_the_project_is_UK0020_at_its_attribute(string what, string implementation, string expected)
    {
        var devices = "using Unikernel.Config;\nusing Unikernel.Devices;\nnamespace App;\npublic static class Devices\n{\n    [Device(\"app.lamp\", typeof(IConsole))]\n    "
            + implementation + "\n    public static IImpl<IConsole> Lamp(this Configuration c, string? name = null) => throw new System.NotSupportedException();\n}\n";
        var result = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(
            (GeneratorHarness.ConfigPath, DiagnosticVerifier.InConfigure("var console = c.Console();\nc.Register(c.Main<Hello>(console));")),
            ("/project/Job.cs", Job), ("/project/Devices.cs", devices)), BuildProperties.Unix);
        result.AssertNoGeneratorException();
        var diagnostic = Assert.Single(result.Diagnostics, d => d.Id == "UK0020");
        Assert.Contains(expected, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.StartsWith("The catalogue device Devices.Lamp ('app.lamp') is invalid: ", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.Equal("/project/Devices.cs", diagnostic.Location.GetLineSpan().Path);
        Assert.Equal(implementation[1..^1], devices.Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
        // The configuration does not even use the device: a wrong entry is an error of the project wherever it is used.
        Assert.Contains("the unikernel configuration has errors", result.Source(".Unikernel.g.cs"), StringComparison.Ordinal);
        _ = what;
    }

    [Theory]
    [InlineData("lamp", "a device of your own needs a qualified kind, e.g. 'app.lamp'")]
    [InlineData("App.Lamp", "the kind must be lower-case letters, digits")]
    [InlineData("console", "a device of your own needs a qualified kind")]
    public void A_project_kind_must_be_qualified(string kind, string expected)
    {
        var devices = "using Unikernel.Config;\nusing Unikernel.Devices;\nnamespace App;\npublic static class Devices\n{\n    [Device(\"" + kind + "\", typeof(IConsole))]\n    [Implementation(typeof(Lamp))]\n"
            + "    public static IImpl<IConsole> Lamp(this Configuration c, string? name = null) => throw new System.NotSupportedException();\n}\n";
        var catalogue = Read(("/project/Job.cs", Job), ("/project/Devices.cs", devices));
        Assert.NotEmpty(catalogue.Problems);
        Assert.All(catalogue.Problems, p => Assert.Equal("UK0020", p.Id));
        Assert.Contains(catalogue.Problems, p => p.Arguments[2].Contains(expected, StringComparison.Ordinal));
        // 'console' is also the built-in console's kind: declared twice.
        Assert.Equal(kind == "console" ? 2 : 1, catalogue.Problems.Count);
    }

    [Fact]
    public void Two_devices_of_one_kind_are_UK0020_at_the_second()
    {
        var devices = """
            using Unikernel.Config;
            using Unikernel.Devices;
            namespace App;
            public static class Devices
            {
                [Device("app.lamp", typeof(IConsole))]
                [Implementation(typeof(Lamp))]
                public static IImpl<IConsole> Lamp(this Configuration c, string? name = null) => throw new System.NotSupportedException();

                [Device("app.lamp", typeof(IConsole))]
                [Implementation(typeof(Lamp))]
                public static IImpl<IConsole> OtherLamp(this Configuration c, string? name = null) => throw new System.NotSupportedException();
            }
            """;
        var catalogue = Read(("/project/Job.cs", Job), ("/project/Devices.cs", devices));
        var problem = Assert.Single(catalogue.Problems);
        Assert.Equal("UK0020", problem.Id);
        Assert.Equal("the kind 'app.lamp' is declared twice (Devices.Lamp and Devices.OtherLamp); give this device another kind", problem.Arguments[2]);
        Assert.Single(catalogue.Entries, e => e.Kind == "app.lamp");
    }

    [Fact]
    public void Wrong_target_declarations_are_UK0021()
    {
        // A stand-in for Unikernel.Config (the real one's targets are right): the same attributes, three wrong targets.
        const string config = """
            namespace Unikernel.Config
            {
                using System;
                public enum TargetImage { Executable, VmImage }
                [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
                public sealed class TargetAttribute(string name) : Attribute
                {
                    public string Name { get; } = name;
                    public string Families { get; init; } = "";
                    public bool BootsVm { get; init; }
                    public Type? StartUp { get; init; }
                    public TargetImage Image { get; init; }
                    public string Seal { get; init; } = "";
                }
                public static class NoHook { public static void Initialize() { } }
                [Target("unix")]
                [Target("unix")]
                [Target("bad name")]
                [Target("vm", StartUp = typeof(NoHook), BootsVm = true, Image = TargetImage.VmImage)]
                public sealed class Configuration { }
            }
            """;
        var compilation = Microsoft.CodeAnalysis.CSharp.CSharpCompilation.Create("NoUnikernel",
            [Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(config, GeneratorHarness.ParseOptions, "/project/Config.cs")],
            GeneratorHarness.References.Where(r => !(r.Display ?? "").Contains("Unikernel.Config", StringComparison.Ordinal)),
            new Microsoft.CodeAnalysis.CSharp.CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        var catalogue = KnownSymbols.For(compilation).Catalogue;
        Assert.Equal(["unix", "vm"], catalogue.TargetNames);
        Assert.All(catalogue.Problems, p => Assert.Equal("UK0021", p.Id));
        Assert.Equal(
            ["unix: it is declared twice; keep one declaration",
             "bad name: a target's name must be letters, digits, '-' and '_' (it is the UnikernelTarget build property)",
             "vm: its start-up hook 'NoHook' needs 'public static void Initialize()' and 'public static int Exit(int exitCode)'"],
            catalogue.Problems.Select(p => p.Arguments[0] + ": " + p.Arguments[1]));
    }
}
