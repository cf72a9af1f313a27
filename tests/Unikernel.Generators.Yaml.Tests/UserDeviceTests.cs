namespace Unikernel.Generators.Yaml.Tests;

/// <summary>
/// A device of the project's own ([Device("acme.greeter", ...)] extension method with an implementation per target)
/// used from unikernel.yaml by its kind: the same code as config.cs's c.Greeter(), on every target.
/// </summary>
public sealed class UserDeviceTests
{
    public const string Devices = global::Unikernel.Generators.Testing.UserDeviceSources.Devices;

    public const string Config = global::Unikernel.Generators.Testing.UserDeviceSources.Config;

    public const string Yaml = """
        name: greet
        class: Acme.GreetConfig
        devices:
          console: { kind: console }
          greeter: { kind: acme.greeter }
        jobs:
          greet: { type: Acme.Greet, args: [console, greeter] }
        """;

    [Theory]
    [MemberData(nameof(EquivalenceTests.Targets), MemberType = typeof(EquivalenceTests))]
    public void The_yaml_kind_generates_the_code_of_config_cs(string target)
    {
        var csharp = Harness.Run(null, [("/project/Acme.cs", Devices), ("/project/config.cs", Config)], target);
        var yaml = Harness.Run(Yaml, [("/project/Acme.cs", Devices)], target);
        EquivalenceTests.AssertSameOutput(csharp, yaml);
        Assert.Contains(target == "test" ? "new global::Acme.FixedGreeter()" : "new global::Acme.HostGreeter(arg_greeting)", yaml.Source(".Unikernel.g.cs"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_misspelt_project_kind_is_UK1005_with_the_projects_kinds_listed()
    {
        var result = Harness.Run(Yaml.Replace("acme.greeter", "acme.greter", StringComparison.Ordinal), [("/project/Acme.cs", Devices)]);
        var diagnostic = Assert.Single(result.Diagnostics, d => d.Id == "UK1005");
        var message = diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("(did you mean 'acme.greeter'?)", message, StringComparison.Ordinal);
        Assert.EndsWith(", acme.greeter", message, StringComparison.Ordinal);
    }
}
