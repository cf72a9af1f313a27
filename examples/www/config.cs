using Unikernel.Config;

namespace WwwAppliance;

// The web appliance: a network stack (host sockets, or our direct stack with -p:UnikernelNet=direct), a wall clock
// for Date and Last-Modified, the site compiled into the image, and the web job over them.
[Unikernel("www")]
public static partial class WwwConfig
{
    static void Configure(Configuration c)
    {
        var console = c.Console();
        var stack = c.Stack();
        var clock = c.WallClock();
        var files = c.Crunch("site");
        c.Register(c.Main<WwwJob>(
            console,
            stack,
            clock,
            files,
            c.Argument("address", "0.0.0.0", "Address to listen on"),
            c.Argument("port", 8080, "TCP port to listen on"),
            c.Argument("site", "", "Serve the files in this directory instead of the compiled-in ones"),
            c.Argument("echo", false, "Enable the test routes POST /echo (returns the body) and GET /headers (returns the request's fields)"),
            c.Argument("max-connections", 1024, "Connections served at once"),
            c.Argument("log-level", "warn", "Log level: debug, info (one line per request), warn or error")));
    }
}
