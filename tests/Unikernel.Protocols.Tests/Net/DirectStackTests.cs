using System.Net;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.Net;
using Xunit.Abstractions;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>Two direct stacks joined by a virtual switch, on virtual time (timers move only when a test says so).</summary>
public sealed class DirectStackTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly VirtualSwitch _switch = new(seed: 99);
    private readonly VirtualClock _clock = new() { AutoAdvance = false };
    private readonly List<IDisposable> _disposables = [];

    public void Dispose()
    {
        for (var i = _disposables.Count - 1; i >= 0; i--)
        {
            _disposables[i].Dispose();
        }
        _switch.Dispose();
    }

    private DirectStack NewStack(string ipv4, string gateway = "", ulong seed = 1)
    {
        var port = _switch.AddPort();
        var stack = new DirectStack(port, _clock, _clock, new SeededRandom(seed), ipv4, gateway);
        _disposables.Add(port);
        _disposables.Add(stack);
        return stack;
    }

    private (DirectStack A, DirectStack B) StartPair()
    {
        var a = NewStack("10.0.0.1/24", seed: 1);
        var b = NewStack("10.0.0.2/24", seed: 2);
        Finish(a.StartAsync(CancellationToken.None));
        Finish(b.StartAsync(CancellationToken.None));
        return (a, b);
    }

    private static void Finish(Job job) => Finish(job.AsTask());

    private static void Finish(Task task) => Assert.True(task.Wait(Wait), "task did not finish in time");

    /// <summary>Pings until a reply arrives, moving virtual time by a second between tries so ARP retries fire.</summary>
    private bool Ping(DirectStack from, DirectStack to, ushort id, int dataLength, int attempts = 10, int firstWaitMilliseconds = 2000)
    {
        for (ushort seq = 0; seq < attempts; seq++)
        {
            from.Hooks.SendEchoRequest(to.Address, id, seq, dataLength);
            if (from.Hooks.WaitForEchoReply(id, seq, TimeSpan.FromMilliseconds(seq == 0 ? firstWaitMilliseconds : 200)))
            {
                return true;
            }
            _clock.Advance(TimeSpan.FromSeconds(1));
            from.Hooks.Poll();
            to.Hooks.Poll();
        }
        return false;
    }

    [Fact]
    public void Gratuitous_arp_at_start_and_ping_between_two_stacks()
    {
        var frames = new List<byte[]>();
        _switch.Tap = frame => frames.Add(frame.ToArray());
        var (a, b) = StartPair();
        Assert.Contains(frames, f => f[12] == 0x08 && f[13] == 0x06 && f.AsSpan(28, 4).SequenceEqual(f.AsSpan(38, 4)));
        Assert.True(Ping(a, b, 1, 56));
        Assert.True(a.Hooks.Arp.TryGet(b.Address, _clock.ElapsedNanoseconds, out var mac));
        Assert.Equal(b.MacAddress, mac);
        Assert.Equal(1, b.Counters.EchoRepliesSent);
        Assert.Equal(2, a.Counters.ArpRequestsSent); // one gratuitous, one resolution
    }

    [Fact]
    public void Ping_with_fragmentation_both_ways_over_a_reordering_link()
    {
        var (a, b) = StartPair();
        Assert.True(Ping(a, b, 1, 8));
        _switch.ReorderRate = 0.5;
        Assert.True(Ping(a, b, 2, 4000));
        Assert.True(Ping(a, b, 3, 20000));
        Assert.True(b.Counters.Reassembled >= 2);
        Assert.True(a.Counters.Reassembled >= 2);
        Assert.True(_switch.FramesReordered > 0);
        Assert.Equal(0, a.Counters.ReassemblyOverlaps + b.Counters.ReassemblyOverlaps);
    }

    [Fact]
    public void Ping_succeeds_over_a_lossy_link_with_arp_retries()
    {
        var (a, b) = StartPair();
        _switch.LossRate = 0.3;
        for (ushort id = 10; id < 20; id++)
        {
            Assert.True(Ping(a, b, id, 100, attempts: 30, firstWaitMilliseconds: 200));
        }
        Assert.True(_switch.FramesLost > 0);
    }

    [Fact]
    public void Udp_echo_between_two_stacks_with_fragmentation_reordering_and_loss()
    {
        var (a, b) = StartPair();
        using var server = b.Udp.Bind(new IPEndPoint(IPAddress.Any, 7));
        using var client = a.Udp.Bind(new IPEndPoint(IPAddress.Any, 0));
        Assert.InRange(client.LocalEndPoint.Port, 49152, 65535);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var echo = Task.Run(() =>
        {
            var batch = new DatagramBatch(8, 65536);
            while (server.Receive(batch, stop.Token) > 0)
            {
                server.Send(batch);
            }
        });
        _switch.ReorderRate = 0.3;
        var peer = DatagramPeer.FromEndPoint(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 7));
        var receive = new DatagramBatch(8, 65536);
        foreach (var size in new[] { 0, 5, 1472, 1473, 5000, 65507 })
        {
            var payload = new byte[size];
            new Random(size).NextBytes(payload);
            var send = new DatagramBatch(1, Math.Max(1, size));
            Assert.True(send.TryAdd(payload, peer));
            var received = false;
            for (var attempt = 0; attempt < 5 && !received; attempt++)
            {
                Assert.Equal(1, client.Send(send));
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                if (client.Receive(receive, timeout.Token) > 0)
                {
                    Assert.Equal(1, receive.Count);
                    Assert.True(receive.Datagram(0).SequenceEqual(payload), $"payload of {size} bytes");
                    Assert.Equal(7, receive.Peer(0).Port);
                    Assert.Equal("10.0.0.2:7", receive.Peer(0).ToString());
                    received = true;
                }
                else
                {
                    _clock.Advance(TimeSpan.FromSeconds(1));
                    a.Hooks.Poll();
                    b.Hooks.Poll();
                }
            }
            Assert.True(received, $"no echo of {size} bytes");
        }

        // A lossy, reordering link: each datagram is retried until its echo comes back (late echoes are skipped).
        _switch.LossRate = 0.2;
        var retries = 0;
        for (var n = 0; n < 20; n++)
        {
            var payload = new byte[100];
            new Random(1000 + n).NextBytes(payload);
            var send = new DatagramBatch(1, 100);
            send.TryAdd(payload, peer);
            var received = false;
            for (var attempt = 0; attempt < 20 && !received; attempt++)
            {
                client.Send(send);
                using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                while (!received && client.Receive(receive, timeout.Token) > 0)
                {
                    for (var i = 0; i < receive.Count; i++)
                    {
                        received |= receive.Datagram(i).SequenceEqual(payload);
                    }
                }
                if (!received)
                {
                    retries++;
                    _clock.Advance(TimeSpan.FromSeconds(1));
                    a.Hooks.Poll();
                    b.Hooks.Poll();
                }
            }
            Assert.True(received, $"datagram {n} never echoed over the lossy link");
        }
        Assert.True(retries > 0 && _switch.FramesLost > 0, $"{retries} retries, {_switch.FramesLost} frames lost");
        stop.Cancel();
        Finish(echo);
    }

    [Fact]
    public void Udp_to_a_closed_port_gets_port_unreachable_rate_limited()
    {
        var (a, b) = StartPair();
        Assert.True(Ping(a, b, 1, 8));
        using var client = a.Udp.Bind(new IPEndPoint(IPAddress.Any, 5000));
        var batch = new DatagramBatch(50, 64);
        var peer = DatagramPeer.FromEndPoint(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 9999));
        for (var i = 0; i < 50; i++)
        {
            batch.TryAdd("x"u8, peer);
        }
        Assert.Equal(50, client.Send(batch));
        Assert.True(SpinWait.SpinUntil(() => b.Counters.UdpNoPort == 50 && a.Counters.UnreachablesReceived == 10, Wait));
        Assert.Equal(10, b.Counters.UnreachablesSent);
        Assert.Equal(40, b.Counters.UnreachablesRateLimited);
        _clock.Advance(TimeSpan.FromSeconds(1));
        batch.Count = 1;
        client.Send(batch);
        Assert.True(SpinWait.SpinUntil(() => a.Counters.UnreachablesReceived == 11, Wait));
    }

    [Fact]
    public void Arp_entries_expire_and_are_resolved_again()
    {
        var (a, b) = StartPair();
        Assert.True(Ping(a, b, 1, 8));
        var requests = a.Counters.ArpRequestsSent;
        Assert.True(a.Hooks.Arp.TryGet(b.Address, _clock.ElapsedNanoseconds, out _));
        _clock.Advance(TimeSpan.FromSeconds(61));
        a.Hooks.Poll();
        Assert.False(a.Hooks.Arp.TryGet(b.Address, _clock.ElapsedNanoseconds, out _));
        Assert.True(Ping(a, b, 2, 8));
        Assert.Equal(requests + 1, a.Counters.ArpRequestsSent);
    }

    [Fact]
    public void Arp_resolution_gives_up_and_drops_queued_packets()
    {
        var (a, _) = StartPair();
        var nobody = IPv4Address.Parse("10.0.0.99");
        a.Hooks.SendEchoRequest(nobody, 1, 1, 8);
        a.Hooks.SendEchoRequest(nobody, 1, 2, 8);
        Assert.Equal(2, a.Hooks.Arp.PendingFrames);
        for (var i = 0; i < 4; i++)
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
            a.Hooks.Poll();
        }
        Assert.Equal(1, a.Counters.ArpFailures);
        Assert.Equal(2, a.Counters.ArpQueueDrops);
        Assert.Equal(0, a.Hooks.Arp.PendingFrames);
        Assert.False(a.Hooks.Arp.Contains(nobody));
    }

    [Fact]
    public void Arp_cache_is_bounded()
    {
        var (a, _) = StartPair();
        var frame = new byte[60];
        for (var i = 0; i < 200; i++)
        {
            var sender = IPv4Address.Parse("10.0.0.0") + 10 + (uint)i;
            new EthernetRepr(a.MacAddress, new MacAddress(0x020000001000 + (ulong)i), EtherType.Arp).TryWrite(frame, out _);
            new ArpRepr(ArpOperation.Request, new MacAddress(0x020000001000 + (ulong)i), sender, default, a.Address).TryWrite(frame.AsSpan(14), out _);
            a.Hooks.ProcessFrame(frame);
        }
        Assert.Equal(64, a.Hooks.Arp.Count);
        Assert.Equal(200, a.Counters.ArpRepliesSent);
    }

    [Fact]
    public void Off_link_destinations_go_to_the_gateway()
    {
        var a = NewStack("10.0.0.1/24", "10.0.0.254", seed: 1);
        var router = NewStack("10.0.0.254/24", seed: 3);
        Finish(a.StartAsync(CancellationToken.None));
        Finish(router.StartAsync(CancellationToken.None));
        var frames = new List<byte[]>();
        _switch.Tap = frame =>
        {
            lock (frames)
            {
                frames.Add(frame.ToArray());
            }
        };
        a.Hooks.SendEchoRequest(IPv4Address.Parse("192.0.2.1"), 1, 1, 8);
        Assert.True(SpinWait.SpinUntil(() => a.Hooks.Arp.TryGet(router.Address, _clock.ElapsedNanoseconds, out _), Wait));
        Assert.True(SpinWait.SpinUntil(() => { lock (frames) { return frames.Exists(f => f[12] == 8 && f[13] == 0 && MacAddress.Read(f) == router.MacAddress); } }, Wait));
        var noGateway = NewStack("10.0.0.3/24", seed: 4);
        noGateway.Hooks.SendEchoRequest(IPv4Address.Parse("192.0.2.1"), 1, 1, 8);
        Assert.Equal(1, noGateway.Counters.NoRoute);
    }

    [Fact]
    public void Reassembly_times_out_and_rejects_overlaps()
    {
        var (a, b) = StartPair();
        var frame = new byte[14 + 20 + 64];
        void Fragment(ushort id, int offset, int length, bool more)
        {
            new EthernetRepr(b.MacAddress, a.MacAddress, EtherType.IPv4).TryWrite(frame, out _);
            new IPv4Repr(a.Address, b.Address, IPProtocol.Udp, length, 64, id, false, more, offset).TryWrite(frame.AsSpan(14), out _);
            b.Hooks.ProcessFrame(frame.AsSpan(0, 34 + length));
        }
        Fragment(1, 0, 16, more: true);
        Assert.Equal(1, b.Hooks.Reassembly.InProgress);
        _clock.Advance(TimeSpan.FromSeconds(29));
        b.Hooks.Poll();
        Assert.Equal(1, b.Hooks.Reassembly.InProgress);
        _clock.Advance(TimeSpan.FromSeconds(2));
        b.Hooks.Poll();
        Assert.Equal(0, b.Hooks.Reassembly.InProgress);
        Assert.Equal(1, b.Counters.ReassemblyTimeouts);
        Assert.Equal(1, b.Counters.TimeExceededSent);
        Assert.True(SpinWait.SpinUntil(() => a.Counters.TimeExceededReceived == 1, Wait));
        Fragment(5, 8, 8, more: false); // no first fragment: no time exceeded
        _clock.Advance(TimeSpan.FromSeconds(31));
        b.Hooks.Poll();
        Assert.Equal(2, b.Counters.ReassemblyTimeouts);
        Assert.Equal(1, b.Counters.TimeExceededSent);

        Fragment(2, 0, 16, more: true);
        Fragment(2, 8, 16, more: true);
        Assert.Equal(1, b.Counters.ReassemblyOverlaps);
        Assert.Equal(0, b.Hooks.Reassembly.InProgress);
        Fragment(3, 0, 16, more: true);
        Fragment(3, 0, 16, more: true); // an exact duplicate is ignored
        Fragment(3, 16, 8, more: false);
        Assert.Equal(1, b.Counters.Reassembled);
        Fragment(4, 0, 12, more: true); // not a multiple of 8
        Assert.Equal(1, b.Counters.ReassemblyDrops);
    }

    [Fact]
    public void Reassembly_memory_is_bounded()
    {
        var (a, b) = StartPair();
        var frame = new byte[14 + 20 + 16];
        for (ushort id = 0; id < 20; id++)
        {
            new EthernetRepr(b.MacAddress, a.MacAddress, EtherType.IPv4).TryWrite(frame, out _);
            new IPv4Repr(a.Address, b.Address, IPProtocol.Udp, 16, 64, id, false, true, 0).TryWrite(frame.AsSpan(14), out _);
            b.Hooks.ProcessFrame(frame);
        }
        // One sender holds at most a quarter of the datagrams in progress; its own oldest make room.
        Assert.Equal(Reassembler.MaxDatagrams / 4, b.Hooks.Reassembly.InProgress);
        Assert.Equal(20 - (Reassembler.MaxDatagrams / 4), b.Counters.ReassemblyEvictions);
        Assert.Equal(0, b.Counters.ReassemblyDrops);
    }

    [Fact]
    public void Malformed_frames_are_counted_and_dropped()
    {
        var (a, b) = StartPair();
        var frame = new byte[60];
        new EthernetRepr(b.MacAddress, a.MacAddress, EtherType.IPv4).TryWrite(frame, out _);
        new IPv4Repr(a.Address, b.Address, IPProtocol.Udp, 8).TryWrite(frame.AsSpan(14), out _);
        frame[24] ^= 0xFF; // checksum
        b.Hooks.ProcessFrame(frame);
        Assert.Equal(1, b.Counters.BadChecksum);
        b.Hooks.ProcessFrame(frame.AsSpan(0, 20));
        Assert.Equal(1, b.Counters.Malformed);
        b.Hooks.ProcessFrame(frame.AsSpan(0, 10));
        Assert.Equal(2, b.Counters.Malformed);
        var random = new Random(5);
        for (var i = 0; i < 5000; i++)
        {
            var length = random.Next(15, 200);
            var junk = new byte[length];
            random.NextBytes(junk);
            b.MacAddress.Write(junk);
            junk[12] = 8;
            junk[13] = (byte)(i % 2 == 0 ? 0 : 6);
            if (i % 4 == 0)
            {
                junk[14] = 0x45;
            }
            b.Hooks.ProcessFrame(junk);
        }
        Assert.Equal(0, b.Counters.Errors);
    }

    [Fact]
    public async Task Udp_ports_are_exclusive_and_released_on_dispose()
    {
        var a = NewStack("10.0.0.1/24");
        var socket = a.Udp.Bind(new IPEndPoint(IPAddress.Any, 53));
        var error = Assert.Throws<System.Net.Sockets.SocketException>(() => a.Udp.Bind(new IPEndPoint(IPAddress.Any, 53)));
        Assert.Equal(System.Net.Sockets.SocketError.AddressAlreadyInUse, error.SocketErrorCode);
        var receiving = Task.Run(() => socket.Receive(new DatagramBatch(1, 64), CancellationToken.None));
        Thread.Sleep(50);
        socket.Dispose();
        Assert.Equal(0, await receiving.WaitAsync(Wait));
        using var again = a.Udp.Bind(new IPEndPoint(IPAddress.IPv6Any, 53));
        Assert.Equal(53, again.LocalEndPoint.Port);
        Assert.Throws<NotSupportedException>(() => a.Udp.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 54)));
    }

    [Fact]
    public void Arp_probes_for_our_address_are_answered()
    {
        var a = NewStack("10.0.0.1/24");
        var frames = new List<byte[]>();
        _switch.Tap = frame => frames.Add(frame.ToArray());
        var probe = new byte[60];
        var prober = new MacAddress(0x02000000BEEF);
        new EthernetRepr(MacAddress.Broadcast, prober, EtherType.Arp).TryWrite(probe, out _);
        new ArpRepr(ArpOperation.Request, prober, 0, default, a.Address).TryWrite(probe.AsSpan(14), out _);
        a.Hooks.ProcessFrame(probe);
        var reply = Assert.Single(frames);
        Assert.True(ArpRepr.TryParse(reply.AsSpan(14), out var arp));
        Assert.Equal(ArpOperation.Reply, arp.Operation);
        Assert.Equal(a.Address, arp.SenderProtocolAddress);
        Assert.Equal(prober, MacAddress.Read(reply));
        Assert.False(a.Hooks.Arp.Contains(0));
    }

    [Fact]
    public void Bad_configuration_is_reported_clearly()
    {
        var port = _switch.AddPort();
        var error = Assert.Throws<ArgumentException>(() => new DirectStack(port, _clock, _clock, new SeededRandom(), "10.0.0.1/33", ""));
        Assert.Contains("ipv4", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new DirectStack(port, _clock, _clock, new SeededRandom(), "10.0.0.1/24", "gateway"));
        error = Assert.Throws<ArgumentException>(() => new DirectStack(port, _clock, _clock, new SeededRandom(), "10.0.0.1", ""));
        Assert.Contains("ADDR/PREFIX", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<ArgumentException>(() => new DirectStack(port, _clock, _clock, new SeededRandom(), "10.0.0.1/24", "10.0.1.1"));
        Assert.Contains("not on the link", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_udp_server_thread_reads_the_interface_itself_run_to_completion()
    {
        var (a, b) = StartPair();
        using var server = b.Udp.Bind(new IPEndPoint(IPAddress.Any, 7));
        using var client = a.Udp.Bind(new IPEndPoint(IPAddress.Any, 0));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var echoed = 0;
        var echo = new Thread(() =>
        {
            var batch = new DatagramBatch(8, 2048);
            while (server.Receive(batch, stop.Token) > 0)
            {
                for (var i = 0; i < batch.Count; i++)
                {
                    batch.Datagram(i)[0] ^= 0xFF; // an answer that differs from the question
                }
                echoed += server.Send(batch);
            }
        }) { IsBackground = true };
        echo.Start();
        var peer = DatagramPeer.FromEndPoint(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 7));
        var receive = new DatagramBatch(8, 2048);
        var answered = 0;
        for (var n = 0; n < 200 && answered < 100; n++)
        {
            var send = new DatagramBatch(1, 64);
            var payload = new byte[] { (byte)n, 1, 2, 3 };
            send.TryAdd(payload, peer);
            client.Send(send);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            if (client.Receive(receive, timeout.Token) > 0)
            {
                Assert.Equal((byte)~n, receive.Datagram(0)[0]);
                Assert.True(receive.Datagram(0)[1..].SequenceEqual(payload.AsSpan(1)));
                answered++;
            }
            else
            {
                _clock.Advance(TimeSpan.FromSeconds(1));
                a.Hooks.Poll();
                b.Hooks.Poll();
            }
        }
        Assert.Equal(100, answered);
        // After the first exchanges both stacks' socket threads read their interfaces: the receive threads stand aside.
        Assert.True(b.Counters.SocketPumps > 50, $"server's socket thread pumped {b.Counters.SocketPumps} batches");
        Assert.True(a.Counters.SocketPumps > 50, $"client's socket thread pumped {a.Counters.SocketPumps} batches");
        // ICMP still answered while a socket thread drives the interface.
        Assert.True(Ping(a, b, 7, 56));
        stop.Cancel();
        Assert.True(echo.Join(Wait), "the server thread did not stop on cancellation");
        Assert.True(echoed >= 100);
    }

    [Fact]
    public void Disposing_a_socket_ends_a_receive_blocked_on_the_interface()
    {
        var (_, b) = StartPair();
        var server = b.Udp.Bind(new IPEndPoint(IPAddress.Any, 9));
        var result = -1;
        var receiver = new Thread(() => result = server.Receive(new DatagramBatch(4, 2048), CancellationToken.None)) { IsBackground = true };
        receiver.Start();
        Thread.Sleep(300);
        server.Dispose();
        Assert.True(receiver.Join(Wait), "Receive did not return after Dispose");
        Assert.Equal(0, result);
        Assert.True(b.Hooks.ReceiverRunning);
    }

    [Fact]
    public void Hot_paths_do_not_allocate_per_frame()
    {
        var network = new NullNetwork();
        using var stack = new DirectStack(network, _clock, _clock, new SeededRandom(), "10.0.0.2/24", "");
        var peerMac = new MacAddress(0x020000000009);
        var peer = IPv4Address.Parse("10.0.0.9");
        var arp = new byte[60];
        new EthernetRepr(stack.MacAddress, peerMac, EtherType.Arp).TryWrite(arp, out _);
        new ArpRepr(ArpOperation.Request, peerMac, peer, default, stack.Address).TryWrite(arp.AsSpan(14), out _);
        stack.Hooks.ProcessFrame(arp);
        using var socket = stack.Udp.Bind(new IPEndPoint(IPAddress.Any, 53));
        var udp = new byte[14 + 20 + 8 + 40];
        new EthernetRepr(stack.MacAddress, peerMac, EtherType.IPv4).TryWrite(udp, out _);
        new IPv4Repr(peer, stack.Address, IPProtocol.Udp, 48).TryWrite(udp.AsSpan(14), out _);
        new UdpRepr(4000, 53, new byte[40]).TryWrite(udp.AsSpan(34), peer, stack.Address, out _);
        var ping = new byte[14 + 20 + 8 + 56];
        new EthernetRepr(stack.MacAddress, peerMac, EtherType.IPv4).TryWrite(ping, out _);
        new IPv4Repr(peer, stack.Address, IPProtocol.Icmp, 64).TryWrite(ping.AsSpan(14), out _);
        IcmpRepr.Echo(true, 1, 1, new byte[56]).TryWrite(ping.AsSpan(34), out _);
        var batch = new DatagramBatch(16, 2048);
        void Round()
        {
            for (var i = 0; i < 16; i++)
            {
                stack.Hooks.ProcessFrame(udp);
            }
            socket.Receive(batch, CancellationToken.None);
            socket.Send(batch);
            stack.Hooks.ProcessFrame(ping);
        }
        for (var i = 0; i < 100; i++)
        {
            Round();
        }
        var sentBefore = network.Sent;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            Round();
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(1000 * 17, network.Sent - sentBefore);
        Assert.Equal(0, allocated);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 5000; i++)
        {
            Round();
        }
        watch.Stop();
        output.WriteLine($"{watch.Elapsed.TotalNanoseconds / (5000 * 17):0} ns per frame (16 UDP in + 16 UDP out + ping in/out per round), 0 bytes allocated per frame");
    }

    private sealed class NullNetwork : INetworkInterface
    {
        private readonly byte[] _mac = [0x02, 0, 0, 0, 0, 2];

        public long Sent { get; private set; }

        public ReadOnlySpan<byte> MacAddress => _mac;

        public int Mtu => 1500;

        public int Receive(DatagramBatch frames, CancellationToken cancellationToken)
        {
            cancellationToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(10));
            return 0;
        }

        public int Send(DatagramBatch frames)
        {
            Sent += frames.Count;
            return frames.Count;
        }

        public void Dispose()
        {
        }
    }
}
