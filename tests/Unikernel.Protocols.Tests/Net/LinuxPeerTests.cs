using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Net;
using Xunit.Abstractions;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>
/// The Linux kernel as the real peer: a tap device whose netdev sits in a namespace the test creates. Needs root,
/// /dev/net/tun, iproute2, iputils-ping and dnsmasq; fails (does not skip) without them.
/// </summary>
[Collection("LinuxPeer")]
public sealed partial class LinuxPeerTests(ITestOutputHelper output)
{
    private const string KernelAddress = "10.213.0.1";
    private const string StackAddress = "10.213.0.2";

    private static DirectStack NewStack(LinuxLink link, string ipv4) =>
        new(link.Tap, new UnixMonotonicClock(), new UnixTime(), new UnixRandom(), ipv4, "");

    [Fact]
    public async Task Kernel_resolves_us_with_arp_and_pings_us_including_fragmented_pings()
    {
        using var link = LinuxLink.Create(output, KernelAddress + "/24", "ping");
        using var stack = NewStack(link, StackAddress + "/24");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await stack.StartAsync(timeout.Token);

        var ping = link.Exec("ping", "-c", "10", "-i", "0.1", "-W", "2", StackAddress).Check();
        Assert.Contains("10 received", ping.Stdout, StringComparison.Ordinal);
        output.WriteLine("RTT: " + RttLine().Match(ping.Stdout).Value);
        var neighbour = link.Exec("ip", "neigh", "show", StackAddress).Check();
        Assert.Contains(stack.MacAddress.ToString(), neighbour.Stdout, StringComparison.OrdinalIgnoreCase);

        var big = link.Exec("ping", "-c", "10", "-i", "0.1", "-W", "2", "-s", "4000", StackAddress).Check();
        Assert.Contains("10 received", big.Stdout, StringComparison.Ordinal);
        output.WriteLine("RTT (-s 4000): " + RttLine().Match(big.Stdout).Value);
        Assert.True(stack.Counters.Reassembled >= 3, $"reassembled {stack.Counters.Reassembled}");
        Assert.True(stack.Counters.FragmentsSent >= 9, $"fragments sent {stack.Counters.FragmentsSent}");

        stack.Hooks.SendEchoRequest(IPv4Address.Parse(KernelAddress), 0x5151, 1, 4000);
        Assert.True(stack.Hooks.WaitForEchoReply(0x5151, 1, TimeSpan.FromSeconds(5)), "the kernel did not answer our fragmented ping");
        Assert.Equal(0, stack.Counters.Errors);
    }

    [Fact]
    public async Task Udp_echo_with_a_kernel_socket_and_port_unreachable()
    {
        using var link = LinuxLink.Create(output, KernelAddress + "/24");
        using var stack = NewStack(link, StackAddress + "/24");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await stack.StartAsync(timeout.Token);
        using var kernel = link.CreateSocket(SocketType.Dgram, ProtocolType.Udp);
        kernel.Bind(new IPEndPoint(IPAddress.Parse(KernelAddress), 7777));
        kernel.ReceiveTimeout = 5000;
        using var ours = stack.Udp.Bind(new IPEndPoint(IPAddress.Any, 5000));
        var kernelPeer = DatagramPeer.FromEndPoint(new IPEndPoint(IPAddress.Parse(KernelAddress), 7777));
        var receive = new DatagramBatch(4, 65536);
        var buffer = new byte[65536];
        foreach (var size in new[] { 5, 1472, 3000, 20000 })
        {
            var payload = new byte[size];
            new Random(size).NextBytes(payload);
            var send = new DatagramBatch(1, size);
            send.TryAdd(payload, kernelPeer);
            Assert.Equal(1, ours.Send(send));
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            var n = kernel.ReceiveFrom(buffer, ref from);
            Assert.Equal(size, n);
            Assert.True(buffer.AsSpan(0, n).SequenceEqual(payload));
            Assert.Equal(new IPEndPoint(IPAddress.Parse(StackAddress), 5000), from);
            kernel.SendTo(buffer.AsSpan(0, n), from);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            Assert.Equal(1, ours.Receive(receive, wait.Token));
            Assert.True(receive.Datagram(0).SequenceEqual(payload), $"echo of {size} bytes");
            Assert.Equal(new IPEndPoint(IPAddress.Parse(KernelAddress), 7777), receive.Peer(0).ToEndPoint());
        }

        // A datagram to a closed port comes back as ICMP port unreachable: the kernel reports "connection refused".
        using var probe = link.CreateSocket(SocketType.Dgram, ProtocolType.Udp);
        probe.ReceiveTimeout = 5000;
        probe.Connect(new IPEndPoint(IPAddress.Parse(StackAddress), 9));
        probe.Send("ping"u8);
        var error = Assert.Throws<SocketException>(() => probe.Receive(buffer));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.Equal(1, stack.Counters.UnreachablesSent);
    }

    [Fact]
    public async Task Dhcp_lease_from_dnsmasq_and_renewal()
    {
        using var link = LinuxLink.Create(output, KernelAddress + "/24", "dnsmasq", "ping");
        var directory = Directory.CreateTempSubdirectory("uk-dnsmasq-");
        try
        {
            var dnsmasq = link.StartInNamespace(
                "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root", "--group=root",
                "--interface=" + link.TapName, "--bind-interfaces",
                "--dhcp-range=10.213.0.50,10.213.0.60,255.255.255.0,2m",
                "--dhcp-option=option:router," + KernelAddress,
                "--dhcp-option=option:T1,3", "--dhcp-option=option:T2,100",
                "--dhcp-leasefile=" + Path.Combine(directory.FullName, "leases"),
                "--pid-file=" + Path.Combine(directory.FullName, "pid"),
                "--log-dhcp", "--log-facility=-");
            var log = dnsmasq.StandardError.ReadToEndAsync();
            try
            {
                using var stack = NewStack(link, "");
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(40));
                await stack.StartAsync(timeout.Token);
                var address = IPv4Address.Format(stack.Address);
                output.WriteLine("leased " + address);
                Assert.Matches(@"^10\.213\.0\.(5\d|60)$", address);
                var lease = stack.Hooks.Dhcp!.Lease;
                Assert.Equal(IPv4Address.Parse(KernelAddress), lease.Router);
                Assert.Equal(IPv4Address.Parse(KernelAddress), lease.Server);
                Assert.Equal(120u, lease.LeaseSeconds);
                Assert.Equal(3u, lease.RenewalSeconds);
                link.Exec("ping", "-c", "2", "-i", "0.2", "-W", "2", address).Check();

                // T1 = 3 s: the client renews by unicast to the server.
                var deadline = DateTime.UtcNow.AddSeconds(20);
                while (stack.Hooks.Dhcp.Acks < 3 && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(200);
                }
                Assert.True(stack.Hooks.Dhcp.Acks >= 3, $"renewals acknowledged: {stack.Hooks.Dhcp.Acks - 1} (state {stack.Hooks.Dhcp.State})");
                Assert.Equal(address, IPv4Address.Format(stack.Address));
                Assert.Contains(stack.MacAddress.ToString(), File.ReadAllText(Path.Combine(directory.FullName, "leases")), StringComparison.OrdinalIgnoreCase);
            }
            finally
            {
                dnsmasq.Kill();
                using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await dnsmasq.WaitForExitAsync(exit.Token);
                output.WriteLine(await log);
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [GeneratedRegex(@"rtt min/avg/max/mdev = \S+ ms")]
    private static partial Regex RttLine();
}

[CollectionDefinition("LinuxPeer", DisableParallelization = true)]
public sealed class LinuxPeerCollection;
