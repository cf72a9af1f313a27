using Microsoft.CodeAnalysis;

namespace Unikernel.Generators.Yaml.Tests;

/// <summary>config.cs and unikernel.yaml that declare the same appliance produce the same generated code.</summary>
public sealed class EquivalenceTests
{
    /// <summary>Every declared target ([Target] on Configuration).</summary>
    public static TheoryData<string> Targets => [.. DeclaredTargets];

    public static IEnumerable<string> DeclaredTargets =>
        System.Reflection.CustomAttributeExtensions.GetCustomAttributes<Unikernel.Config.TargetAttribute>(typeof(Unikernel.Config.Configuration)).Select(t => t.Name);

    [Theory]
    [MemberData(nameof(Targets))]
    public void Hello_example_and_its_yaml_twin_generate_identical_code(string target)
    {
        var hello = ("/project/Hello.cs", Harness.Example("hello/Hello.cs"));
        var csharp = Harness.Run(null, [hello, ("/project/config.cs", Harness.Example("hello/config.cs"))], target);
        var yaml = Harness.Run(Harness.Example("hello-yaml/unikernel.yaml"), [hello], target);

        AssertSameOutput(csharp, yaml);
        Assert.Contains("new global::HelloAppliance.Hello(", yaml.Source(".Unikernel.g.cs"), StringComparison.Ordinal);
    }

