using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;

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
    {
        var result = GeneratorHarness.Run(Examples.Compilation("hello"), Examples.Properties("hello", "test"));
        result.AssertNoGeneratorException();
        Assert.Empty(result.GeneratorDiagnostics);
        using var image = new MemoryStream();
        var emit = result.Output.Emit(image);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        return image.ToArray();
    });

    private static (int ExitCode, string Out, string Error) Run(params string[] args)
    {
        var context = new AssemblyLoadContext("hello", isCollectible: true);
        using var output = new StringWriter();
        using var error = new StringWriter();
        try
        {
            var assembly = context.LoadFromStream(new MemoryStream(s_hello.Value));
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
        Assert.Contains("  --ticks <int>  How many lines to print, one a second (default: 3)\n", output, StringComparison.Ordinal);
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
}
