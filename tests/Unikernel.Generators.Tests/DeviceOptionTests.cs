using static Unikernel.Generators.Tests.DiagnosticVerifier;

namespace Unikernel.Generators.Tests;

/// <summary>
/// Device options ([Option] parameters: the tcp device's settings): constants from config.cs reach the implementation's
/// constructor, the defaults fill what is left out, and bad values are UK0022 at the value with what to give instead.
/// </summary>
public class DeviceOptionTests
{
    private static readonly BuildProperties s_direct = BuildProperties.Unix with { Net = "direct" };

    private static string Generated(GeneratorResult result) => result.Source(".Unikernel.g.cs");

    private static GeneratorResult Run(string body, BuildProperties properties) =>
        GeneratorHarness.Run(GeneratorHarness.CreateCompilation((GeneratorHarness.ConfigPath, InConfigure(body)), (TypesPath, Types)), properties);

    [Fact]
    public void Given_options_reach_TcpSettings_and_the_direct_stack_gets_it()
    {
        const string Config = """
            var tcp = c.Tcp(sendBuffer: 1 << 20, receiveBuffer: 512 * 1024, congestionControl: "NewReno", nagle: "off", keepAliveIdleSeconds: 30, timeWaitSeconds: 10, maxTimeWait: 100, maxConnections: 2000);
            var stack = c.Stack(tcp: tcp);
            c.Register(c.Main<Server>(stack));
            """;
        Assert.Empty(Verify(InConfigure(Config), s_direct));
        var source = Generated(Run(Config, s_direct));
        // In the constructor's order, the values given and the defaults (keep-alive interval 75 s, 9 probes); the string
        // options as the catalogue spells them.
        Assert.Contains("new global::Unikernel.Protocols.Net.TcpSettings(1048576, 524288, 2000, 10, 100, 30, 75, 9, \"newreno\", \"off\")", source, StringComparison.Ordinal);
        Assert.Matches(@"new global::Unikernel\.Protocols\.Net\.DirectStack\(\w+, \w+, \w+, \w+, tcp\w*, ", source);
    }

    [Fact]
    public void Without_a_tcp_device_the_direct_stack_gets_the_defaults_and_the_socket_stack_none()
    {
        const string Config = """
            var stack = c.Stack();
            c.Register(c.Main<Server>(stack));
            """;
        Assert.Empty(Verify(InConfigure(Config), s_direct));
        var direct = Generated(Run(Config, s_direct));
        Assert.Contains("new global::Unikernel.Protocols.Net.TcpSettings(262144, 262144, 16384, 60, 4096, 0, 75, 9, \"cubic\", \"auto\")", direct, StringComparison.Ordinal);
        var socket = Generated(Run(Config, BuildProperties.Unix));
        Assert.DoesNotContain("TcpSettings", socket, StringComparison.Ordinal);
    }

    [Fact]
    public void A_declared_tcp_device_is_wired_to_the_direct_stack_by_type()
    {
        const string Config = """
            var tcp = c.Tcp(congestionControl: "newreno");
            var stack = c.DirectStack();
            c.Register(c.Main<Server>(stack));
            """;
        Assert.Empty(Verify(InConfigure(Config), s_direct));
        Assert.Contains("\"newreno\", \"auto\")", Generated(Run(Config, s_direct)), StringComparison.Ordinal);
    }

    [Fact]
    public void UK0022_negative_buffer_size()
    {
        var diagnostics = Verify(InConfigure("""
            var stack = c.Stack(tcp: c.Tcp(sendBuffer: {|UK0022:-1|}));
            c.Register(c.Main<Server>(stack));
            """), s_direct);
        Assert.Equal(
            "The option 'sendBuffer' of the tcp device is invalid: -1 is out of range: give a whole number from 4096 to 1073741824 (bytes buffered per connection for sending)",
            diagnostics.Message("UK0022"));
    }

    [Fact]
    public void UK0022_unknown_congestion_controller()
    {
        var diagnostics = Verify(InConfigure("""
            var tcp = c.Tcp(congestionControl: {|UK0022:"cubik"|});
            c.Register(c.Main<Server>(c.Stack()));
            """), s_direct);
        Assert.Equal(
            "The option 'congestionControl' of the tcp device is invalid: 'cubik' is not one of its values (did you mean 'cubic'?): give one of: cubic, newreno (the congestion controller)",
            diagnostics.Message("UK0022"));
    }

    [Fact]
    public void UK0022_is_reported_on_the_socket_stack_too()
    {
        // The value is wrong whichever stack the build picks: the error does not wait for -p:UnikernelNet=direct.
        Verify(InConfigure("""
            var stack = c.Stack(tcp: c.Tcp(nagle: {|UK0022:"sometimes"|}, keepAliveProbes: {|UK0022:0|}));
            c.Register(c.Main<Server>(stack));
            """));
    }

    [Fact]
    public void UK0015_an_option_must_be_a_constant()
    {
        Verify(InConfigure("""
            var tcp = c.Tcp({|UK0015:sendBuffer: System.Environment.ProcessorCount|});
            c.Register(c.Main<Server>(c.Stack()));
            """), s_direct);
    }
}