    /// <summary>Every examples/NAME-yaml twin of an examples/NAME with a config.cs (found on disk, so new twins are covered).</summary>
    public static TheoryData<string, string> Twins()
    {
        var data = new TheoryData<string, string>();
        var root = Path.Combine(AppContext.BaseDirectory, "examples");
        foreach (var yaml in Directory.GetFiles(root, "unikernel.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var twin = Path.GetFileName(Path.GetDirectoryName(yaml)!);
            var original = twin.EndsWith("-yaml", StringComparison.Ordinal) ? twin[..^5] : null;
            if (original is not null && File.Exists(Path.Combine(root, original, "config.cs")))
            {
                foreach (var target in DeclaredTargets)
                {
                    data.Add(original, target);
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Twins))]
    public void Every_yaml_twin_generates_the_code_of_its_config_cs(string example, string target)
    {
        var root = Path.Combine(AppContext.BaseDirectory, "examples");
        (string, string) Source(string file) => ("/project/" + Path.GetFileName(file), File.ReadAllText(file));
        var shared = Directory.GetFiles(Path.Combine(root, example), "*.cs").Where(f => Path.GetFileName(f) != "config.cs").Order(StringComparer.Ordinal).Select(Source).ToArray();
        var own = Directory.GetFiles(Path.Combine(root, example + "-yaml"), "*.cs").Order(StringComparer.Ordinal).Select(Source).ToArray();
        // The files a project passes as AdditionalFiles (crunched zones, pages), at their paths under /project.
        (string, string)[] Files(string directory) => [.. Directory.GetFiles(Path.Combine(root, directory), "*", SearchOption.AllDirectories)
            .Where(f => Path.GetExtension(f) is not ".cs" and not ".yaml").Order(StringComparer.Ordinal)
            .Select(f => ("/project/" + Path.GetRelativePath(Path.Combine(root, directory), f).Replace('\\', '/'), File.ReadAllText(f))), .. Linked(directory)];
        // Folders a twin links in from its sibling (<None Include="../www/site/**" Link="site/..." />), at the link path.
        IEnumerable<(string, string)> Linked(string directory)
        {
            var project = Path.Combine(root, directory, directory + ".csproj");
            if (!File.Exists(project))
            {
                yield break;
            }
            foreach (System.Text.RegularExpressions.Match link in System.Text.RegularExpressions.Regex.Matches(
                File.ReadAllText(project), "<None Include=\"([^\"*]+)/\\*\\*\" Link=\"([^\"/%]+)/"))
            {
                var source = Path.GetFullPath(Path.Combine(root, directory, link.Groups[1].Value));
                foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                {
                    yield return ("/project/" + link.Groups[2].Value + "/" + Path.GetRelativePath(source, file).Replace('\\', '/'), File.ReadAllText(file));
                }
            }
        }
        var csharp = Harness.Run(null, [.. shared, Source(Path.Combine(root, example, "config.cs"))], target, files: Files(example));
        var yaml = Harness.Run(File.ReadAllText(Path.Combine(root, example + "-yaml", "unikernel.yaml")), [.. shared, .. own], target, files: Files(example + "-yaml"));
        AssertSameOutput(csharp, yaml);
    }

    [Fact]
    public void There_is_a_yaml_twin() => Assert.NotEmpty(Twins());

    private const string RichTypes = """
        using System.Threading;
        using System.Threading.Tasks;
        using Unikernel.Devices;

        namespace Rich;

        public sealed class Store(IKeyValueStore files, IConsole console)
        {
            public IKeyValueStore Files => files;
            public IConsole Console => console;
        }

        public sealed class FixedRandom : IRandom
        {
            public void Fill(System.Span<byte> destination) => destination.Fill(4);
        }

        public sealed class Server(IRandom random, Store store, ITime time, int port, bool verbose, string[] tags, long limit, double ratio) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) { _ = (random, store, time, port, verbose, tags, limit, ratio); return Job.CompletedJob; }
        }
        """;

    private const string RichConfig = """
        using Unikernel.Config;
        using Unikernel.Devices;

        namespace Rich;

        [Unikernel("rich")]
        public static partial class RichConfig
        {
            static void Configure(Configuration c)
            {
                var mode = c.Key("mode", "disk", "Where files come from");
                var console = c.Console();
                var root = c.Argument("root", "/srv", "Directory served");
                var port = c.Argument("port", 8080, "Port");
                var verbose = c.Argument("verbose", false, "Log more");
                var tags = c.Argument("tags", new[] { "a", "b" }, "Tags");
                var limit = c.Argument("limit", 10L, "Limit");
                var ratio = c.Argument("ratio", 0.5, "Ratio");
                var files = c.Match(mode, c.Directory(root), new Case<IKeyValueStore>("crunch", c.Crunch("htdocs")));
                var random = c.If(c.Target.Is("unix"), c.Random(), c.New<FixedRandom>());
                var store = c.New<Store>(files);
                c.Register(c.Main<Server>(random, store, c.Time("clock"), port, verbose, tags, limit, ratio));
            }
        }
        """;

    internal const string RichYaml = """
        name: rich
        class: Rich.RichConfig
        keys:
          mode: { default: disk, description: Where files come from }
        arguments:
          root: { type: string, default: /srv, description: Directory served }
          port: { type: int, default: 8080, description: Port }
          verbose: { type: bool, default: false, description: Log more }
          tags: { type: "string[]", default: [a, b], description: Tags }
          limit: { type: long, default: 10, description: Limit }
          ratio: { type: double, default: 0.5, description: Ratio }
        devices:
          console: { kind: console }
          files:
            match: mode
            cases:
              crunch: { kind: crunch, directory: htdocs }
            otherwise: { kind: directory, root: root }
          random:
            if: { key: target, is: unix }
            then: { kind: random }
            else: { type: Rich.FixedRandom }
          store: { type: Rich.Store, args: [files] }
        jobs:
          server:
            type: Rich.Server
            args: [random, store, { kind: time, name: clock }, port, verbose, tags, limit, ratio]
        """;

    public static TheoryData<string, string, string> Builds => new()
    {
        { "unix", "socket", "" },
        { "unix", "socket", "mode=crunch" },
        { "unix", "direct", "" },
        { "test", "socket", "mode=crunch" },
        { "xen", "direct", "" },
        { "microvm", "socket", "mode=crunch" },
    };

    [Theory]
    [MemberData(nameof(Builds))]
    public void Keys_choices_inline_devices_and_by_type_wiring_generate_identical_code(string target, string net, string keys)
    {
        var types = ("/project/Types.cs", RichTypes);
        var csharp = Harness.Run(null, [types, ("/project/config.cs", RichConfig)], target, net, keys, files: s_pages);
        var yaml = Harness.Run(RichYaml, [types], target, net, keys, files: s_pages);
        AssertSameOutput(csharp, yaml);
    }

    private static readonly (string, string)[] s_pages = [("/project/htdocs/index.html", "<h1>hi</h1>")];

    [Fact]
    public void A_device_missing_on_the_target_is_the_same_error_in_both()
    {
        // The directory store has no 'test' implementation: UK0004 on both sides, at the device in each file.
        var types = ("/project/Types.cs", RichTypes);
        var csharp = Harness.Run(null, [types, ("/project/config.cs", RichConfig)], "test", "socket", "", files: s_pages);
        var yaml = Harness.Run(RichYaml, [types], "test", "socket", "", files: s_pages);
        Assert.Equal("UK0004", Assert.Single(csharp.Diagnostics).Id);
        Assert.Equal("UK0004", Assert.Single(yaml.Diagnostics).Id);
        // The same finding; the advice in each file's own terms.
        Assert.Contains("c.If(c.Target.Is(\"test\"), ...)", csharp.Diagnostics[0].GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.Contains("if: { key: target, is: test }", yaml.Diagnostics[0].GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.EndsWith("unikernel.yaml", yaml.Diagnostics[0].Location.GetLineSpan().Path, StringComparison.Ordinal);
        Assert.Empty(csharp.CompilerErrors);
        Assert.Empty(yaml.CompilerErrors);
    }

    private const string TcpTypes = """
        using System.Threading;
        using System.Threading.Tasks;
        using Unikernel.Devices;

        namespace Tcp;

        public sealed class Server(INetworkStack stack) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) { _ = stack; return Job.CompletedJob; }
        }
        """;

    private const string TcpConfig = """
        using Unikernel.Config;

        namespace Tcp;

        [Unikernel("tcp")]
        public static partial class TcpConfig
        {
            static void Configure(Configuration c)
            {
                var stack = c.Stack(tcp: c.Tcp(sendBuffer: 1048576, congestionControl: "newreno", nagle: "on", keepAliveIdleSeconds: 120, timeWaitSeconds: 20));
                c.Register(c.Main<Server>(stack));
            }
        }
        """;

    private const string TcpYaml = """
        name: tcp
        class: Tcp.TcpConfig
        devices:
          stack:
            kind: stack
            tcp: { kind: tcp, sendBuffer: 1048576, congestionControl: newreno, nagle: "on", keepAliveIdleSeconds: 120, timeWaitSeconds: 20 }
        jobs:
          server: { type: Tcp.Server, args: [stack] }
        """;

    [Theory]
    [InlineData("unix", "direct")]
    [InlineData("unix", "socket")]
    [InlineData("microvm", "direct")]
    public void Tcp_options_generate_identical_code(string target, string net)
    {
        var csharp = Harness.Run(null, [("/project/Types.cs", TcpTypes), ("/project/config.cs", TcpConfig)], target, net);
        var yaml = Harness.Run(TcpYaml, [("/project/Types.cs", TcpTypes)], target, net);
        AssertSameOutput(csharp, yaml);
        Assert.Equal(net == "direct", yaml.Source(".Unikernel.g.cs").Contains("TcpSettings(1048576, 262144, 16384, 20, 4096, 120, 75, 9, \"newreno\", \"on\")", StringComparison.Ordinal));
    }

    [Fact]
    public void The_tcp_yaml_validates_against_the_schema() => SchemaTests.AssertValid(TcpYaml);

    [Fact]
    public void Rich_yaml_wires_by_type_and_chooses_by_key()
    {
        var yaml = Harness.Run(RichYaml, [("/project/Types.cs", RichTypes)], "unix", "socket", "mode=crunch", files: [("/project/htdocs/index.html", "<h1>hi</h1>")]);
        Assert.DoesNotContain(yaml.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        var code = yaml.Source(".Unikernel.g.cs");
        Assert.Contains("new global::Rich.Store(", code, StringComparison.Ordinal);
        Assert.Contains("CrunchKeyValueStore", code, StringComparison.Ordinal);
        Assert.Contains("UnixRandom", code, StringComparison.Ordinal);
        Assert.Contains("clock = new global::Unikernel.Devices.Unix.UnixTime(", code, StringComparison.Ordinal);
        Assert.Contains("long arg_limit = 10L;", code, StringComparison.Ordinal);
        Assert.Contains("new string[] { \"a\", \"b\" }", code, StringComparison.Ordinal);
        Assert.Empty(yaml.CompilerErrors);
    }

    [Fact]
    public void A_unikernel_yaml_outside_the_project_directory_is_data_not_configuration()
    {
        var hello = ("/project/Hello.cs", Harness.Example("hello/Hello.cs"));
        var result = Harness.Run(null, [hello, ("/project/config.cs", Harness.Example("hello/config.cs"))], files: [("/project/htdocs/unikernel.yaml", "not: [valid")]);
        Assert.DoesNotContain(result.Diagnostics, d => d.Id == "UK0017" || d.Id.StartsWith("UK1", StringComparison.Ordinal));
    }

    /// <summary>
    /// Both sides are clean before they are compared: no UK diagnostic and a compilation without errors, so two
    /// identical error stubs can never pass for equivalence.
    /// </summary>
    private static void AssertClean(GeneratorResult result, string side)
    {
        Assert.True(result.Diagnostics.IsEmpty, side + ": " + string.Join("; ", result.Diagnostics));
        Assert.True(result.CompilerErrors.IsEmpty, side + ": " + string.Join("; ", result.CompilerErrors.Take(5)));
        Assert.True(result.HasSource(".UnikernelGraph.g.cs"), side + ": no device graph (the model has errors)");
    }

    internal static void AssertSameOutput(GeneratorResult csharp, GeneratorResult yaml)
    {
        AssertClean(csharp, "config.cs");
        AssertClean(yaml, "unikernel.yaml");
        var expected = csharp.RunResult.Results.Single().GeneratedSources.OrderBy(s => s.HintName, StringComparer.Ordinal).Select(s => (s.HintName, s.SourceText.ToString())).ToList();
        var actual = yaml.RunResult.Results.Single().GeneratedSources.OrderBy(s => s.HintName, StringComparer.Ordinal).Select(s => (s.HintName, s.SourceText.ToString())).ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected.Select(s => s.HintName), actual.Select(s => s.HintName));
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Item2, actual[i].Item2);
        }
        // The same wiring problems, reported in config.cs for one and in unikernel.yaml for the other.
        Assert.Equal(
            csharp.Diagnostics.Select(d => d.Id + " " + d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).OrderBy(m => m, StringComparer.Ordinal),
            yaml.Diagnostics.Select(d => d.Id + " " + d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).OrderBy(m => m, StringComparer.Ordinal));
        Assert.All(yaml.Diagnostics.Where(d => d.Location != Location.None), d => Assert.EndsWith("unikernel.yaml", d.Location.GetLineSpan().Path, StringComparison.Ordinal));
    }
}
