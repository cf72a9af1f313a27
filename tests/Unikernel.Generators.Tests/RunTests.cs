using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Unikernel.Generators.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "Console";
}

/// <summary>Compiles hello for target test (memory console, virtual clock: runs instantly) with its generated entry point and runs it.</summary>
[Collection(ConsoleCollection.Name)]
public class RunTests
{
    private static readonly Lazy<byte[]> s_hello = new(() =>
        Build(Examples.Compilation("hello"), Examples.Properties("hello", "test")));

    internal static byte[] Build(CSharpCompilation compilation, BuildProperties properties, IEnumerable<AdditionalText>? additionalTexts = null)
    {
        var result = GeneratorHarness.Run(compilation, properties, additionalTexts);
        result.AssertNoGeneratorException();
        Assert.Empty(result.Diagnostics);
        using var image = new MemoryStream();
        var emit = result.Output.Emit(image);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        return image.ToArray();
    }

    private static (int ExitCode, string Out, string Error) Run(params string[] args) => Run(s_hello.Value, args);

    internal static (int ExitCode, string Out, string Error) Run(byte[] image, params string[] args)
    {
        var context = new AssemblyLoadContext("hello", isCollectible: true);
        using var output = new StringWriter();
        using var error = new StringWriter();
        try
        {
            var assembly = context.LoadFromStream(new MemoryStream(image));
            var main = assembly.EntryPoint ?? throw new InvalidOperationException("no entry point");
            // Appliances write through StdIo (write(2), not System.Console); its hooks capture the lines in-process.
            Unikernel.Runtime.StdIo.OutputHook = line => { lock (output) { output.WriteLine(line); } };
            Unikernel.Runtime.StdIo.ErrorHook = line => { lock (error) { error.WriteLine(line); } };
            var task = Task.Run(() => (int)main.Invoke(null, [args])!);
            Assert.True(task.Wait(TimeSpan.FromSeconds(30)), "hello did not finish (virtual time should make it instant)");
            return (task.Result, Normalize(output.ToString()), Normalize(error.ToString()));
        }
        finally
        {
            Unikernel.Runtime.StdIo.OutputHook = null;
            Unikernel.Runtime.StdIo.ErrorHook = null;
            context.Unload();
        }
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal);

    [Fact]
    public void Ticks_2_prints_two_lines()
    {
        var (exitCode, output, error) = Run("--ticks", "2");
        Assert.Equal(0, exitCode);
        Assert.Equal("hello: tick 1 of 2\nhello: tick 2 of 2\n", output);
        Assert.Equal("", error);
    }

    [Fact]
    public void Ticks_with_equals_sign()
    {
        var (exitCode, output, _) = Run("--ticks=1");
        Assert.Equal(0, exitCode);
        Assert.Equal("hello: tick 1 of 1\n", output);
    }

