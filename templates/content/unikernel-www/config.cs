using Unikernel.Config;

namespace UnikernelApp;

// Read by the source generator at compile time, never executed. site/ is compiled into the image (c.Crunch): the
// same files are served on unix and in a VM, with nothing to read at run time (--site DIR serves a directory instead).
[Unikernel("UnikernelApp")]
public static partial class WwwConfig
{
    static void Configure(Configuration c)
    {
        var console = c.Console();
        var stack = c.Stack();
        var clock = c.WallClock();
        var files = c.Crunch("site");
        c.Register(c.Main<WebServer>(
            console,
            stack,
            clock,
            files,
            c.Argument("address", "0.0.0.0", "Address to listen on"),
            c.Argument("port", 8080, "TCP port to listen on"),
            c.Argument("site", "", "Serve the files in this directory instead of the compiled-in ones")));
    }
}
