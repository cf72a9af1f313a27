using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Net;
using Xunit.Abstractions;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>
/// The hostile-input defects again, over a real tap with the Linux kernel as the legitimate peer and scapy
/// (bench/net/hostile-traffic.py, Debian python3-scapy) as the attacker in the kernel's namespace. Needs root,
/// /dev/net/tun, iproute2, iputils-ping and python3-scapy; fails (never skips) without them.
/// </summary>
[Collection("LinuxPeer")]
public sealed partial class HostileTapTests(ITestOutputHelper output)
{
    private const string KernelAddress = "10.214.0.1";
    private const string StackAddress = "10.214.0.2";
    private const string Network = "10.214.0.0/24";

    private static DirectStack NewStack(LinuxLink link, string gateway = "") =>
        new(link.Tap, new UnixMonotonicClock(), new UnixTime(), new UnixRandom(), StackAddress + "/24", gateway);

    [Fact]
    public async Task Invalid_sources_get_no_answer_on_the_wire()
    {
        using var link = LinuxLink.Create(output, KernelAddress + "/24", "ping");
        using var stack = NewStack(link, KernelAddress);
        await stack.StartAsync(CancellationToken.None);
        using var socket = stack.Udp.Bind(new IPEndPoint(IPAddress.Any, 53));
        link.Exec("ping", "-c", "1", "-W", "2", StackAddress).Check(); // the link works, and the kernel knows our MAC
        var result = Scapy(link, stack, "invalid");
        var match = Summary().Match(result.Stdout);
        Assert.True(match.Success, result.Stdout + result.Stderr);
        Assert.Equal("14", match.Groups["sent"].Value);
        Assert.Equal("0", match.Groups["answers"].Value);
        Assert.Equal(14, stack.Counters.InvalidSource);
        Assert.Equal(0, stack.Counters.UdpDelivered);
    }

    [Fact]
    public async Task A_flood_from_absent_neighbours_costs_no_answers_to_the_kernel()
    {
        using var link = LinuxLink.Create(output, KernelAddress + "/24");
        using var stack = NewStack(link, KernelAddress);
        await stack.StartAsync(CancellationToken.None);
        using var server = stack.Udp.Bind(new IPEndPoint(IPAddress.Any, 7));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var echo = Task.Run(() =>
        {
            var batch = new DatagramBatch(32, 2048);
            while (server.Receive(batch, stop.Token) > 0)
            {
                server.Send(batch);
            }
        });
        using var client = link.CreateSocket(SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Parse(KernelAddress), 7000));
        client.ReceiveTimeout = 1000;
        var target = new IPEndPoint(IPAddress.Parse(StackAddress), 7);

        // 1,500 spoofed queries/s from 200 absent on-link senders for 6 s, while the kernel asks 600 times.
        var arpBefore = stack.Counters.ArpRequestsSent;
        var flood = Task.Run(() => Scapy(link, stack, "flood", "--port", "7", "--rate", "1500", "--seconds", "6"));
        await Task.Delay(500);
        var answered = 0;
        var buffer = new byte[64];
        const int Queries = 600;
        for (var i = 0; i < Queries; i++)
        {
            BitConverter.TryWriteBytes(buffer, i);
            client.SendTo(buffer.AsSpan(0, 4), target);
            try
            {
                // A late answer to an earlier query counts for that one only: read until ours or the timeout.
                while (true)
                {
                    var n = client.Receive(buffer);
                    if (n == 4 && BitConverter.ToInt32(buffer) == i)
                    {
                        answered++;
                        break;
                    }
                }
            }
            catch (SocketException exception) when (exception.SocketErrorCode == SocketError.TimedOut)
            {
            }
            await Task.Delay(8);
        }
        var flooded = await flood;
        output.WriteLine(flooded.Stdout + $"answered {answered}/{Queries}; counters: {Describe(stack.Counters)}");
        Assert.True(answered >= Queries * 99 / 100, $"{answered} of {Queries} answered");
        // Each spoofed sender's MAC came with its query, so an answer needs ARP only when 200 senders pushed that one out
        // of the 64-entry table before the answer left (before, nearly every answer cost a request, a pending entry and
        // a queue slot, and they pushed the kernel's entry out).
        var requests = stack.Counters.ArpRequestsSent - arpBefore;
        Assert.True(requests * 10 < stack.Counters.UdpDelivered, $"{requests} ARP requests for {stack.Counters.UdpDelivered} answers during the flood");
        Assert.True(stack.Counters.UdpDelivered > Queries, "the flood did not reach the stack");
        Assert.True(stack.Hooks.Arp.TryGet(IPv4Address.Parse(KernelAddress), new UnixMonotonicClock().ElapsedNanoseconds, out _), "the gateway's entry is gone");
        stop.Cancel();
        await echo.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Fragment_floods_do_not_stop_the_kernels_fragmented_pings()
    {
        using var link = LinuxLink.Create(output, KernelAddress + "/24", "ping");
        using var stack = NewStack(link);
        await stack.StartAsync(CancellationToken.None);
        link.Exec("ping", "-c", "1", "-W", "2", StackAddress).Check();
        var result = Scapy(link, stack, "fragments", "--count", "300");
        Assert.Contains("sent 600", result.Stdout, StringComparison.Ordinal);
        Assert.True(stack.Counters.FragmentsReceived >= 600, Describe(stack.Counters));
        var ping = link.Exec("ping", "-c", "5", "-i", "0.2", "-W", "2", "-s", "4000", StackAddress).Check();
        Assert.Contains("5 received", ping.Stdout, StringComparison.Ordinal);
        Assert.True(stack.Hooks.Reassembly.MemoryInUse <= stack.Hooks.Reassembly.MemoryLimit);
        Assert.True(stack.Counters.ReassemblyEvictions > 0, Describe(stack.Counters));
    }

