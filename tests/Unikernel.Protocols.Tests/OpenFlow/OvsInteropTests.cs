using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Devices.Unix;
using Unikernel.OpenFlow.Testing;
using Unikernel.Protocols.OpenFlow;
using Xunit.Abstractions;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>Open vSwitch tests share its tools and a userspace datapath: one at a time.</summary>
[CollectionDefinition("ovs", DisableParallelization = true)]
public sealed class OvsCollection;

/// <summary>
/// Golden bytes from Open vSwitch 3.1: every message ovs-vswitchd (as the switch) and ovs-ofctl (as a controller) send
/// us is decoded by our views into representations that encode to the very same bytes, and the answers to what we
/// encode are the ones OVS gives to a correct peer.
/// </summary>
[Collection("ovs")]
public sealed class OvsInteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [Fact]
    public void Ovs_vswitchd_as_the_switch_answers_our_messages_and_its_messages_round_trip()
    {
        using var lab = OvsLab.Create();
        try
        {
            using var listener = StartOvsWithUs(lab, "OpenFlow10");
            var portName = lab.AddHost(1, "10.0.0.1/24", addToBridge: true);
            using var peer = OfPeer.Accept(listener, Wait);
            var hello = peer.ReadUntil(OfType.Hello, Wait);
            Assert.Equal(OfVersion.OpenFlow10, hello[0]);
            Simple(peer, OfType.Hello, 1);

            Simple(peer, OfType.FeaturesRequest, 10);
            var featuresBytes = peer.ReadUntil(OfType.FeaturesReply, Wait, 10);
            Assert.True(OfMessage.TryCreate(featuresBytes, out var featuresMessage));
            Assert.True(OfFeaturesReply.TryParse(featuresMessage, out var features));
            Assert.NotEqual(0UL, features.DatapathId);
            var ports = new List<OfPhysicalPort>();
            for (var i = 0; i < features.PortCount; i++)
            {
                ports.Add(features.Port(i));
            }
            Assert.Contains(ports, p => p.PortNumber == 1 && p.Name == portName);
            var local = Assert.Single(ports, p => p.PortNumber == OfPort.Local);
            Assert.Equal(lab.Bridge, local.Name);

            peer.Send((Span<byte> d, uint x, out int n) => new OfSwitchConfig(OfConfigFlags.FragmentsNormal, 0xffff).TryWrite(d, OfType.SetConfig, x, out n), 11);
            Simple(peer, OfType.GetConfigRequest, 12);
            Assert.True(OfMessage.TryCreate(peer.ReadUntil(OfType.GetConfigReply, Wait, 12), out var configMessage));
            Assert.True(OfSwitchConfig.TryParse(configMessage, out var config));
            Assert.Equal(0xffff, config.MissSendLength);

            var echoBody = Encoding.ASCII.GetBytes("unikernel echo");
            Simple(peer, OfType.EchoRequest, 13, echoBody);
            Assert.Equal(echoBody, peer.ReadUntil(OfType.EchoReply, Wait, 13)[8..]);

            // Two flows: one with every kind of set-field action, one that expires after a second and says so.
            var first = OfMatch.Any;
            first.Wildcards &= ~(OfWildcards.InPort | OfWildcards.DlType | OfWildcards.NwDstMask);
            first.Wildcards |= 8u << OfWildcards.NwDstShift;
            first.InPort = 1;
            first.DlType = 0x0800;
            first.NwDst = 0x0a000000;
            var actions = new byte[256];
            Assert.True(OfAction.TryWriteList(
                [OfAction.SetVlanVid(5), OfAction.SetVlanPcp(3), OfAction.SetDlSrc(0x020000000001), OfAction.SetDlDst(0x020000000002), OfAction.SetNwSrc(0x0a000001),
                 OfAction.SetNwDst(0x0a000002), OfAction.SetNwTos(0x20), OfAction.SetTpSrc(1000), OfAction.SetTpDst(2000), OfAction.Output(OfPort.Local)],
                actions, out var actionsLength));
            var firstActions = actions[..actionsLength];
            SendFlowMod(peer, 14, first, OfFlowModCommand.Add, priority: 100, cookie: 0x1234, hard: 0, firstActions);
            var second = OfMatch.Any;
            second.Wildcards &= ~OfWildcards.DlDst;
            second.DlDst = 0x0200000000bb;
            OfAction.Output(1).TryWrite(actions, out var outputLength);
            SendFlowMod(peer, 15, second, OfFlowModCommand.Add, priority: 200, cookie: 0x5678, hard: 1, actions[..outputLength]);
            Simple(peer, OfType.BarrierRequest, 16);
            peer.ReadUntil(OfType.BarrierReply, Wait, 16);
            Assert.DoesNotContain(peer.Received, m => (OfType)m[1] == OfType.Error);

            // Stats of every kind we implement.
            SendStats(peer, 30, OfStatsType.Description, []);
            var desc = Stats(peer, 30);
            Assert.True(OfDescriptionStats.TryRead(desc.AsSpan(12), out var description));
            Assert.Contains("Open vSwitch", description.Hardware + description.Software, StringComparison.Ordinal);
            var anyFlow = new byte[OfFlowStatsRequest.Size];
            new OfFlowStatsRequest(OfMatch.Any, OfFlowStatsRequest.AllTables, OfPort.None).TryWrite(anyFlow, out _);
            SendStats(peer, 31, OfStatsType.Flow, anyFlow);
            var flows = Stats(peer, 31);
            var found = false;
            for (var offset = 12; offset < flows.Length;)
            {
                Assert.True(OfFlowStats.TryRead(flows.AsSpan(offset), out var flow, out var consumed));
                if (flow.Cookie == 0x1234)
                {
                    found = true;
                    Assert.Equal(100, flow.Priority);
                    Assert.Equal(1, flow.Match.InPort);
                    Assert.Equal(Convert.ToHexString(firstActions), Convert.ToHexString(flow.Actions));
                }
                offset += consumed;
            }
            Assert.True(found, "our flow is not in the flow stats");
            SendStats(peer, 32, OfStatsType.Aggregate, anyFlow);
            Assert.True(OfAggregateStats.TryRead(Stats(peer, 32).AsSpan(12), out var aggregate));
            Assert.InRange(aggregate.FlowCount, 1u, 2u);
            SendStats(peer, 33, OfStatsType.Table, []);
            Assert.True(OfTableStats.TryRead(Stats(peer, 33).AsSpan(12), out var table));
            Assert.Equal(0, table.TableId);
            var portRequest = new byte[OfPortStatsRequest.Size];
            new OfPortStatsRequest(OfPort.None).TryWrite(portRequest, out _);
            SendStats(peer, 34, OfStatsType.Port, portRequest);
            Assert.True((Stats(peer, 34).Length - 12) % OfPortStats.Size == 0);

            // packet_out to the controller comes back as packet_in (reason "action") with the frame.
            var frame = Frames.Udp(0x02000000000a, 0x02000000000b, 0x0a000001, 0x0a000002, 1000, 2000, 64);
            OfAction.Output(OfPort.Controller, 0xffff).TryWrite(actions, out var controllerLength);
            var controllerAction = actions[..controllerLength];
            peer.Send((Span<byte> d, uint x, out int n) => new OfPacketOut { BufferId = OfBuffer.None, InPort = OfPort.None, Actions = controllerAction, Data = frame }.TryWrite(d, x, out n), 40);
            Assert.True(OfMessage.TryCreate(peer.ReadUntil(OfType.PacketIn, Wait), out var packetInMessage));
            Assert.True(OfPacketIn.TryParse(packetInMessage, out var packetIn));
            Assert.Equal(OfPacketInReason.Action, packetIn.Reason);
            Assert.Equal(Convert.ToHexString(frame), Convert.ToHexString(packetIn.Data));

            // port_mod brings the bridge's local port up: port_status says so.
            peer.Send(new OfPortMod(OfPort.Local, local.HardwareAddress, 0, OfPortConfig.PortDown, 0).TryWrite, 41);
            Assert.True(OfMessage.TryCreate(peer.ReadUntil(OfType.PortStatus, Wait), out var statusMessage));
            Assert.True(OfPortStatus.TryParse(statusMessage, out var status));
            Assert.Equal(OfPortReason.Modify, status.Reason);
            Assert.Equal(OfPort.Local, status.Port.PortNumber);

            // An unknown message type is an error that carries our xid.
            peer.Send([0x01, 0x30, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2a]);
            Assert.True(OfMessage.TryCreate(peer.ReadUntil(OfType.Error, Wait, 42), out var errorMessage));
            Assert.True(OfErrorMessage.TryParse(errorMessage, out var error));
            Assert.Equal(OfErrorType.BadRequest, error.ErrorType);
            Assert.Equal(OfErrorCode.BadRequestType, error.Code);

            // The one-second flow ends by hard timeout.
            Assert.True(OfMessage.TryCreate(peer.ReadUntil(OfType.FlowRemoved, Wait), out var removedMessage));
            Assert.True(OfFlowRemoved.TryParse(removedMessage, out var removed));
            Assert.Equal(OfFlowRemovedReason.HardTimeout, removed.Reason);
            Assert.Equal(0x5678UL, removed.Cookie);
            Assert.Equal(0x0200000000bbUL, removed.Match.DlDst);

            var types = peer.Received.Select(m => (OfType)m[1]).Distinct().ToList();
            output.WriteLine("captured from ovs-vswitchd: " + string.Join(", ", peer.Received.Select(m => (OfType)m[1])));
            foreach (var type in new[] { OfType.Hello, OfType.FeaturesReply, OfType.GetConfigReply, OfType.EchoReply, OfType.BarrierReply, OfType.StatsReply, OfType.PacketIn, OfType.PortStatus, OfType.Error, OfType.FlowRemoved })
            {
                Assert.Contains(type, types);
            }
            foreach (var message in peer.Received)
            {
                Codec.AssertRoundTrip(message, "ovs-vswitchd");
            }
        }
        catch
        {
            output.WriteLine(lab.Log);
            output.WriteLine(lab.Tail("ovs-vswitchd.log"));
            throw;
        }
    }

    [Fact]
    public void Ovs_vswitchd_offering_1_3_and_1_0_negotiates_1_0_with_us()
    {
        using var lab = OvsLab.Create();
        try
        {
            using var listener = StartOvsWithUs(lab, "OpenFlow10,OpenFlow13");
            using var peer = OfPeer.Accept(listener, Wait);
            var helloBytes = peer.ReadUntil(OfType.Hello, Wait);
            Assert.True(OfMessage.TryCreate(helloBytes, out var message));
            Assert.True(OfHello.TryParse(message, out var hello));
            Assert.Equal(OfVersion.OpenFlow13, hello.Version);
            Assert.Equal((1u << 1) | (1u << 4), hello.VersionBitmap);
            var (version, bitmap) = (hello.Version, hello.VersionBitmap);
            Assert.Equal(Convert.ToHexString(helloBytes), Convert.ToHexString(Enc((Span<byte> d, uint x, out int n) => new OfHello(version, bitmap).TryWrite(d, x, out n), message.Xid)));
            Assert.Equal(OfVersion.OpenFlow10, OfHello.Negotiate(1u << OfVersion.OpenFlow10, hello));
            Simple(peer, OfType.Hello, 1);
            Simple(peer, OfType.FeaturesRequest, 2);
            var features = peer.ReadUntil(OfType.FeaturesReply, Wait, 2);
            Assert.Equal(OfVersion.OpenFlow10, features[0]);
        }
        catch
        {
            output.WriteLine(lab.Log);
            throw;
        }
    }

    /// <summary>Starts the lab's OVS with a bridge whose controller is a Unix socket we listen on (the test plays the controller).</summary>
    private static Socket StartOvsWithUs(OvsLab lab, string protocols)
    {
        lab.StartOvs();
        var path = Path.Combine(lab.Directory, "ctl.sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        lab.AddBridge("unix:" + path, protocols);
        return listener;
    }

    private static byte[] Enc(OfPeer.Writer write, uint xid)
    {
        var buffer = new byte[OfMessage.MaxLength];
        Assert.True(write(buffer, xid, out var n));
        return buffer[..n];
    }

    private static void SendFlowMod(OfPeer peer, uint xid, OfMatch match, OfFlowModCommand command, ushort priority, ulong cookie, ushort hard, byte[] actions) =>
        peer.Send((Span<byte> d, uint x, out int n) => new OfFlowMod
        {
            Match = match,
            Command = command,
            Priority = priority,
            Cookie = cookie,
            HardTimeout = hard,
            BufferId = OfBuffer.None,
            OutPort = OfPort.None,
            Flags = OfFlowModFlags.SendFlowRemoved,
            Actions = actions,
        }.TryWrite(d, x, out n), xid);

    private static void Simple(OfPeer peer, OfType type, uint xid, byte[]? body = null) =>
        peer.Send((Span<byte> d, uint x, out int n) => new OfSimpleMessage(type, body).TryWrite(d, x, out n), xid);

    private static void SendStats(OfPeer peer, uint xid, OfStatsType type, byte[] body) =>
        peer.Send((Span<byte> d, uint x, out int n) => new OfStatsMessage(OfType.StatsRequest, type, 0, body).TryWrite(d, x, out n), xid);

    private static byte[] Stats(OfPeer peer, uint xid)
    {
        var reply = peer.ReadUntil(OfType.StatsReply, Wait, xid);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(10)) & OfStatsFlags.ReplyMore);
        return reply;
    }

    [Fact]
    public async Task Ovs_ofctl_as_the_controller_manages_our_switch_and_its_messages_round_trip()
    {
        OfLabTools.RequireOfctl();
        using var lab = OvsLab.Create();
        var links = new[] { new VirtualSwitch(seed: 1), new VirtualSwitch(seed: 2) };
        var ports = links.Select((l, i) => l.AddPort([2, 0, 0, 0, 0x10, (byte)(i + 1)])).ToArray();
        var hosts = links.Select((l, i) => l.AddPort([2, 0, 0, 0, 0x20, (byte)(i + 1)])).ToArray();
        var tcp = new RecordingTcp(new UnixSocketStack().Tcp);
        var log = new ConcurrentQueue<string>();
        var sw = new SoftwareSwitch(ports, tcp, new UnixMonotonicClock(), new UnixTime(), new SoftwareSwitchOptions
        {
            Controller = new IPEndPoint(IPAddress.Loopback, 9), // nobody: this switch is managed through its listener only
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            ReconnectDelay = TimeSpan.FromSeconds(5),
        }, log.Enqueue);
        using var stop = new CancellationTokenSource();
        var running = sw.RunAsync(stop.Token);
        try
        {
            lab.WaitFor(() => tcp.ListenerEndPoint is not null, "the switch's management listener");
            var target = $"tcp:127.0.0.1:{tcp.ListenerEndPoint!.Port}";

            lab.Ofctl("add-flow", target, "priority=100,in_port=1,dl_src=02:00:00:00:00:0a,dl_type=0x0800,nw_dst=10.0.0.0/8,actions=mod_vlan_vid:5,output:2").Check();
            lab.Ofctl("add-flow", target, "priority=50,dl_dst=02:00:00:00:00:0b,idle_timeout=30,actions=output:2").Check();
            Assert.Equal(2, sw.Flows.Count);
            lab.Ofctl("mod-flows", target, "dl_dst=02:00:00:00:00:0b,actions=output:1").Check();
            lab.Ofctl("--strict", "mod-flows", target, "priority=50,dl_dst=02:00:00:00:00:0b,actions=mod_nw_tos:16,output:2").Check();

            var dump = lab.Ofctl("dump-flows", target).Check().Output;
            output.WriteLine(dump);
            Assert.Contains("priority=100,ip,in_port=1,dl_src=02:00:00:00:00:0a,nw_dst=10.0.0.0/8 actions=mod_vlan_vid:5,output:2", dump, StringComparison.Ordinal);
            Assert.Contains("idle_timeout=30, priority=50,dl_dst=02:00:00:00:00:0b actions=mod_nw_tos:16,output:2", dump, StringComparison.Ordinal);
            Assert.Contains("flow_count=2", lab.Ofctl("dump-aggregate", target).Check().Output, StringComparison.Ordinal);
            Assert.Contains("active=2", lab.Ofctl("dump-tables", target).Check().Output, StringComparison.Ordinal);
            Assert.Contains("Unikernel", lab.Ofctl("dump-desc", target).Check().Output, StringComparison.Ordinal);
            var show = lab.Ofctl("show", target).Check().Output;
            output.WriteLine(show);
            Assert.Contains("n_tables:1, n_buffers:256", show, StringComparison.Ordinal);
            Assert.Contains("1(port1): addr:02:00:00:00:10:01", show, StringComparison.Ordinal);

            // Traffic through the first flow gets its VLAN tag.
            var frame = Frames.Udp(0x02000000000a, 0x02000000000b, 0x0a000001, 0x0a000002, 1000, 2000, 40);
            Frames.Send(hosts[0], frame);
            var tagged = Assert.Single(Frames.Receive(hosts[1], Wait));
            Assert.Equal(frame.Length + 4, tagged.Length);
            Assert.Equal(0x8100, BinaryPrimitives.ReadUInt16BigEndian(tagged.AsSpan(12)));
            Assert.Equal(5, BinaryPrimitives.ReadUInt16BigEndian(tagged.AsSpan(14)) & 0xfff);
            Assert.Contains("n_packets=1", lab.Ofctl("dump-flows", target, "in_port=1").Check().Output, StringComparison.Ordinal);
            var portStats = lab.Ofctl("dump-ports", target).Check().Output;
            output.WriteLine(portStats);
            Assert.Contains("port  1: rx pkts=1", portStats, StringComparison.Ordinal);
            Assert.Contains("port  2: rx pkts=0", portStats, StringComparison.Ordinal);

            // packet_out with the frame in the message.
            lab.Ofctl("packet-out", target, "1", "output:2", Convert.ToHexString(frame)).Check();
            Assert.Equal(Convert.ToHexString(frame), Convert.ToHexString(Assert.Single(Frames.Receive(hosts[1], Wait))));

            lab.Ofctl("--strict", "del-flows", target, "priority=50,dl_dst=02:00:00:00:00:0b").Check();
            Assert.Equal(1, sw.Flows.Count);
            lab.Ofctl("del-flows", target).Check();
            Assert.Equal(0, sw.Flows.Count);

            var messages = tcp.Messages();
            output.WriteLine("captured from ovs-ofctl: " + string.Join(", ", messages.Select(m => (OfType)m[1])));
            var types = messages.Select(m => (OfType)m[1]).Distinct().ToList();
            foreach (var type in new[] { OfType.Hello, OfType.FlowMod, OfType.StatsRequest, OfType.PacketOut, OfType.FeaturesRequest })
            {
                Assert.Contains(type, types);
            }
            foreach (var message in messages)
            {
                Codec.AssertRoundTrip(message, "ovs-ofctl");
            }
        }
        catch
        {
            output.WriteLine(lab.Log);
            output.WriteLine(string.Join("\n", log));
            throw;
        }
        finally
        {
            await stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(20));
            foreach (var link in links)
            {
                link.Dispose();
            }
        }
    }
}

