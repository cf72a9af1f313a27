using Unikernel.Config;

namespace IperfAppliance;

// The iperf3 appliance: a network stack (host sockets, or our direct stack with -p:UnikernelNet=direct) and the
// iperf3 server job over it. The direct stack's TCP buffers are the tcp device's defaults (256 KiB each way).
[Unikernel("iperf")]
public static partial class IperfConfig
{
    static void Configure(Configuration c)
    {
        var console = c.Console();
        var stack = c.Stack();
        c.Register(c.Main<IperfJob>(
            console,
            stack,
            c.Argument("address", "0.0.0.0", "Address to listen on"),
            c.Argument("port", 5201, "TCP port of the control connection and the streams (iperf3's 5201)"),
            c.Argument("max-duration", 3600, "Longest test in seconds (-t), also the bound on a test by bytes (-n) or blocks (-k)"),
            c.Argument("max-streams", 128, "Most parallel streams (-P) of one test, 1 to 128"),
            c.Argument("log-level", "info", "Log level: debug, info (one line per test), warn or error")));
    }
}
