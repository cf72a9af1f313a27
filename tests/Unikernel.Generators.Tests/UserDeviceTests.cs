using Microsoft.CodeAnalysis;

namespace Unikernel.Generators.Tests;

/// <summary>
/// A device of the project's own with an implementation per target (docs/extending.md, "A device of your own"): one
/// [Device] extension method on Configuration holds everything (kind, interface, implementations by typeof and target,
/// runtime arguments). config.cs calls it like a built-in device; the generated image runs on both targets.
/// </summary>
[Collection(ConsoleCollection.Name)]
public class UserDeviceTests
{
    public const string Devices = global::Unikernel.Generators.Testing.UserDeviceSources.Devices;

    public const string Config = global::Unikernel.Generators.Testing.UserDeviceSources.Config;

    private static Microsoft.CodeAnalysis.CSharp.CSharpCompilation Compilation() =>
        GeneratorHarness.CreateCompilation((GeneratorHarness.ConfigPath, Config), ("/project/Acme.cs", Devices));

    [Fact]
    public void Runs_with_its_unix_implementation_and_its_runtime_argument()
    {
        var image = RunTests.Build(Compilation(), BuildProperties.Unix);
        var (exitCode, output, error) = RunTests.Run(image, "--greeting", "howdy");
        Assert.Equal("", error);
        Assert.Equal(0, exitCode);
        Assert.Equal("howdy from the host\n", output);
    }

    [Fact]
    public void Runs_with_its_test_implementation()
    {
        var image = RunTests.Build(Compilation(), BuildProperties.Test);
        var (exitCode, output, error) = RunTests.Run(image);
        Assert.Equal("", error);
        Assert.Equal(0, exitCode);
        Assert.Equal("hello from the test target\n", output);
    }

    [Theory]
    [InlineData("microvm", "global::Acme.HostGreeter")]
    [InlineData("xen", "global::Acme.HostGreeter")]
    [InlineData("test", "global::Acme.FixedGreeter")]
    public void Each_target_gets_the_implementation_its_family_names(string target, string expected)
    {
        var result = GeneratorHarness.Run(Compilation(), new BuildProperties(target));
        result.AssertNoGeneratorException();
        Assert.Empty(result.Diagnostics);
        Assert.Contains($"new {expected}(", result.Source(".Unikernel.g.cs"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_target_the_device_does_not_serve_is_UK0004()
    {
        var devices = Devices.Replace("[Implementation(typeof(FixedGreeter), Targets = \"test\")]\n", "", StringComparison.Ordinal);
        var result = GeneratorHarness.Run(GeneratorHarness.CreateCompilation((GeneratorHarness.ConfigPath, Config), ("/project/Acme.cs", devices)), BuildProperties.Test);
        result.AssertNoGeneratorException();
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("UK0004", diagnostic.Id);
        Assert.StartsWith("'greeter' (acme.greeter) cannot be provided on target 'test'; it is available on: unix, microvm, xen.",
            diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }
}
