using Unikernel.Config;

namespace OpenFlowControllerAppliance;

// The OpenFlow controller appliance: a MAC-learning switch application over TCP (host sockets, or our direct stack
// with -p:UnikernelNet=direct: --interface, --ipv4), serving many switches at once.
[Unikernel("openflow-controller")]
public static partial class OpenFlowControllerConfig
{
    static void Configure(Configuration c)
    {
        var console = c.Console();
        var stack = c.Stack();
        c.Register(c.Main<ControllerJob>(
            console,
            stack,
            c.Argument("address", "0.0.0.0", "Address to listen on for switches"),
            c.Argument("port", 6653, "TCP port to listen on for switches"),
            c.Argument("idle-timeout", 10, "Idle timeout (seconds) of the flows we install"),
            c.Argument("hard-timeout", 60, "Hard timeout (seconds) of the flows we install"),
            c.Argument("max-switches", 1024, "Switches served at once"),
            c.Argument("max-macs", 4096, "MAC addresses learned per switch"),
            c.Argument("log-level", "info", "Log level: debug, info, warn or error")));
    }
}
