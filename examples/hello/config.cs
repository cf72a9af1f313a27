using Unikernel.Config;

namespace HelloAppliance;

// The unikernel's configuration: read by the source generator at compile time, never executed.
// MirageOS equivalent: register "hello" [main "Unikernel.Hello" (console @-> time @-> job) $ default_console $ default_time]
[Unikernel("hello")]
public static partial class HelloConfig
{
    static void Configure(Configuration c)
    {
        var console = c.Console();
        var time = c.Time();
        var ticks = c.Argument("ticks", 3, "How many lines to print, one a second");
        c.Register(c.Main<Hello>(console, time, ticks));
    }
}
