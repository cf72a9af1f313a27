using System.Net;
using System.Text.Json;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Net;
using Xunit.Abstractions;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>
/// Differential conformance against Linux: tcp_conformance.py (scapy) sends the same scripted segments to our stack
/// (over a tap) and to Linux's own stack (over a veth into a second namespace) and the replies are compared field by
/// field. Both sides run a listener on port 80 that accepts and holds connections without reading; port 81 is closed.
/// Needs root, /dev/net/tun and the Debian packages iproute2 and python3-scapy (for /usr/bin/python3).
/// </summary>
[Collection("LinuxPeer")]
public sealed class TcpConformanceTests(ITestOutputHelper output)
{
    private const string Python = "/usr/bin/python3";

    /// <summary>Probes where we answer differently from Linux on purpose, and why.</summary>
    private static readonly Dictionary<string, string> DeliberateDifferences = new()
    {
        // Linux stops parsing options at a length that runs past the header and still answers the SYN; we drop a
        // segment whose options are malformed (RFC 9293 §3.1 lets a receiver treat it as an error) and count it.
        ["syn_with_option_past_header"] = "malformed options are dropped, not half-parsed",
    };

    [Fact]
    public async Task Replies_to_scripted_segments_match_linux()
    {
        if (!File.Exists(Python) || LinuxLinkRun("/usr/bin/python3", "-c", "import scapy") != 0)
        {
            Assert.Fail("the conformance test needs /usr/bin/python3 with scapy (Debian package python3-scapy)");
        }
        using var link = LinuxLink.Create(output, "10.218.0.1/24");
        var linuxNamespace = link.Namespace + "l";
        var veth = "ukv" + link.TapName[3..];
        System.Diagnostics.Process? server = null;
        try
        {
            link.Run("ip", "netns", "add", linuxNamespace).Check();
            link.Run("ip", "link", "add", veth + "c", "netns", link.Namespace, "type", "veth", "peer", "name", veth + "l", "netns", linuxNamespace).Check();
            link.Run("ip", "-n", link.Namespace, "link", "set", veth + "c", "up").Check();
            link.Run("ip", "-n", linuxNamespace, "addr", "add", "10.218.1.2/24", "dev", veth + "l").Check();
            link.Run("ip", "-n", linuxNamespace, "link", "set", veth + "l", "up").Check();
            link.Run("ip", "-n", linuxNamespace, "link", "set", "lo", "up").Check();
            link.Run("ip", "netns", "exec", linuxNamespace, "sysctl", "-q", "-w", $"net.ipv6.conf.{veth}l.disable_ipv6=1");
            link.Exec("sysctl", "-q", "-w", $"net.ipv6.conf.{veth}c.disable_ipv6=1");

            using var stack = new DirectStack(link.Tap, new UnixMonotonicClock(), new UnixTime(), new UnixRandom(), "10.218.0.2/24", "");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await stack.StartAsync(timeout.Token);
            using var listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80));
            var held = new List<ITcpConnection>();
            var holding = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        held.Add(await listener.AcceptAsync(timeout.Token));
                    }
                }
                catch (OperationCanceledException)
                {
                }
            });
            server = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ip",
                ["netns", "exec", linuxNamespace, Python, "-c",
                 "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',80))\ns.listen(64)\nheld=[]\nwhile True: held.append(s.accept())"])
            { RedirectStandardError = true, RedirectStandardOutput = true });
            await Task.Delay(500, timeout.Token);

            var script = FindScript();
            var result = link.ExecWithTimeout(TimeSpan.FromSeconds(100), Python, script,
                $"ours:{link.TapName}:10.218.0.2:10.218.0.9", $"linux:{veth}c:10.218.1.2:10.218.1.9").Check();
            using var json = JsonDocument.Parse(result.Stdout);
            var ours = json.RootElement.GetProperty("ours");
            var linux = json.RootElement.GetProperty("linux");
            var agree = 0;
            var differ = new List<string>();
            foreach (var probe in linux.EnumerateObject())
            {
                var theirs = probe.Value.GetRawText();
                var mine = ours.GetProperty(probe.Name).GetRawText();
                if (theirs == mine)
                {
                    agree++;
                    output.WriteLine($"agree   {probe.Name}: {mine}");
                }
                else
                {
                    output.WriteLine($"DIFFER  {probe.Name}: ours {mine}, linux {theirs}");
                    if (!DeliberateDifferences.ContainsKey(probe.Name))
                    {
                        differ.Add($"{probe.Name}: ours {mine}, linux {theirs}");
                    }
                }
            }
            var total = linux.EnumerateObject().Count();
            output.WriteLine($"agreement: {agree} of {total} probes ({DeliberateDifferences.Count} deliberate difference(s) allowed)");
            Assert.True(total >= 21, $"only {total} probes ran");
            Assert.True(differ.Count == 0, "replies differ from Linux:\n" + string.Join('\n', differ));
            Assert.Equal(0, stack.Counters.Errors);
            await timeout.CancelAsync();
            await holding;
            foreach (var connection in held)
            {
                await connection.DisposeAsync();
            }
        }
        finally
        {
            if (server is { HasExited: false })
            {
                server.Kill();
                server.WaitForExit(5000);
            }
            server?.Dispose();
            link.Run("ip", "netns", "del", linuxNamespace);
            Assert.DoesNotContain(linuxNamespace, link.Run("ip", "netns", "list").Stdout, StringComparison.Ordinal);
        }
    }

    /// <summary>The probe script next to this file in the source tree (found from the test's output directory).</summary>
    private static string FindScript()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "tests", "Unikernel.Protocols.Tests", "Net", "tcp_conformance.py");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException("tests/Unikernel.Protocols.Tests/Net/tcp_conformance.py not found above " + AppContext.BaseDirectory);
    }

    private static int LinuxLinkRun(string file, params string[] arguments)
    {
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(file, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        if (!process.WaitForExit(20_000))
        {
            process.Kill();
            return -1;
        }
        return process.ExitCode;
    }
}
