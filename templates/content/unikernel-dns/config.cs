using Unikernel.Config;

namespace UnikernelApp;

// Read by the source generator at compile time, never executed. The zone files are read at run time from the
// directory given by --zones (default: zones/ in the working directory), so they change without a rebuild.
[Unikernel("UnikernelApp")]
public static partial class DnsConfig
{
    static void Configure(Configuration c)
    {
        var console = c.Console();
        var stack = c.Stack();
        var zones = c.Directory(c.Argument("zones", "zones", "Directory of zone files, read at start"));
        c.Register(c.Main<DnsServer>(
            console,
            stack,
            zones,
            c.Argument("address", "0.0.0.0", "Address to listen on"),
            c.Argument("port", 53, "UDP and TCP port to listen on")));
    }
}
