using Unikernel.Config;

namespace ForbiddenAppliance;

// The network stack is there so that the direct-stack build (-p:UnikernelNet=direct) has no socket() in its list.
[Unikernel("forbidden")]
public static partial class ForbiddenConfig
{
    static void Configure(Configuration c)
    {
        var console = c.Console();
        var stack = c.Stack();
        c.Register(c.Main<ForbiddenJob>(
            console,
            stack,
            c.Argument("try", "", "The call to try after start: execve, openat, socket, ptrace, write-socket (write(2) on a socket opened after start) or write-fd (write(2) on fd 1000) (empty: none, wait to be stopped)"),
            c.Argument("marker", "", "A file that the tried action would write (the shell of execve, or the copy of /etc/passwd)"),
            c.Argument("peer", "", "ADDRESS:PORT that write-socket sends its datagram to")));
    }
}
