using System.Reflection;
using Microsoft.CodeAnalysis;
using Unikernel.Config;

namespace Unikernel.Generators.Tests;

/// <summary>
/// What the device catalogue (src/Config/Configuration.cs) claims must hold against the real assemblies: every
/// implementation names a type that exists and provides the device's interface, and every example compiles for
/// every target and net choice the catalogue names (generator plus C# compiler over the real Devices and Protocols
/// assemblies: what <c>dotnet build -p:UnikernelTarget=T -p:UnikernelNet=N</c> does, without a build per pair).
/// This is the test that would have caught a catalogue entry naming a type that was never written.
/// </summary>
public class CatalogueCoverageTests
{
    private static IEnumerable<(MethodInfo Method, DeviceAttribute Device, ImplementationAttribute Implementation)> Entries() =>
        from method in typeof(Configuration).GetMethods(BindingFlags.Public | BindingFlags.Instance)
        let device = method.GetCustomAttribute<DeviceAttribute>()
        where device is not null
        from implementation in method.GetCustomAttributes<ImplementationAttribute>()
        select (method, device, implementation);

    /// <summary>The targets declared on Configuration ([Target]), in declaration order.</summary>
    public static TargetAttribute[] Declared() => [.. typeof(Configuration).GetCustomAttributes<TargetAttribute>()];

    /// <summary>The concrete targets an implementation serves: its target names and families, or every target.</summary>
    public static string[] Served(ImplementationAttribute implementation)
    {
        var names = implementation.Targets.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return [.. Declared().Where(t => names.Length == 0 || names.Contains(t.Name) || t.Families.Split(',', StringSplitOptions.TrimEntries).Intersect(names).Any()).Select(t => t.Name)];
    }

    /// <summary>Every target any implementation serves.</summary>
    public static string[] Targets() =>
        [.. Entries().SelectMany(e => Served(e.Implementation)).Distinct().Order(StringComparer.Ordinal)];

    /// <summary>Every net choice an implementation is selected by (<c>When = "net=..."</c>).</summary>
    public static string[] Nets() =>
        [.. Entries().Select(e => e.Implementation.When).OfType<string>().Where(w => w.StartsWith("net=", StringComparison.Ordinal))
            .Select(w => w["net=".Length..]).Distinct().Order(StringComparer.Ordinal)];

    /// <summary>Every example of the repository (config.cs or unikernel.yaml) with every target and net.</summary>
    public static IEnumerable<object[]> ExampleTargetNets()
    {
        var examples = Directory.EnumerateDirectories(Path.Combine(Snapshot.RepositoryRoot, "examples"))
            .Where(d => File.Exists(Path.Combine(d, "config.cs")) || File.Exists(Path.Combine(d, "unikernel.yaml")))
            .Select(Path.GetFileName)
            .Order(StringComparer.Ordinal);
        return from example in examples from target in Targets() from net in Nets() select new object[] { example!, target, net };
    }

    [Fact]
    public void Every_declared_target_is_served_and_the_nets_are_both_stacks()
    {
        Assert.Equal(Declared().Select(t => t.Name).Order(StringComparer.Ordinal), Targets());
        Assert.Contains("unix", Targets());
        Assert.Equal(["direct", "socket"], Nets());
        Assert.True(ExampleTargetNets().Count() >= 4 * 4 * 2, "expected at least 4 examples");
    }