    [Fact]
    public void Default_is_three_ticks()
    {
        var (exitCode, output, _) = Run();
        Assert.Equal(0, exitCode);
        Assert.Equal(3, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void Help_lists_the_arguments_with_defaults()
    {
        var (exitCode, output, error) = Run("--help");
        Assert.Equal(0, exitCode);
        Assert.Contains("Usage: hello [OPTIONS]", output, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^  --ticks <int> +How many lines to print, one a second \(default: 3\)$", output);
        Assert.Contains("-h, --help", output, StringComparison.Ordinal);
        Assert.DoesNotContain("tick 1", output, StringComparison.Ordinal);
        Assert.Equal("", error);
    }

    [Fact]
    public void Bad_value_exits_2_with_a_clear_message()
    {
        var (exitCode, output, error) = Run("--ticks", "x");
        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Equal("hello: --ticks expects an integer, got 'x' (see --help)\n", error);
    }

    [Fact]
    public void Missing_value_exits_2()
    {
        var (exitCode, _, error) = Run("--ticks");
        Assert.Equal(2, exitCode);
        Assert.Equal("hello: --ticks needs a value (an integer) (see --help)\n", error);
    }

    [Fact]
    public void Unknown_argument_exits_2()
    {
        var (exitCode, output, error) = Run("--colour", "blue");
        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Equal("hello: unknown argument '--colour' (see --help)\n", error);
    }

    /// <summary>An appliance that prints every key of a crunched wwwroot with its bytes in hex.</summary>
    private static CSharpCompilation DumpCompilation()
    {
        const string job = """
            using System.Threading;
            using System.Threading.Tasks;
            using Unikernel.Devices;

            namespace App;

            public sealed class Dump(IConsole console, IKeyValueStore store) : IJob
            {
                public Job RunAsync(CancellationToken cancellationToken)
                {
                    foreach (var key in store.Keys)
                    {
                        store.TryGet(key, out var value);
                        console.WriteLine(key + "=" + System.Convert.ToHexString(value.Span));
                    }
                    return Job.CompletedJob;
                }
            }
            """;
        return GeneratorHarness.CreateCompilation(
            (GeneratorHarness.ConfigPath, DiagnosticVerifier.InConfigure("""
                var console = c.Console();
                var site = c.Crunch("wwwroot");
                c.Register(c.Main<Dump>(console, site));
                """)),
            ("/project/Dump.cs", job));
    }

    [Fact]
    public void Crunched_files_are_compiled_into_the_image_byte_for_byte()
    {
        var compilation = DumpCompilation();
        var tricky = "<h1 class=\"x\">héllo {0} \\ 😀</h1>\r\nline 2\n\0end";
        var image = Build(compilation, BuildProperties.Test,
        [
            new InMemoryAdditionalText("/project/wwwroot/index.html", tricky),
            new InMemoryAdditionalText("/project/wwwroot/css/site.css", "body{}"),
            new InMemoryAdditionalText("/project/wwwroot2/not-this.txt", "no"),
            new InMemoryAdditionalText("/elsewhere/wwwroot/not-this.txt", "no"),
        ]);

        var (exitCode, output, error) = Run(image);

        Assert.Equal("", error);
        Assert.Equal(0, exitCode);
        string Hex(string text) => Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(text));
        Assert.Equal($"css/site.css={Hex("body{}")}\nindex.html={Hex(tricky)}\n", output);
    }

    [Fact]
    public void Binary_files_reach_crunch_as_base64_twins_and_are_compiled_in_byte_for_byte()
    {
        // Unikernel.targets hands a non-UTF-8 file to the generator as obj/.../NAME.ukcrunch: its project-relative path
        // on the first line, then its bytes in base64 (the compiler refuses binary AdditionalFiles).
        var compilation = DumpCompilation();
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        string Twin(string path, byte[] bytes) => "unikernel-crunch " + path + "\n" + Convert.ToBase64String(bytes);
        var image = Build(compilation, BuildProperties.Test,
        [
            new InMemoryAdditionalText("/project/obj/Release/test-socket/net10.0/crunch/wwwroot/all.bin.ukcrunch", Twin("wwwroot/all.bin", all)),
            new InMemoryAdditionalText("/project/obj/Release/test-socket/net10.0/crunch/wwwroot/index.html.gz.ukcrunch", Twin("wwwroot/index.html.gz", [0x1f, 0x8b, 0, 0])),
            new InMemoryAdditionalText("/project/obj/Release/test-socket/net10.0/crunch/wwwroot/empty.bin.ukcrunch", Twin("wwwroot/empty.bin", [])),
            new InMemoryAdditionalText("/project/wwwroot/index.html", "<p>text stays text</p>"),
            new InMemoryAdditionalText("/project/obj/x/crunch/other/not-this.bin.ukcrunch", Twin("other/not-this.bin", [1])),
            new InMemoryAdditionalText("/project/obj/x/crunch/wwwroot/no-header.bin.ukcrunch", "AQID"),
        ]);

        var (exitCode, output, error) = Run(image);

        Assert.Equal("", error);
        Assert.Equal(0, exitCode);
        Assert.Equal($"all.bin={Convert.ToHexString(all)}\nempty.bin=\nindex.html={Convert.ToHexString("<p>text stays text</p>"u8)}\nindex.html.gz=1F8B0000\n", output);
    }

    /// <summary>
    /// An image that prints each crunched key with the digest and the Last-Modified (Unix seconds) its store got from
    /// the generator, or "-", and its bytes in hex.
    /// </summary>
    private static byte[] MetadataImage(BuildProperties properties)
    {
        const string job = """
            using System.Threading;
            using System.Threading.Tasks;
            using Unikernel.Devices;

            namespace App;

            public sealed class Metadata(IConsole console, IKeyValueStore store) : IJob
            {
                public Job RunAsync(CancellationToken cancellationToken)
                {
                    var metadata = (IKeyValueMetadata)store;
                    foreach (var key in store.Keys)
                    {
                        store.TryGet(key, out var value);
                        var digest = metadata.TryGetDigest(key, out var d) ? d : "-";
                        var time = metadata.TryGetLastModified(key, out var t) ? t.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture) : "-";
                        console.WriteLine(key + " " + digest + " " + time + " " + System.Convert.ToHexString(value.Span));
                    }
                    return Job.CompletedJob;
                }
            }
            """;
        var compilation = GeneratorHarness.CreateCompilation(
            (GeneratorHarness.ConfigPath, DiagnosticVerifier.InConfigure("""
                var console = c.Console();
                var site = c.Crunch("wwwroot");
                c.Register(c.Main<Metadata>(console, site));
                """)),
            ("/project/Metadata.cs", job));
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        string Twin(string path, byte[] bytes) => "unikernel-crunch " + path + "\n" + Convert.ToBase64String(bytes);
        return Build(compilation, properties,
        [
            new InMemoryAdditionalText("/project/wwwroot/index.html", "<h1>héllo 😀</h1>\r\nline 2\n\0end"),
            new InMemoryAdditionalText("/project/wwwroot/empty.txt", ""),
            new InMemoryAdditionalText("/project/obj/Release/test-socket/net10.0/crunch/wwwroot/index.html.gz.ukcrunch", Twin("wwwroot/index.html.gz", [0x1f, 0x8b, 0, 0])),
            new InMemoryAdditionalText("/project/obj/Release/test-socket/net10.0/crunch/wwwroot/all.bin.ukcrunch", Twin("wwwroot/all.bin", all)),
        ]);
    }

    [Fact]
    public void Crunched_files_carry_the_digests_the_runtime_computes_so_the_etags_are_the_same()
    {
        var image = MetadataImage(BuildProperties.Test);
        var (exitCode, output, error) = Run(image);

        Assert.Equal("", error);
        Assert.Equal(0, exitCode);
        var lines = output.TrimEnd('\n').Split('\n').Select(l => l.Split(' ')).ToList();
        Assert.Equal(["all.bin", "empty.txt", "index.html", "index.html.gz"], lines.Select(l => l[0]));
        Assert.All(lines, l => Assert.Equal("-", l[2])); // no UnikernelCrunchLastModified: no build time
        var generated = new List<Unikernel.Devices.Unix.CrunchEntry>();
        var plain = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            var bytes = Convert.FromHexString(line[3]);
            Assert.Equal(Unikernel.Devices.ContentDigest.Compute(bytes), line[1]);
            generated.Add(new(line[0], bytes, line[1]));
            plain[line[0]] = bytes;
        }
        // The same bytes served from a store without digests (hashed at start-up) and from the generator's.
        var built = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var prepared = new Unikernel.Protocols.Http.StaticSite(new Unikernel.Devices.Unix.CrunchKeyValueStore(generated), built);
        var hashed = new Unikernel.Protocols.Http.StaticSite(new PlainStore(plain), built);
        Assert.Equal(0, prepared.HashedFiles);
        Assert.Equal(3, hashed.HashedFiles);
        foreach (var path in new[] { "/all.bin", "/empty.txt", "/index.html" })
        {
            var a = Resolve(prepared, path);
            var b = Resolve(hashed, path);
            Assert.Equal(b.Identity.ETag, a.Identity.ETag);
            Assert.Equal(b.Gzip?.ETag, a.Gzip?.ETag);
        }
        Assert.Equal("\"" + lines[2][1] + "-gz\"", Resolve(prepared, "/index.html").Gzip?.ETag);
    }

    private static Unikernel.Protocols.Http.StaticFile Resolve(Unikernel.Protocols.Http.StaticSite site, string path)
    {
        var target = System.Text.Encoding.UTF8.GetBytes(path);
        Assert.Equal(Unikernel.Protocols.Http.StaticLookup.Found, site.Resolve(target, new byte[target.Length + 1], new char[target.Length + 1], out var file));
        return file!;
    }

    [Theory]
    [InlineData("1767225600", "1767225600")] // 2026-01-01T00:00:00Z
    [InlineData("0", "0")]
    [InlineData("253402300799", "253402300799")] // the last second of 9999
    [InlineData("253402300800", "-")]
    [InlineData("1767225600.5", "-")]
    [InlineData("-1", "-")]
    [InlineData("abc", "-")]
    [InlineData("", "-")]
    public void The_builds_last_modified_reaches_every_crunched_file(string property, string expected)
    {
        // Unikernel.targets refuses a value that is not digits before the compiler runs; the generator ignores one anyway.
        var (exitCode, output, error) = Run(MetadataImage(BuildProperties.Test with { CrunchLastModified = property }));

        Assert.Equal("", error);
        Assert.Equal(0, exitCode);
        var lines = output.TrimEnd('\n').Split('\n').Select(l => l.Split(' ')).ToList();
        Assert.Equal(4, lines.Count);
        Assert.All(lines, l => Assert.Equal(expected, l[2]));
        Assert.All(lines, l => Assert.Equal(Unikernel.Devices.ContentDigest.Compute(Convert.FromHexString(l[3])), l[1]));
    }

    /// <summary>A store that knows no digests (like a directory), so the static site hashes each file.</summary>
    private sealed class PlainStore(Dictionary<string, byte[]> values) : Unikernel.Devices.IKeyValueStore
    {
        public IReadOnlyList<string> Keys { get; } = [.. values.Keys.Order(StringComparer.Ordinal)];

        public bool TryGet(string key, out ReadOnlyMemory<byte> value)
        {
            var found = values.TryGetValue(key, out var bytes);
            value = bytes;
            return found;
        }
    }

    private static readonly Lazy<byte[]> s_arguments = new(() =>
    {
        const string job = """
            using System.Threading;
            using System.Threading.Tasks;
            using Unikernel.Devices;

            namespace App;

            public sealed class Show(IConsole console, string s, int i, long l, bool b, double d, string[] many) : IJob
            {
                public Job RunAsync(CancellationToken cancellationToken)
                {
                    console.WriteLine(string.Join("|", s, i, l, b, d.ToString(System.Globalization.CultureInfo.InvariantCulture), string.Join(",", many)));
                    return Job.CompletedJob;
                }
            }
            """;
        var compilation = GeneratorHarness.CreateCompilation(
            (GeneratorHarness.ConfigPath, DiagnosticVerifier.InConfigure("""
                var console = c.Console();
                var s = c.Argument("s", "dflt \"q\"", "A string");
                var i = c.Argument("i", -1, "An int");
                var l = c.Argument("l", 10_000_000_000L, "A long");
                var b = c.Argument("b", false, "A flag");
                var d = c.Argument("d", 0.5, "A double");
                var many = c.Argument("many", new[] { "x", "y" }, "Repeatable");
                c.Register(c.Main<Show>(console, s, i, l, b, d, many));
                """)),
            ("/project/Show.cs", job));
        return Build(compilation, BuildProperties.Test);
    });

    [Theory]
    [InlineData(new string[0], "dflt \"q\"|-1|10000000000|False|0.5|x,y")]
    [InlineData(new[] { "--s", "text", "--i", "7", "--l=-3", "--b", "--d", "1e3", "--many", "a", "--many=b" }, "text|7|-3|True|1000|a,b")]
    [InlineData(new[] { "--b=false", "--s=" }, "|-1|10000000000|False|0.5|x,y")]
    [InlineData(new[] { "--b=yes", "--many", "--many" }, "dflt \"q\"|-1|10000000000|True|0.5|--many")]
    public void Every_argument_type_parses(string[] args, string expected)
    {
        var (exitCode, output, error) = Run(s_arguments.Value, args);
        Assert.Equal("", error);
        Assert.Equal(0, exitCode);
        Assert.Equal(expected + "\n", output);
    }

    [Theory]
    [InlineData("--i", "1.5", "app: --i expects an integer, got '1.5' (see --help)")]
    [InlineData("--l", "x", "app: --l expects an integer, got 'x' (see --help)")]
    [InlineData("--d", "one", "app: --d expects a number, got 'one' (see --help)")]
    [InlineData("--b=maybe", null, "app: --b expects true or false, got 'maybe' (see --help)")]
    [InlineData("positional", null, "app: unknown argument 'positional' (see --help)")]
    public void Bad_arguments_exit_2(string first, string? second, string message)
    {
        var (exitCode, output, error) = Run(s_arguments.Value, second is null ? [first] : [first, second]);
        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Equal(message + "\n", error);
    }

    [Fact]
    public void Help_shows_every_argument_with_its_default()
    {
        var (exitCode, output, _) = Run(s_arguments.Value, "-h");
        Assert.Equal(0, exitCode);
        Assert.Equal(
            """
            Usage: app [OPTIONS]
            The app unikernel (target test).
            Not sealed (target test is never sealed).

            Runtime arguments:
              --s <string>       A string (default: dflt "q")
              --i <int>          An int (default: -1)
              --l <long>         A long (default: 10000000000)
              --b <bool>         A flag (default: false)
              --d <double>       A double (default: 0.5)
              --many <string[]>  Repeatable (repeatable; default: x, y)
              --describe         Show the devices, their implementations and the arguments' values, and exit
              --seccomp-list     Show the system calls the image allows after start, and which device needs each, and exit
              -h, --help         Show this help and exit

            """, output);
    }

    [Fact]
    public void Describe_shows_the_wiring_and_every_argument_type_after_parsing()
    {
        var (exitCode, output, error) = Run(s_arguments.Value, "--describe", "--s=say \"hi\"", "--i", "5", "--b", "--d", "1e3", "--many", "a", "--many=b");
        Assert.Equal("", error);
        Assert.Equal(0, exitCode);
        Assert.Equal(
            """
            app (target test)
            └── show: App.Show
                ├── console: Unikernel.Devices.Testing.MemoryConsole
                ├── --s <string> = "say \"hi\""
                ├── --i <int> = 5
                ├── --l <long> = 10000000000
                ├── --b <bool> = true
                ├── --d <double> = 1000
                └── --many <string[]> = ["a", "b"]
            arguments:
              --s <string> = "say \"hi\""
              --i <int> = 5
              --l <long> = 10000000000
              --b <bool> = true
              --d <double> = 1000
              --many <string[]> = ["a", "b"]

            """, output);
    }
}
