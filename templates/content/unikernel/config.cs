using Unikernel.Config;

namespace UnikernelApp;

// Read by the source generator at compile time, never executed: which devices the appliance gets, and how they
// are wired into the job. The name is the image's file name (dist/unix/UnikernelApp) and the name in --help.
[Unikernel("UnikernelApp")]
public static partial class AppConfig
{
    static void Configure(Configuration c)
    {
        var console = c.Console();
        var time = c.Time();
        var who = c.Argument("who", "world", "Whom to greet");
        var times = c.Argument("times", 3, "How many greetings, one a second");
        c.Register(c.Main<App>(console, time, who, times));
    }
}