    [Fact]
    public async Task A_tap_with_mtu_9000_carries_9000_byte_packets_unfragmented()
    {
        using var link = LinuxLink.Create(output, KernelAddress + "/24", 9000, "ping");
        link.Exec("ip", "link", "set", link.TapName, "mtu", "9000").Check();
        using var stack = NewStack(link);
        await stack.StartAsync(CancellationToken.None);
        // -M do: the kernel may not fragment, so each echo is one 8,028-byte packet each way.
        var ping = link.Exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "-M", "do", "-s", "8000", StackAddress).Check();
        Assert.Contains("3 received", ping.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, stack.Counters.FragmentsReceived + stack.Counters.FragmentsSent);
        stack.Hooks.SendEchoRequest(IPv4Address.Parse(KernelAddress), 0x9000, 1, 8900);
        Assert.True(stack.Hooks.WaitForEchoReply(0x9000, 1, TimeSpan.FromSeconds(5)), "the kernel did not answer an 8,928-byte ping");
        Assert.Equal(0, stack.Counters.FragmentsSent);
    }

    private LinuxLink.Result Scapy(LinuxLink link, DirectStack stack, string mode, params string[] extra)
    {
        RequireScapy(link);
        return link.ExecWithTimeout(TimeSpan.FromSeconds(60), ["/usr/bin/python3", ScriptPath, mode, "--iface", link.TapName, "--dst", StackAddress,
            "--dst-mac", stack.MacAddress.ToString(), "--network", Network, .. extra]).Check();
    }

    private static void RequireScapy(LinuxLink link)
    {
        var probe = link.Exec("/usr/bin/python3", "-c", "import scapy.all");
        Assert.True(probe.ExitCode == 0, "these tests need scapy under /usr/bin/python3 (Debian package python3-scapy): " + probe.Stderr);
    }

    /// <summary>bench/net/hostile-traffic.py in the repository this test was built from.</summary>
    private static string ScriptPath
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                var path = Path.Combine(directory.FullName, "bench", "net", "hostile-traffic.py");
                if (File.Exists(path))
                {
                    return path;
                }
            }
            Assert.Fail("bench/net/hostile-traffic.py not found above " + AppContext.BaseDirectory);
            return "";
        }
    }

    private static string Describe(DirectStackCounters c) =>
        $"rx {c.FramesReceived}, tx {c.FramesSent}, delivered {c.UdpDelivered}, queue drops {c.UdpQueueDrops}, invalid {c.InvalidSource}, " +
        $"arp requests {c.ArpRequestsSent}, arp queue drops {c.ArpQueueDrops}, fragments {c.FragmentsReceived}, evictions {c.ReassemblyEvictions}, errors {c.Errors}";

    [GeneratedRegex(@"sent (?<sent>\d+) answers (?<answers>\d+)")]
    private static partial Regex Summary();
}
