using Unikernel.Config;

namespace OpenFlowSwitchAppliance;

// The OpenFlow switch appliance (OpenFlow 1.0 and 1.3, negotiated in hello): two ports that are raw network interfaces
// (tap devices on unix), each named by its own runtime argument, and a control channel to the controller over the
// build's stack: host sockets, or our direct stack with -p:UnikernelNet=direct (on its own interface, --interface, --ipv4).
[Unikernel("openflow-switch")]
public static partial class OpenFlowSwitchConfig
{
    static void Configure(Configuration c)
    {
        var console = c.Console();
        var clock = c.MonotonicClock();
        var time = c.Time();
        var stack = c.Stack();
        c.Register(c.Main<SwitchJob>(
            console,
            clock,
            time,
            stack,
            // The ports are wired here, not as variables: only top-level items are candidates for by-type wiring, so the
            // direct stack gets the default interface (--interface) for the control channel rather than a switch port.
            c.Network("port1", c.Argument("port1", "of1", "Interface of switch port 1 (a tap device on unix)")),
            c.Network("port2", c.Argument("port2", "of2", "Interface of switch port 2 (a tap device on unix)")),
            c.Argument("controller", "127.0.0.1:6653", "Controller to connect to, ADDRESS:PORT"),
            c.Argument("datapath-id", "", "Datapath id in hex (default: from port 1's MAC address)"),
            c.Argument("max-flows", 65536, "Flow table capacity"),
            c.Argument("listen", "", "Accept management connections (ovs-ofctl) on ADDRESS:PORT; empty: none"),
            c.Argument("log-level", "info", "Log level: debug, info, warn or error")));
    }
}
