using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Unikernel.Generators.Tests;

/// <summary>Runs the generator over marked-up config.cs and checks its diagnostics: IDs, exact spans, messages.</summary>
public static class DiagnosticVerifier
{
    public const string TypesPath = "/project/Types.cs";

    /// <summary>Types the test configurations use (jobs, functors, a user catalogue extension), in their own file.</summary>
    public const string Types = """
        using System.Threading;
        using System.Threading.Tasks;
        using Unikernel.Config;
        using Unikernel.Devices;

        namespace App;

        public sealed class Hello(IConsole console) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) => Job.CompletedJob;
        }

        public sealed class Ticker(IConsole console, ITime time, int ticks) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) => Job.CompletedJob;
        }

        public sealed class Server(INetworkStack stack) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) => Job.CompletedJob;
        }

        public sealed class Site(IKeyValueStore store) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) => Job.CompletedJob;
        }

        public sealed class Sniffer(INetworkInterface nic) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) => Job.CompletedJob;
        }

        public sealed class Numbers(double a, double b, double c) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) => Job.CompletedJob;
        }

        public sealed class Lamp(string colour) : IConsole
        {
            public void WriteLine(string line) { }
        }

        public sealed class Flags(bool flag, string text) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) => Job.CompletedJob;
        }

        public sealed class Clocks(ITime time, IMonotonicClock monotonic, IWallClock wall) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) => Job.CompletedJob;
        }

        public interface IA { }

        public interface IB { }

        public sealed class A(IB b) : IA { }

        public sealed class B(IA a) : IB { }

        public sealed class UsesA(IA a) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) => Job.CompletedJob;
        }

        public interface IGreeter { }

        public sealed class Greeter : IGreeter { }

        public sealed class LoudGreeter : IGreeter { }

        public sealed class Hidden : IGreeter
        {
            private Hidden() { }
        }

        public sealed class Flexible : IGreeter
        {
            public Flexible() { }

            public Flexible(System.DateTimeOffset since) { }
        }

        public sealed class Greets(IGreeter greeter) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken) => Job.CompletedJob;
        }

        public static class VendorDevices
        {
            /// <summary>A catalogue extension with a runtime argument (--colour).</summary>
            [Device("app.lamp", typeof(IConsole))]
            [Implementation(typeof(Lamp), Targets = "unix,test")]
            [RuntimeArgument("colour", "colour", "red", "Lamp colour")]
            public static IImpl<IConsole> Lamp(this Configuration c, string? name = null) => throw new System.NotSupportedException();
        }
        """;

    /// <summary>A config.cs whose Configure body is <paramref name="body"/> (markup allowed).</summary>
    public static string InConfigure(string body) =>
        "using Unikernel.Config;\n" +
        "\n" +
        "namespace App;\n" +
        "\n" +
        "[Unikernel(\"app\")]\n" +
        "public static partial class AppConfig\n" +
        "{\n" +
        "    static void Configure(Configuration c)\n" +
        "    {\n" +
        string.Join("\n", body.Trim('\n').Split('\n').Select(l => "        " + l)) + "\n" +
        "    }\n" +
        "}\n";

    /// <summary>
    /// Checks that the generator reports exactly the marked diagnostics (ID and span in config.cs), does not throw, and
    /// that the generated code compiles: the output compilation has no errors besides <paramref name="allowedCompilerErrors"/>.
    /// </summary>
    public static IReadOnlyList<Diagnostic> Verify(
        string markup,
        BuildProperties? properties = null,
        string? defaultId = null,
        IEnumerable<AdditionalText>? additionalTexts = null,
        params string[] allowedCompilerErrors)
    {
        var (source, spans) = Markup.Parse(markup);
        var compilation = GeneratorHarness.CreateCompilation((GeneratorHarness.ConfigPath, source), (TypesPath, Types));
        // Before generation the only error may be the missing entry point the generator adds.
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && d.Id != "CS5001" && !allowedCompilerErrors.Contains(d.Id)));
        var result = GeneratorHarness.Run(compilation, properties, additionalTexts);
        result.AssertNoGeneratorException();

        var text = SourceText.From(source);
        var expected = spans.Select(s => Describe(s.Id ?? defaultId ?? throw new ArgumentException("[|...|] needs a default ID"), GeneratorHarness.ConfigPath, text.Lines.GetLinePositionSpan(s.Span))).ToList();
        var actual = result.Diagnostics
            .Where(d => d.Location.Kind != LocationKind.None)
            .OrderBy(d => d.Location.SourceSpan.Start).ThenBy(d => d.Location.SourceSpan.End)
            .Select(d => Describe(d.Id, d.Location.GetLineSpan().Path, d.Location.GetLineSpan().Span))
            .ToList();
        Assert.True(expected.SequenceEqual(actual),
            "Expected diagnostics:\n  " + string.Join("\n  ", expected) + "\nActual:\n  " + string.Join("\n  ", actual) + "\n\n" + string.Join("\n", result.Diagnostics));
        Assert.DoesNotContain(result.Diagnostics, d => d.Location.Kind == LocationKind.None);

        foreach (var diagnostic in result.Diagnostics)
        {
            Assert.Equal("Unikernel", diagnostic.Descriptor.Category);
            Assert.Equal(Diagnostics.DocsUrl + "diagnostics.md#" + diagnostic.Id.ToLowerInvariant(), diagnostic.Descriptor.HelpLinkUri);
            Assert.DoesNotContain("{", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        }

        // The generated code compiles whatever the errors: the build shows the UK diagnostics, not CS errors in generated files.
        var errors = result.CompilerErrors.Where(d => !allowedCompilerErrors.Contains(d.Id)).ToList();
        Assert.True(errors.Count == 0, "Compiler errors after generation:\n" + string.Join("\n", errors));
        return result.Diagnostics;
    }

    private static string Describe(string id, string path, LinePositionSpan span) =>
        $"{id} {path}({span.Start.Line + 1},{span.Start.Character + 1})-({span.End.Line + 1},{span.End.Character + 1})";

    /// <summary>The one diagnostic's message.</summary>
    public static string Message(this IReadOnlyList<Diagnostic> diagnostics, string id) =>
        diagnostics.Single(d => d.Id == id).GetMessage(System.Globalization.CultureInfo.InvariantCulture);
}
