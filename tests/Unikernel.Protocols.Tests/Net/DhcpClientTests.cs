using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.Net;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>The DHCP client against a scripted server on a virtual switch, on virtual time.</summary>
public sealed class DhcpClientTests : IDisposable
{
    private static readonly uint ServerAddress = IPv4Address.Parse("10.0.0.1");
    private static readonly uint Leased = IPv4Address.Parse("10.0.0.77");
    private readonly VirtualSwitch _switch = new(seed: 3);
    private readonly VirtualClock _clock = new() { AutoAdvance = false };
    private readonly CancellationTokenSource _stop = new();

    public void Dispose()
    {
        _stop.Cancel();
        _switch.Dispose();
        _stop.Dispose();
    }

    [Fact]
    public async Task Lease_renewal_rebinding_and_expiry_follow_t1_t2_and_the_lease_time()
    {
        var server = new ScriptedServer(_switch.AddPort(), _stop.Token);
        using var port = _switch.AddPort();
        using var stack = new DirectStack(port, _clock, _clock, new SeededRandom(9), "", "");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await stack.StartAsync(timeout.Token);
        var dhcp = stack.Hooks.Dhcp!;
        Assert.Equal(Leased, stack.Address);
        Assert.Equal(DhcpState.Bound, dhcp.State);
        Assert.Equal(1, dhcp.Acks);
        Assert.Equal(new DhcpLease(Leased, 0xFFFFFF00, ServerAddress, ServerAddress, ServerAddress, 100, 50, 87), dhcp.Lease);
        Assert.Equal([DhcpMessageType.Discover, DhcpMessageType.Request], server.Received());

        // T1: renew by unicast to the server.
        _clock.Advance(TimeSpan.FromSeconds(49));
        stack.Hooks.Poll();
        Assert.Equal(DhcpState.Bound, dhcp.State);
        _clock.Advance(TimeSpan.FromSeconds(1));
        stack.Hooks.Poll();
        Assert.True(SpinWait.SpinUntil(() => dhcp.Acks == 2, TimeSpan.FromSeconds(5)));
        Assert.Equal(DhcpState.Bound, dhcp.State);
        var renewal = server.LastRequest;
        Assert.Equal(Leased, renewal.ClientAddress);
        Assert.Equal(0u, renewal.ServerIdentifier);
        Assert.Equal(ServerAddress, server.LastRequestDestination);

        // The server goes silent: RENEWING at T1, REBINDING (broadcast) at T2, and the address is lost at the end.
        server.Silent = true;
        _clock.Advance(TimeSpan.FromSeconds(50));
        stack.Hooks.Poll();
        Assert.Equal(DhcpState.Renewing, dhcp.State);
        _clock.Advance(TimeSpan.FromSeconds(37));
        stack.Hooks.Poll();
        Assert.Equal(DhcpState.Rebinding, dhcp.State);
        Assert.True(SpinWait.SpinUntil(() => server.LastRequestDestination == IPv4Address.Broadcast, TimeSpan.FromSeconds(5)));
        Assert.Equal(Leased, stack.Address);
        _clock.Advance(TimeSpan.FromSeconds(13));
        stack.Hooks.Poll();
        Assert.Equal(DhcpState.Selecting, dhcp.State);
        Assert.Equal(0u, stack.Address);

        // The server is back: a new lease.
        server.Silent = false;
        _clock.Advance(TimeSpan.FromSeconds(2));
        stack.Hooks.Poll();
        Assert.True(SpinWait.SpinUntil(() => dhcp.State == DhcpState.Bound, TimeSpan.FromSeconds(5)));
        Assert.Equal(Leased, stack.Address);
    }

    [Fact]
    public async Task A_nak_restarts_discovery()
    {
        var server = new ScriptedServer(_switch.AddPort(), _stop.Token);
        using var port = _switch.AddPort();
        using var stack = new DirectStack(port, _clock, _clock, new SeededRandom(9), "", "");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await stack.StartAsync(timeout.Token);
        server.Nak = true;
        _clock.Advance(TimeSpan.FromSeconds(50));
        stack.Hooks.Poll();
        Assert.True(SpinWait.SpinUntil(() => stack.Hooks.Dhcp!.State == DhcpState.Selecting, TimeSpan.FromSeconds(5)));
        Assert.Equal(0u, stack.Address);
    }

