using System.Net;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.Net;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>
/// The defects an outside probe found (spoofed and invalid sources, neighbour-table and reassembly exhaustion, a vanished
/// interface, ARP corner cases), each fed to a stack on a virtual switch on virtual time; every one failed before the fix.
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly MacAddress Attacker = new(0x02000000AA01);
    private readonly VirtualSwitch _switch = new(seed: 7);
    private readonly VirtualClock _clock = new() { AutoAdvance = false };
    private readonly List<IDisposable> _disposables = [];
    private readonly List<byte[]> _frames = [];

    public HostileInputTests()
    {
        _switch.Tap = frame =>
        {
            lock (_frames)
            {
                _frames.Add(frame.ToArray());
            }
        };
    }

    public void Dispose()
    {
        for (var i = _disposables.Count - 1; i >= 0; i--)
        {
            _disposables[i].Dispose();
        }
        _switch.Dispose();
    }

    private DirectStack Start(string ipv4, string gateway = "", ulong seed = 1, INetworkInterface? port = null)
    {
        port ??= _switch.AddPort();
        var stack = new DirectStack(port, _clock, _clock, new SeededRandom(seed), ipv4, gateway);
        _disposables.Add(port);
        _disposables.Add(stack);
        Finish(stack.StartAsync(CancellationToken.None));
        return stack;
    }

    private static void Finish(Job job) => Assert.True(job.AsTask().Wait(Wait), "task did not finish in time");

    /// <summary>The frames <paramref name="stack"/> sent since the last call (clears the capture).</summary>
    private List<byte[]> SentBy(DirectStack stack)
    {
        lock (_frames)
        {
            var sent = _frames.Where(f => Frames.Source(f) == stack.MacAddress).ToList();
            _frames.Clear();
            return sent;
        }
    }

    private static uint Ip(string text) => IPv4Address.Parse(text);

    private static ushort IcmpType(byte[] frame) => frame[EthernetFrame.HeaderLength + IPv4Repr.HeaderLength];

    [Fact]
    public void Datagrams_from_invalid_sources_are_not_answered()
    {
        var b = Start("10.0.0.2/24", "10.0.0.254");
        using var socket = b.Udp.Bind(new IPEndPoint(IPAddress.Any, 53));
        SentBy(b);
        string[] sources = ["255.255.255.255", "10.0.0.255", "224.0.0.1", "0.0.0.0", "127.0.0.1", "10.0.0.2", "240.0.0.9"];
        ushort sequence = 0;
        foreach (var source in sources)
        {
            b.Hooks.ProcessFrame(Frames.EchoRequest(b.MacAddress, Attacker, Ip(source), b.Address, 1, sequence++));
            b.Hooks.ProcessFrame(Frames.Udp(b.MacAddress, Attacker, Ip(source), b.Address, 4000, 53, "query"u8));
            b.Hooks.ProcessFrame(Frames.Udp(b.MacAddress, Attacker, Ip(source), b.Address, 4000, 9, "closed port"u8));
        }
        Assert.Empty(SentBy(b)); // no echo reply, no port unreachable, no ARP (for ourselves, or for 127.0.0.1's gateway)
        Assert.Equal(3 * sources.Length, b.Counters.InvalidSource);
        Assert.Equal(0, b.Counters.EchoRepliesSent + b.Counters.UdpDelivered + b.Counters.UnreachablesSent);

        // The same from a valid on-link source is answered, so the capture above could have seen answers.
        b.Hooks.ProcessFrame(Frames.EchoRequest(b.MacAddress, Attacker, Ip("10.0.0.9"), b.Address, 1, sequence));
        Assert.Contains(SentBy(b), f => Frames.IsIPv4(f) && IcmpType(f) == Protocols.Net.IcmpType.EchoReply);
    }

    [Fact]
    public void An_answer_to_an_on_link_sender_needs_no_arp_and_learning_never_changes_a_known_mac()
    {
        var b = Start("10.0.0.2/24");
        SentBy(b);
        b.Hooks.ProcessFrame(Frames.EchoRequest(b.MacAddress, Attacker, Ip("10.0.0.9"), b.Address, 1, 1));
        var reply = Assert.Single(SentBy(b));
        Assert.True(Frames.IsIPv4(reply));
        Assert.Equal(Attacker, Frames.Destination(reply));
        Assert.Equal(0, b.Counters.ArpRequestsSent - 1); // only the gratuitous ARP at start

        // A real neighbour, resolved by ARP: a spoofed frame with its address does not redirect its traffic.
        var a = Start("10.0.0.1/24", seed: 2);
        b.Hooks.SendEchoRequest(a.Address, 2, 1, 8);
        Assert.True(b.Hooks.WaitForEchoReply(2, 1, Wait));
        Assert.True(b.Hooks.Arp.IsConfirmed(a.Address));
        b.Hooks.ProcessFrame(Frames.EchoRequest(b.MacAddress, Attacker, a.Address, b.Address, 3, 1));
        Assert.True(b.Hooks.Arp.TryGet(a.Address, _clock.ElapsedNanoseconds, out var mac));
        Assert.Equal(a.MacAddress, mac);
    }

    [Fact]
    public void The_gateway_and_confirmed_neighbours_survive_floods_of_resolutions_and_arp_requests()
    {
        var b = Start("10.0.0.2/16", "10.0.0.254");
        var a = Start("10.0.0.1/16", seed: 2);
        var router = Start("10.0.0.254/16", seed: 3);
        b.Hooks.SendEchoRequest(router.Address, 1, 1, 8);
        Assert.True(b.Hooks.WaitForEchoReply(1, 1, Wait));
        b.Hooks.SendEchoRequest(a.Address, 1, 2, 8);
        Assert.True(b.Hooks.WaitForEchoReply(1, 2, Wait));

        // Answers to 200 absent on-link hosts (as to spoofed queries whose sender MAC we could not learn)…
        for (var i = 0; i < 200; i++)
        {
            b.Hooks.SendEchoRequest(Ip("10.0.1.10") + (uint)i, 5, (ushort)i, 8);
        }
        // …and ARP requests for us from 200 senders.
        for (var i = 0; i < 200; i++)
        {
            var sender = new MacAddress(0x020000001000 + (ulong)i);
            b.Hooks.ProcessFrame(Frames.Arp(MacAddress.Broadcast, sender, ArpOperation.Request, sender, Ip("10.0.2.10") + (uint)i, default, b.Address));
        }
        var now = _clock.ElapsedNanoseconds;
        Assert.True(b.Hooks.Arp.TryGet(router.Address, now, out var gatewayMac), "the gateway was evicted");
        Assert.Equal(router.MacAddress, gatewayMac);
        Assert.True(b.Hooks.Arp.TryGet(a.Address, now, out _), "a confirmed neighbour was evicted");
        Assert.Equal(b.Hooks.Arp.Capacity, b.Hooks.Arp.Count + PendingEntries(b));
        Assert.True(PendingEntries(b) <= b.Hooks.Arp.Capacity / 2);

        // And the neighbours still answer at once, with no ARP.
        var requests = b.Counters.ArpRequestsSent;
        b.Hooks.SendEchoRequest(IPv4Address.Parse("192.0.2.1"), 6, 1, 8);
        b.Hooks.SendEchoRequest(a.Address, 6, 2, 8);
        Assert.True(b.Hooks.WaitForEchoReply(6, 2, Wait));
        Assert.Equal(requests, b.Counters.ArpRequestsSent);
    }

    private static int PendingEntries(DirectStack stack)
    {
        var arp = stack.Hooks.Arp;
        var count = 0;
        for (var i = 0; i < 256; i++)
        {
            var address = Ip("10.0.1.0") + (uint)i;
            count += arp.Contains(address) && !arp.TryGet(address, long.MinValue, out _) ? 1 : 0;
        }
        return count;
    }

    [Fact]
    public void Arp_sends_three_requests_a_second_apart_then_gives_up_and_queues_at_most_16_frames_a_destination_64_in_all()
    {
        var b = Start("10.0.0.2/24");
        SentBy(b);
        var absent = Ip("10.0.0.99");
        b.Hooks.SendEchoRequest(absent, 1, 0, 8);
        int Requests() => SentBy(b).Count(f => Frames.IsArp(f) && ArpRepr.TryParse(f.AsSpan(EthernetFrame.HeaderLength), out var arp)
            && arp.Operation == ArpOperation.Request && arp.TargetProtocolAddress == absent);
        Assert.Equal(1, Requests());
        _clock.Advance(TimeSpan.FromMilliseconds(999));
        b.Hooks.Poll();
        Assert.Equal(0, Requests());
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        b.Hooks.Poll();
        Assert.Equal(1, Requests());
        _clock.Advance(TimeSpan.FromSeconds(1));
        b.Hooks.Poll();
        Assert.Equal(1, Requests());
        Assert.Equal(0, b.Counters.ArpFailures);
        _clock.Advance(TimeSpan.FromSeconds(1));
        b.Hooks.Poll();
        Assert.Equal(0, Requests());
        Assert.Equal(1, b.Counters.ArpFailures);
        Assert.Equal(1, b.Counters.ArpQueueDrops);
        _clock.Advance(TimeSpan.FromSeconds(10));
        b.Hooks.Poll();
        Assert.Equal(0, Requests());

        // Per destination at most 16 frames; 64 in all.
        var drops = b.Counters.ArpQueueDrops;
        for (var destination = 0; destination < 4; destination++)
        {
            for (var i = 0; i < 17; i++)
            {
                b.Hooks.SendEchoRequest(Ip("10.0.0.100") + (uint)destination, 2, (ushort)((destination * 100) + i), 8);
            }
        }
        Assert.Equal(64, b.Hooks.Arp.PendingFrames);
        Assert.Equal(drops + 4, b.Counters.ArpQueueDrops);
        b.Hooks.SendEchoRequest(Ip("10.0.0.104"), 2, 999, 8);
        Assert.Equal(64, b.Hooks.Arp.PendingFrames);
        Assert.Equal(drops + 5, b.Counters.ArpQueueDrops);

        // The answer for one destination releases its 16 frames, to its MAC.
        var host = new MacAddress(0x020000000100);
        SentBy(b);
        b.Hooks.ProcessFrame(Frames.Arp(b.MacAddress, host, ArpOperation.Reply, host, Ip("10.0.0.100"), b.MacAddress, b.Address));
        Assert.Equal(16, SentBy(b).Count(f => Frames.IsIPv4(f) && Frames.Destination(f) == host));
        Assert.Equal(48, b.Hooks.Arp.PendingFrames);
    }

    [Fact]
    public void Unsolicited_replies_and_group_senders_add_nothing_and_get_no_answer()
    {
        var b = Start("10.0.0.2/24");
        SentBy(b);
        var host = new MacAddress(0x020000000150);
        b.Hooks.ProcessFrame(Frames.Arp(b.MacAddress, host, ArpOperation.Reply, host, Ip("10.0.0.50"), b.MacAddress, b.Address));
        Assert.False(b.Hooks.Arp.Contains(Ip("10.0.0.50")));

        // A request "from" the broadcast or a multicast MAC would have us reply to every station.
        b.Hooks.ProcessFrame(Frames.Arp(MacAddress.Broadcast, host, ArpOperation.Request, MacAddress.Broadcast, Ip("10.0.0.51"), default, b.Address));
        b.Hooks.ProcessFrame(Frames.Arp(MacAddress.Broadcast, host, ArpOperation.Request, new MacAddress(0x01005E000001), Ip("10.0.0.52"), default, b.Address));
        b.Hooks.ProcessFrame(Frames.Arp(MacAddress.Broadcast, new MacAddress(0x01005E000001), ArpOperation.Request, host, Ip("10.0.0.53"), default, b.Address));
        Assert.Empty(SentBy(b));
        Assert.Equal(0, b.Counters.ArpRepliesSent);
        Assert.Equal(3, b.Counters.InvalidSource);

        // An ordinary request is answered (to its sender) and remembered.
        b.Hooks.ProcessFrame(Frames.Arp(MacAddress.Broadcast, host, ArpOperation.Request, host, Ip("10.0.0.54"), default, b.Address));
        var reply = Assert.Single(SentBy(b));
        Assert.Equal(host, Frames.Destination(reply));
        Assert.True(b.Hooks.Arp.Contains(Ip("10.0.0.54")));
    }

    [Fact]
    public void A_gratuitous_arp_claiming_our_address_is_logged_and_defended_once_per_ten_seconds()
    {
        var b = Start("10.0.0.2/24");
        var log = new List<string>();
        b.Hooks.Log = line => log.Add(line);
        SentBy(b);
        var claim = Frames.Arp(MacAddress.Broadcast, Attacker, ArpOperation.Request, Attacker, b.Address, default, b.Address);
        b.Hooks.ProcessFrame(claim);
        var line = Assert.Single(log);
        Assert.Contains("address conflict", line, StringComparison.Ordinal);
        Assert.Contains(Attacker.ToString(), line, StringComparison.Ordinal);
        bool IsAnnouncement(byte[] f) => Frames.IsArp(f) && ArpRepr.TryParse(f.AsSpan(EthernetFrame.HeaderLength), out var arp)
            && arp.SenderProtocolAddress == b.Address && arp.TargetProtocolAddress == b.Address && arp.SenderHardwareAddress == b.MacAddress;
        Assert.Single(SentBy(b), IsAnnouncement);
        Assert.False(b.Hooks.Arp.Contains(b.Address));

        b.Hooks.ProcessFrame(claim);
        Assert.Empty(SentBy(b));
        Assert.Single(log);
        _clock.Advance(TimeSpan.FromSeconds(10));
        b.Hooks.ProcessFrame(claim);
        Assert.Single(SentBy(b), IsAnnouncement);
        Assert.Equal(2, log.Count);
        Assert.Equal(3, b.Counters.ArpConflicts);
    }

    [Fact]
    public void First_fragments_from_many_senders_do_not_disable_reassembly()
    {
        var b = Start("10.0.0.2/24");
        using var socket = b.Udp.Bind(new IPEndPoint(IPAddress.Any, 7));
        for (var i = 0; i < 300; i++)
        {
            // 50-byte first fragments (48 bytes of data), each from another spoofed on-link sender.
            b.Hooks.ProcessFrame(Frames.IPv4(b.MacAddress, Attacker, Ip("10.0.0.10") + (uint)(i % 200), b.Address, IPProtocol.Udp, new byte[48], (ushort)i, moreFragments: true));
        }
        Assert.True(b.Hooks.Reassembly.InProgress <= Reassembler.MaxDatagrams);
        SendFragmented(b, Ip("10.0.0.1"), new MacAddress(0x020000000001), 1000, 5000);
        AssertReceived(socket, 5000);
        Assert.Equal(1, b.Counters.Reassembled);
        Assert.True(b.Counters.ReassemblyEvictions >= 300 - Reassembler.MaxDatagrams);
    }

    [Fact]
    public void One_sender_cannot_starve_the_others_of_reassembly_memory()
    {
        var b = Start("10.0.0.2/24");
        using var socket = b.Udp.Bind(new IPEndPoint(IPAddress.Any, 7));
        var legitimate = Ip("10.0.0.1");
        var legitimateMac = new MacAddress(0x020000000001);
        var payload = Udp(legitimate, b.Address, 3000);
        // The legitimate datagram's first half…
        b.Hooks.ProcessFrame(Frames.IPv4(b.MacAddress, legitimateMac, legitimate, b.Address, IPProtocol.Udp, payload.AsSpan(0, 1480), 77, moreFragments: true));
        // …then one sender floods with 1,000 big first fragments (1480 bytes each: far more than the memory)…
        for (var i = 0; i < 1000; i++)
        {
            b.Hooks.ProcessFrame(Frames.IPv4(b.MacAddress, Attacker, Ip("10.0.0.66"), b.Address, IPProtocol.Udp, new byte[1480], (ushort)i, moreFragments: true));
            Assert.True(b.Hooks.Reassembly.MemoryInUse <= b.Hooks.Reassembly.MemoryLimit);
        }
        Assert.True(b.Hooks.Reassembly.InProgress <= (Reassembler.MaxDatagrams / 4) + 1, $"{b.Hooks.Reassembly.InProgress} in progress");
        // …and the rest of the legitimate datagram still completes it.
        b.Hooks.ProcessFrame(Frames.IPv4(b.MacAddress, legitimateMac, legitimate, b.Address, IPProtocol.Udp, payload.AsSpan(1480), 77, fragmentOffset: 1480));
        AssertReceived(socket, 3000 - UdpPacket.HeaderLength);
    }

    [Fact]
    public void A_reassembled_datagram_over_65535_bytes_is_dropped()
    {
        var b = Start("10.0.0.2/24");
        using var socket = b.Udp.Bind(new IPEndPoint(IPAddress.Any, 7));
        var sender = Ip("10.0.0.1");
        var mac = new MacAddress(0x020000000001);
        // 65,512 bytes of data: with a 20-byte header 65,532 bytes (fine), with a 24-byte header 65,536 (one too many).
        var payload = Udp(sender, b.Address, 65512, checksum: false);
        void Send(int optionWords, ushort id)
        {
            for (var offset = 0; offset < payload.Length; offset += 1480)
            {
                var length = Math.Min(1480, payload.Length - offset);
                var more = offset + length < payload.Length;
                b.Hooks.ProcessFrame(optionWords == 0
                    ? Frames.IPv4(b.MacAddress, mac, sender, b.Address, IPProtocol.Udp, payload.AsSpan(offset, length), id, more, offset)
                    : Frames.IPv4WithOptions(b.MacAddress, mac, sender, b.Address, IPProtocol.Udp, payload.AsSpan(offset, length), id, more, offset, optionWords));
            }
        }
        Send(1, 1);
        Assert.Equal(0, b.Counters.Reassembled);
        Assert.True(b.Counters.ReassemblyDrops > 0);
        Assert.Equal(0, b.Hooks.Reassembly.InProgress);
        Send(0, 2);
        Assert.Equal(1, b.Counters.Reassembled);
        AssertReceived(socket, 65512 - UdpPacket.HeaderLength);
    }

    [Fact]
    public void Nothing_is_sent_to_udp_port_zero()
    {
        var b = Start("10.0.0.2/24");
        using var socket = b.Udp.Bind(new IPEndPoint(IPAddress.Any, 53));
        SentBy(b);
        b.Hooks.ProcessFrame(Frames.Udp(b.MacAddress, Attacker, Ip("10.0.0.9"), b.Address, 0, 53, "query from port 0"u8));
        var batch = new DatagramBatch(4, 2048);
        using var timeout = new CancellationTokenSource(Wait);
        Assert.Equal(1, socket.Receive(batch, timeout.Token));
        Assert.Equal(0, batch.Peer(0).Port);
        Assert.Equal(0, socket.Send(batch)); // an answer to port 0 is refused, as Linux refuses sendto port 0
        Assert.Equal(1, b.Counters.SendErrors);
        Assert.Empty(SentBy(b));
    }

    [Fact]
    public void A_socket_queue_holds_512_datagrams_and_counts_the_rest_as_drops()
    {
        var b = Start("10.0.0.2/24");
        using var socket = b.Udp.Bind(new IPEndPoint(IPAddress.Any, 53));
        var data = new byte[4];
        for (var i = 0; i < 600; i++)
        {
            BitConverter.TryWriteBytes(data, i);
            b.Hooks.ProcessFrame(Frames.Udp(b.MacAddress, Attacker, Ip("10.0.0.9"), b.Address, 4000, 53, data));
        }
        Assert.Equal(DirectUdpSocket.QueueCapacity, b.Counters.UdpDelivered);
        Assert.Equal(600 - DirectUdpSocket.QueueCapacity, b.Counters.UdpQueueDrops);
        var batch = new DatagramBatch(64, 64);
        var received = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        while (socket.Receive(batch, timeout.Token) > 0)
        {
            for (var i = 0; i < batch.Count; i++)
            {
                Assert.Equal(received++, BitConverter.ToInt32(batch.Datagram(i)));
            }
        }
        Assert.Equal(DirectUdpSocket.QueueCapacity, received); // the first 512, in order; the last 88 were dropped
        b.Hooks.ProcessFrame(Frames.Udp(b.MacAddress, Attacker, Ip("10.0.0.9"), b.Address, 4000, 53, data));
        Assert.Equal(DirectUdpSocket.QueueCapacity + 1, b.Counters.UdpDelivered);
    }

    [Fact]
    public void A_vanished_interface_is_logged_once_and_ends_the_appliance()
    {
        var port = _switch.AddPort();
        var b = Start("10.0.0.2/24", port: port);
        var log = new List<string>();
        var lost = new List<NetworkInterfaceGoneException>();
        using var reported = new ManualResetEventSlim();
        b.Hooks.Log = line =>
        {
            lock (log)
            {
                log.Add(line);
            }
        };
        b.Hooks.InterfaceLost = exception =>
        {
            lock (lost)
            {
                lost.Add(exception);
            }
            reported.Set();
        };
        Assert.True(b.Hooks.ReceiverRunning);
        _switch.Unplug(port);
        Assert.True(reported.Wait(Wait), "the stack did not notice that its interface is gone");
        Assert.True(SpinWait.SpinUntil(() => !b.Hooks.ReceiverRunning, Wait), "the receive thread still runs");
        // Sending afterwards neither throws nor reports again.
        using var socket = b.Udp.Bind(new IPEndPoint(IPAddress.Any, 0));
        var batch = new DatagramBatch(1, 16);
        batch.TryAdd("late"u8, DatagramPeer.FromEndPoint(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 7)));
        socket.Send(batch);
        b.Hooks.SendEchoRequest(IPv4Address.Broadcast, 1, 1, 8);
        Thread.Sleep(100);
        lock (lost)
        {
            Assert.Single(lost);
        }
        lock (log)
        {
            var line = Assert.Single(log);
            Assert.StartsWith("direct-stack: error: the network interface is gone", line, StringComparison.Ordinal);
            Assert.Contains($"exit status {DirectStack.InterfaceLostExitCode}", line, StringComparison.Ordinal);
        }
        Assert.IsType<NetworkInterfaceGoneException>(b.Counters.LastError);
    }

    [Fact]
    public void Buffers_follow_the_interface_mtu()
    {
        using var jumbo = new VirtualSwitch(seed: 3, mtu: 9000);
        var a = new DirectStack(jumbo.AddPort(), _clock, _clock, new SeededRandom(1), "10.0.0.1/24", "");
        var b = new DirectStack(jumbo.AddPort(), _clock, _clock, new SeededRandom(2), "10.0.0.2/24", "");
        _disposables.Add(a);
        _disposables.Add(b);
        Finish(a.StartAsync(CancellationToken.None));
        Finish(b.StartAsync(CancellationToken.None));
        a.Hooks.SendEchoRequest(b.Address, 1, 1, 8000);
        Assert.True(a.Hooks.WaitForEchoReply(1, 1, Wait));
        Assert.Equal(0, a.Counters.FragmentsSent + b.Counters.FragmentsSent);
        a.Hooks.SendEchoRequest(b.Address, 1, 2, 20000);
        Assert.True(a.Hooks.WaitForEchoReply(1, 2, Wait));
        Assert.Equal(3, a.Counters.FragmentsSent); // 20,028 bytes of ICMP in 8,976-byte fragments
        Assert.Equal(0, jumbo.FramesOversized);
    }

    /// <summary>A UDP datagram (header and data) from <paramref name="source"/> to port 7, <paramref name="length"/> bytes in all.</summary>
    private static byte[] Udp(uint source, uint destination, int length, bool checksum = true)
    {
        var data = new byte[length - UdpPacket.HeaderLength];
        new Random(length).NextBytes(data);
        var udp = new byte[length];
        new UdpRepr(4000, 7, data).TryWrite(udp, source, destination, out _);
        if (!checksum)
        {
            udp[UdpPacket.ChecksumOffset] = 0;
            udp[UdpPacket.ChecksumOffset + 1] = 0;
        }
        return udp;
    }

    private static void SendFragmented(DirectStack b, uint source, MacAddress mac, ushort id, int length)
    {
        var payload = Udp(source, b.Address, length + UdpPacket.HeaderLength);
        for (var offset = 0; offset < payload.Length; offset += 1480)
        {
            var chunk = Math.Min(1480, payload.Length - offset);
            b.Hooks.ProcessFrame(Frames.IPv4(b.MacAddress, mac, source, b.Address, IPProtocol.Udp, payload.AsSpan(offset, chunk), id, offset + chunk < payload.Length, offset));
        }
    }

    private static void AssertReceived(IUdpSocket socket, int length)
    {
        var batch = new DatagramBatch(1, 65536);
        using var timeout = new CancellationTokenSource(Wait);
        Assert.Equal(1, socket.Receive(batch, timeout.Token));
        Assert.Equal(length, batch.Datagram(0).Length);
    }
}