public static class OfLabTools
{
    public static void RequireOfctl() => OvsLab.Require(("ovs-ofctl", "openvswitch-common"));
}

/// <summary>An <see cref="ITcp"/> that records what accepted connections receive (the peer's messages, as golden bytes).</summary>
public sealed class RecordingTcp(ITcp inner) : ITcp
{
    private readonly ConcurrentQueue<MemoryStream> _streams = new();

    public IPEndPoint? ListenerEndPoint { get; private set; }

    public ITcpListener Listen(IPEndPoint localEndPoint, int backlog = 128)
    {
        var listener = new Listener(inner.Listen(localEndPoint, backlog), this);
        ListenerEndPoint = listener.LocalEndPoint;
        return listener;
    }

    public ValueTask<ITcpConnection> ConnectAsync(IPEndPoint remoteEndPoint, CancellationToken cancellationToken) => inner.ConnectAsync(remoteEndPoint, cancellationToken);

    /// <summary>Every complete message received, connection by connection.</summary>
    public List<byte[]> Messages()
    {
        var messages = new List<byte[]>();
        foreach (var stream in _streams)
        {
            byte[] bytes;
            lock (stream)
            {
                bytes = stream.ToArray();
            }
            for (var offset = 0; offset + 8 <= bytes.Length;)
            {
                int length = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(offset + 2));
                Assert.True(length >= 8 && offset + length <= bytes.Length, "a truncated message in the capture");
                messages.Add(bytes[offset..(offset + length)]);
                offset += length;
            }
        }
        return messages;
    }

    private sealed class Listener(ITcpListener inner, RecordingTcp owner) : ITcpListener
    {
        public IPEndPoint LocalEndPoint => inner.LocalEndPoint;

        public async ValueTask<ITcpConnection> AcceptAsync(CancellationToken cancellationToken)
        {
            var connection = await inner.AcceptAsync(cancellationToken);
            var stream = new MemoryStream();
            owner._streams.Enqueue(stream);
            return new Connection(connection, stream);
        }

        public void Dispose() => inner.Dispose();
    }

    private sealed class Connection(ITcpConnection inner, MemoryStream record) : ITcpConnection
    {
        public IPEndPoint RemoteEndPoint => inner.RemoteEndPoint;

        public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            lock (record)
            {
                record.Write(buffer.Span[..n]);
            }
            return n;
        }

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => inner.WriteAsync(data, cancellationToken);

        public void ShutdownSend() => inner.ShutdownSend();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