    [Fact]
    public void Every_implementation_is_a_type_that_provides_the_device_interface_and_serves_a_declared_target()
    {
        var entries = Entries().ToList();
        Assert.NotEmpty(entries);
        var targets = Declared().Select(t => t.Name).ToHashSet();
        var families = Declared().SelectMany(t => t.Families.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToHashSet();
        foreach (var (method, device, implementation) in entries)
        {
            var type = implementation.Type;
            Assert.True(device.ProvidedInterface.IsAssignableFrom(type),
                $"Configuration.{method.Name}: {type.FullName} does not implement {device.ProvidedInterface.Name}");
            Assert.True(type.IsPublic && !type.IsAbstract && type.GetConstructors().Length > 0,
                $"Configuration.{method.Name}: {type.FullName} has no public constructor");
            foreach (var name in implementation.Targets.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                Assert.True(targets.Contains(name) || families.Contains(name), $"Configuration.{method.Name}: '{name}' is not a declared target or family");
            }
            Assert.NotEmpty(Served(implementation));
        }
    }

    [Theory]
    [MemberData(nameof(ExampleTargetNets))]
    public void Every_example_compiles_for_every_target_and_net(string example, string target, string net)
    {
        var properties = Examples.Properties(example, target) with { Net = net };
        var result = GeneratorHarness.Run(Compilation(example), properties, Examples.AdditionalTexts(example));
        result.AssertNoGeneratorException();
        var unclaimed = result.Diagnostics.Select(d => Unclaimed(d, target)).ToList();
        if (unclaimed.Count > 0 && unclaimed.All(kind => kind is not null))
        {
            // The only acceptable failure: a device the example uses has no implementation for this target, and the
            // catalogue indeed claims none (e.g. no raw network interface on 'test', so no direct stack there).
            foreach (var kind in unclaimed)
            {
                Assert.DoesNotContain(Entries(), e => e.Device.Kind == kind && ServesTarget(e.Implementation, target, net));
            }
            return;
        }
        Assert.True(result.Diagnostics.IsEmpty,
            $"{example} for {target}/{net}:\n" + string.Join("\n", result.Diagnostics));
        Assert.True(result.CompilerErrors.IsEmpty,
            $"{example} for {target}/{net} does not compile:\n" + string.Join("\n", result.CompilerErrors));
        Assert.True(result.HasSource(".Unikernel.g.cs"), "no entry point was generated");
    }

    [Fact]
    public void The_only_unclaimed_pairs_need_a_raw_network_interface_on_the_test_target()
    {
        var unclaimed = new List<string>();
        foreach (var row in ExampleTargetNets())
        {
            var (example, target, net) = ((string)row[0], (string)row[1], (string)row[2]);
            var result = GeneratorHarness.Run(Compilation(example), Examples.Properties(example, target) with { Net = net }, Examples.AdditionalTexts(example));
            if (result.Diagnostics.Any(d => Unclaimed(d, target) is not null))
            {
                unclaimed.Add($"{example}/{target}/{net}");
            }
        }
        // The catalogue has no raw network interface for 'test' (its network is the in-memory loopback stack): the
        // direct stack and the switch's ports cannot be built there, and nothing else is missing.
        Assert.Equal(
            ["dns-yaml/test/direct", "dns/test/direct", "iperf-yaml/test/direct", "iperf/test/direct", "openflow-controller/test/direct", "openflow-switch/test/direct",
             "openflow-switch/test/socket", "www-yaml/test/direct", "www/test/direct"],
            unclaimed.Order(StringComparer.Ordinal));
    }

    private static bool ServesTarget(ImplementationAttribute implementation, string target, string net) =>
        Served(implementation).Contains(target)
        && (implementation.When is null || implementation.When == "net=" + net);

    /// <summary>The device kind of a UK0004 "cannot be provided on target" diagnostic for <paramref name="target"/>, else null.</summary>
    private static string? Unclaimed(Diagnostic diagnostic, string target)
    {
        if (diagnostic.Id != "UK0004")
        {
            return null;
        }
        var match = System.Text.RegularExpressions.Regex.Match(diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture),
            @"^'[^']+' \(([^)]+)\) cannot be provided on target '([^']+)'");
        return match.Success && match.Groups[2].Value == target ? match.Groups[1].Value : null;
    }

    /// <summary>The example's sources: its own .cs files and those its project file links in (the YAML twins' jobs).</summary>
    private static Microsoft.CodeAnalysis.CSharp.CSharpCompilation Compilation(string example)
    {
        var root = Examples.Directory(example);
        var project = Directory.EnumerateFiles(root, "*.csproj").Single();
        var linked = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(project), "<Compile Include=\"([^\"]+)\"")
            .Select(m => Path.GetFullPath(Path.Combine(root, m.Groups[1].Value)));
        var own = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(p => !Path.GetRelativePath(root, p).Replace('\\', '/').Split('/')[0].Equals("obj", StringComparison.Ordinal)
                && !Path.GetRelativePath(root, p).Replace('\\', '/').Split('/')[0].Equals("bin", StringComparison.Ordinal));
        var sources = own.Concat(linked).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(p => ("/examples/" + example + "/" + Path.GetFileName(p), File.ReadAllText(p)))
            .ToArray();
        Assert.NotEmpty(sources);
        return GeneratorHarness.CreateCompilation(sources);
    }
}