    [Fact]
    public async Task Start_fails_clearly_when_no_server_answers()
    {
        using var port = _switch.AddPort();
        using var stack = new DirectStack(port, _clock, _clock, new SeededRandom(9), "", "");
        var start = stack.StartAsync(CancellationToken.None);
        for (var i = 0; i < 40 && !start.IsCompleted; i++)
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(10);
        }
        var error = await Assert.ThrowsAsync<TimeoutException>(() => start.AsTask());
        Assert.Contains("DHCP", error.Message, StringComparison.Ordinal);
        Assert.Contains("static address", error.Message, StringComparison.Ordinal);
        Assert.True(stack.Counters.DhcpMessagesSent >= 3, $"{stack.Counters.DhcpMessagesSent} discovers");
    }

    [Fact]
    public async Task Dispose_during_start_ends_the_wait()
    {
        using var port = _switch.AddPort();
        var stack = new DirectStack(port, _clock, _clock, new SeededRandom(9), "", "");
        var start = stack.StartAsync(CancellationToken.None);
        await Task.Delay(50);
        stack.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => start.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    /// <summary>Answers ARP for its address and DHCP with a fixed lease (100 s, T1 50 s, T2 87 s).</summary>
    private sealed class ScriptedServer
    {
        private readonly INetworkInterface _port;
        private readonly List<DhcpMessageType> _received = [];
        private readonly MacAddress _mac;

        public ScriptedServer(INetworkInterface port, CancellationToken cancellationToken)
        {
            _port = port;
            _mac = MacAddress.Read(port.MacAddress);
            new Thread(() => Run(cancellationToken)) { IsBackground = true }.Start();
        }

        public volatile bool Silent;
        public volatile bool Nak;

        public DhcpRepr LastRequest { get; private set; }

        public uint LastRequestDestination { get; private set; }

        public DhcpMessageType[] Received()
        {
            lock (_received)
            {
                return [.. _received];
            }
        }

        private void Run(CancellationToken cancellationToken)
        {
            var rx = new DatagramBatch(16, 2048);
            var tx = new DatagramBatch(1, 2048);
            var body = new byte[1024];
            while (_port.Receive(rx, cancellationToken) > 0)
            {
                for (var i = 0; i < rx.Count; i++)
                {
                    var bytes = rx.Datagram(i);
                    if (!EthernetRepr.TryParse(bytes, out var ethernet))
                    {
                        continue;
                    }
                    if (ethernet.EtherType == EtherType.Arp && ArpRepr.TryParse(bytes[14..], out var arp)
                        && arp.Operation == ArpOperation.Request && arp.TargetProtocolAddress == ServerAddress)
                    {
                        tx.Count = 0;
                        var frame = tx.Slot(0);
                        new EthernetRepr(arp.SenderHardwareAddress, _mac, EtherType.Arp).TryWrite(frame, out _);
                        new ArpRepr(ArpOperation.Reply, _mac, ServerAddress, arp.SenderHardwareAddress, arp.SenderProtocolAddress).TryWrite(frame[14..], out _);
                        tx.SetLength(0, 42);
                        tx.Count = 1;
                        _port.Send(tx);
                        continue;
                    }
                    if (ethernet.EtherType != EtherType.IPv4 || !IPv4Packet.TryCreate(bytes[14..], out var ip)
                        || !UdpPacket.TryCreate(ip.Payload, out var udp) || udp.DestinationPort != 67
                        || !DhcpRepr.TryParse(udp.Payload, out var request))
                    {
                        continue;
                    }
                    lock (_received)
                    {
                        _received.Add(request.MessageType);
                    }
                    if (request.MessageType == DhcpMessageType.Request)
                    {
                        LastRequest = request;
                        LastRequestDestination = ip.Destination;
                    }
                    if (Silent)
                    {
                        continue;
                    }
                    var reply = new DhcpRepr
                    {
                        Operation = DhcpRepr.BootReply,
                        TransactionId = request.TransactionId,
                        YourAddress = Nak ? 0 : Leased,
                        ClientHardwareAddress = request.ClientHardwareAddress,
                        MessageType = request.MessageType == DhcpMessageType.Discover ? DhcpMessageType.Offer : Nak ? DhcpMessageType.Nak : DhcpMessageType.Ack,
                        ServerIdentifier = ServerAddress,
                    };
                    if (!Nak)
                    {
                        reply.SubnetMask = 0xFFFFFF00;
                        reply.Router = ServerAddress;
                        reply.DnsServer = ServerAddress;
                        reply.LeaseSeconds = 100;
                        reply.RenewalSeconds = 50;
                        reply.RebindingSeconds = 87;
                    }
                    reply.TryWrite(body.AsSpan(8), out var length);
                    new UdpRepr(67, 68, body.AsSpan(8, length)).TryWrite(body, ServerAddress, IPv4Address.Broadcast, out var udpLength);
                    tx.Count = 0;
                    var output = tx.Slot(0);
                    new EthernetRepr(request.ClientHardwareAddress, _mac, EtherType.IPv4).TryWrite(output, out _);
                    new IPv4Repr(ServerAddress, IPv4Address.Broadcast, IPProtocol.Udp, udpLength).TryWrite(output[14..], out _);
                    body.AsSpan(0, udpLength).CopyTo(output[34..]);
                    tx.SetLength(0, 34 + udpLength);
                    tx.Count = 1;
                    _port.Send(tx);
                }
            }
        }
    }
}
