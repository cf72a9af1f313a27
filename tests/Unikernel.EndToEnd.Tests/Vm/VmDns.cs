namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>
/// Boots a DNS appliance image under QEMU in a test-made namespace and queries it with dig from the namespace's
/// side while it boots: UDP until answered (or the boot timeout), then TCP. The VM serves until killed, so QEMU is
/// stopped once the queries are done. Every wait is bounded.
/// </summary>
public static class VmDns
{
    public const string UdpOnlyLog = "dns: warning: serving UDP only";

    public sealed record Outcome(VmProcess Run, string? Udp, string? Tcp, bool UdpOnly, IReadOnlyList<string> Command);

    public static Outcome BootAndQuery(string image, NetnsTap net, string server, IEnumerable<string> runOptions,
        IEnumerable<string> applianceArguments, TimeSpan bootTimeout)
    {
        VmTools.Require("qemu-system-x86_64", "ip", "dig", "timeout");
        using var stop = new CancellationTokenSource();
        var udpOnly = false;
        string? udp = null, tcp = null;
        var digger = new Thread(() =>
        {
            // Bounded: until both transports were tried or the boot timeout; each dig waits at most 2 s.
            var deadline = DateTime.UtcNow + bootTimeout - TimeSpan.FromSeconds(10);
            while (DateTime.UtcNow < deadline && !stop.IsCancellationRequested && udp is null)
            {
                udp = Dig(net, server, "");
            }
            // The appliance says at start-up whether it serves TCP (the direct stack has no TCP yet): then one try
            // shows that nothing answers; otherwise retry until TCP answers too.
            for (var attempt = 0; udp is not null && tcp is null && attempt < (Volatile.Read(ref udpOnly) ? 1 : 10); attempt++)
            {
                tcp = Dig(net, server, "+tcp");
            }
            stop.Cancel();
        });
        digger.Start();

        var command = new List<string>(net.ExecPrefix) { Path.Combine(image, "run-qemu.sh") };
        command.AddRange(runOptions);
        command.Add("--");
        command.AddRange(applianceArguments);
        var run = VmProcess.Run(command[0], command.Skip(1), bootTimeout, image,
            onLine: line =>
            {
                if (line.Text.Contains(UdpOnlyLog, StringComparison.Ordinal))
                {
                    Volatile.Write(ref udpOnly, true);
                }
            },
            stop: stop.Token);
        stop.Cancel();
        Assert.True(digger.Join(TimeSpan.FromSeconds(60)), "the dig thread did not finish");
        return new Outcome(run, udp, tcp, Volatile.Read(ref udpOnly), command);
    }

    /// <summary>One dig (+time=2 +tries=1) from inside the namespace; the output when it got an answer, else null.</summary>
    public static string? Dig(NetnsTap net, string server, string transport)
    {
        var arguments = new List<string>
        {
            "netns", "exec", net.Namespace, "dig", $"@{server}", "www.example.org", "A", "+time=2", "+tries=1",
        };
        if (transport.Length > 0)
        {
            arguments.Add(transport);
        }
        var run = VmProcess.Run("ip", arguments, TimeSpan.FromSeconds(15));
        return run.ExitCode == 0 && run.Output.Contains("status:", StringComparison.Ordinal) ? run.Output : null;
    }

    /// <summary>The answer the example zone gives: NOERROR, authoritative, 192.0.2.80.</summary>
    public static void AssertExampleAnswer(string? answer, string transport)
    {
        Assert.True(answer is not null, $"no answer over {transport}");
        Assert.Contains("status: NOERROR", answer, StringComparison.Ordinal);
        var flags = answer.Split('\n').First(line => line.Contains("flags:", StringComparison.Ordinal));
        Assert.Contains(" aa", flags, StringComparison.Ordinal);
        Assert.Contains("192.0.2.80", answer, StringComparison.Ordinal);
        Assert.Contains($"({transport})", answer, StringComparison.Ordinal);
    }
}
