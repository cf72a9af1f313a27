using Microsoft.CodeAnalysis;

namespace Unikernel.Generators.Tests;

/// <summary>The generated entry point and device graph of every example and target, against baselines in Snapshots/.</summary>
public class SnapshotTests
{
    [Theory]
    [MemberData(nameof(Examples.ExampleTargets), MemberType = typeof(Examples))]
    public void Generated_code_matches_the_baseline(string example, string target)
    {
        var compilation = Examples.Compilation(example);
        // The VM runtime is part of Unikernel.Devices: its absence is a broken build, not a reason to pass.
        Assert.True(Examples.TargetAvailable(compilation, target), $"the runtime of target '{target}' (Unikernel.Devices.Vm.VmInit) is missing");
        var result = GeneratorHarness.Run(compilation, Examples.Properties(example, target), Examples.AdditionalTexts(example));
        result.AssertNoGeneratorException();
        Assert.Empty(result.Diagnostics);
        Assert.Empty(result.CompilerErrors);

        Snapshot.Verify($"{example}.{target}", result.Source(".Unikernel.g.cs"));
        Snapshot.Verify($"{example}.{target}.UnikernelGraph", result.Source(".UnikernelGraph.g.cs"));
    }

    public static readonly string[] Forbidden =
        ["System.Reflection", "Activator", "typeof(", "GetType(", "Type.GetType", "MakeGenericType", "Invoke(", "dynamic"];

    [Theory]
    [MemberData(nameof(Examples.ExampleTargets), MemberType = typeof(Examples))]
    public void Generated_code_uses_no_reflection(string example, string target)
    {
        var compilation = Examples.Compilation(example);
        // The VM runtime is part of Unikernel.Devices: its absence is a broken build, not a reason to pass.
        Assert.True(Examples.TargetAvailable(compilation, target), $"the runtime of target '{target}' (Unikernel.Devices.Vm.VmInit) is missing");
        var result = GeneratorHarness.Run(compilation, Examples.Properties(example, target), Examples.AdditionalTexts(example));
        foreach (var source in result.RunResult.Results.SelectMany(r => r.GeneratedSources))
        {
            var text = source.SourceText.ToString();
            foreach (var forbidden in Forbidden)
            {
                Assert.False(text.Contains(forbidden, StringComparison.Ordinal), $"{source.HintName} ({target}) contains '{forbidden}'");
            }
        }
    }

    [Fact]
    public void Baselines_use_no_reflection()
    {
        var files = Directory.GetFiles(Snapshot.Directory, "*.verified.cs");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            foreach (var forbidden in Forbidden)
            {
                Assert.False(text.Contains(forbidden, StringComparison.Ordinal), $"{Path.GetFileName(file)} contains '{forbidden}'");
            }
        }
    }

    [Fact]
    public void Every_baseline_belongs_to_an_example_and_target()
    {
        var expected = Examples.Names.SelectMany(e => Examples.Targets.SelectMany(t => new[] { $"{e}.{t}.verified.cs", $"{e}.{t}.UnikernelGraph.verified.cs" })).ToHashSet();
        foreach (var file in Directory.GetFiles(Snapshot.Directory, "*.verified.cs"))
        {
            Assert.Contains(Path.GetFileName(file), expected);
        }
    }

    [Fact]
    public void Hello_for_test_uses_the_test_devices_and_one_shared_virtual_clock()
    {
        var result = GeneratorHarness.Run(Examples.Compilation("hello"), Examples.Properties("hello", "test"));
        var code = result.Source(".Unikernel.g.cs");
        Assert.Contains("new global::Unikernel.Devices.Testing.MemoryConsole()", code, StringComparison.Ordinal);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(code, @"new global::Unikernel\.Devices\.Testing\.VirtualClock\("));
        Assert.DoesNotContain("Unikernel.Devices.Unix", code, StringComparison.Ordinal);
    }

    [Fact]
    public void Generated_code_with_errors_is_a_stub_that_compiles()
    {
        var result = GeneratorHarness.Run(Examples.Compilation("hello"), Examples.Properties("hello", "solaris"));
        Assert.Equal("UK0006", Assert.Single(result.Diagnostics).Id);
        Assert.Empty(result.CompilerErrors);
        Assert.False(result.HasSource(".UnikernelGraph.g.cs"));
        Assert.Contains("return 70;", result.Source(".Unikernel.g.cs"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("test", 1)]
    [InlineData("unix", 3)]
    public void Clocks_share_one_instance_where_the_catalogue_says_so(string target, int instances)
    {
        var result = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(
            (GeneratorHarness.ConfigPath, DiagnosticVerifier.InConfigure("""
                var time = c.Time();
                var monotonic = c.MonotonicClock();
                var wall = c.WallClock();
                c.Register(c.Main<Clocks>(time, monotonic, wall));
                """)),
            (DiagnosticVerifier.TypesPath, DiagnosticVerifier.Types)), new BuildProperties(target));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(result.CompilerErrors);
        var code = result.Source(".Unikernel.g.cs");
        Assert.Equal(instances, System.Text.RegularExpressions.Regex.Matches(code, @" = new global::Unikernel\.Devices\.(Testing\.VirtualClock|Unix\.Unix\w+)\(").Count);
    }
}
