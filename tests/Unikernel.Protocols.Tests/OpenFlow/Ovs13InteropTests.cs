using System.Buffers.Binary;
using System.Net.Sockets;
using Unikernel.OpenFlow.Testing;
using Unikernel.Protocols.OpenFlow;
using Xunit.Abstractions;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>
/// OpenFlow 1.3 with a live ovs-vswitchd 3.1 (userspace datapath, bridge with protocols=OpenFlow13 only) whose
/// controller is this test: what we encode is accepted (no error, and it comes back in the flow stats as we sent it),
/// the table-miss entry sends a host's first packet to us, expiry and port changes are reported, and every message
/// ovs-vswitchd sends decodes into representations that encode to the very same bytes.
/// </summary>
[Collection("ovs")]
public sealed class Ovs13InteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private static void Send(OfPeer peer, Of13Type type, uint xid, byte[]? body = null) =>
        peer.Send((Span<byte> d, uint x, out int n) => new OfSimpleMessage((OfType)type, body, OfVersion.OpenFlow13).TryWrite(d, x, out n), xid);

    private static byte[] Multipart(OfPeer peer, uint xid, Of13MultipartType type, byte[] body)
    {
        peer.Send((Span<byte> d, uint x, out int n) => new Of13Multipart(false, type, 0, body).TryWrite(d, x, out n), xid);
        var reply = peer.ReadUntil((OfType)Of13Type.MultipartReply, Wait, xid);
        Assert.Equal(0, reply[11] & Of13Multipart.FlagMore);
        return reply;
    }

    private static byte[] FlowMod(byte table, ushort priority, ReadOnlySpan<byte> fields, ReadOnlySpan<byte> instructions, ushort hard = 0, ushort flags = 0, ulong cookie = 0)
    {
        var buffer = new byte[512];
        Assert.True(new Of13FlowMod
        {
            TableId = table, Command = OfFlowModCommand.Add, Priority = priority, HardTimeout = hard, Flags = flags, Cookie = cookie, BufferId = OfBuffer.None,
            OutPort = Of13Port.Any, OutGroup = Of13Group.Any, Match = new Of13Match(fields), Instructions = instructions,
        }.TryWrite(buffer, 0, out var n));
        return buffer[..n];
    }

    [Fact]
    public void Ovs_vswitchd_speaking_only_1_3_takes_our_1_3_messages_and_its_messages_round_trip()
    {
        using var lab = OvsLab.Create();
        try
        {
            lab.StartOvs();
            var path = Path.Combine(lab.Directory, "ctl.sock");
            using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen();
            lab.AddBridge("unix:" + path, "OpenFlow13");
            var portName = lab.AddHost(1, "10.0.0.1/24", addToBridge: true);
            using var peer = OfPeer.Accept(listener, Wait);
            Assert.True(OfMessage.TryCreate(peer.ReadUntil(OfType.Hello, Wait), out var helloMessage));
            Assert.True(OfHello.TryParse(helloMessage, out var hello));
            Assert.Equal(1u << OfVersion.OpenFlow13, hello.VersionBitmap);
            Assert.Equal(OfVersion.OpenFlow13, OfHello.Negotiate((1u << 1) | (1u << 4), hello));
            peer.Send((Span<byte> d, uint x, out int n) => new OfHello(OfVersion.OpenFlow13, (1u << 1) | (1u << 4)).TryWrite(d, x, out n), 1);

            Send(peer, Of13Type.FeaturesRequest, 2);
            Assert.True(OfMessage.TryCreate(peer.ReadUntil(OfType.FeaturesReply, Wait, 2), out var featuresMessage));
            Assert.True(Of13FeaturesReply.TryParse(featuresMessage, out var features));
            Assert.NotEqual(0UL, features.DatapathId);
            Assert.True(features.Tables >= 2, "a 1.3 switch with one table");
            peer.Send((Span<byte> d, uint x, out int n) => new OfSwitchConfig(OfConfigFlags.FragmentsNormal, 0xffff, OfVersion.OpenFlow13).TryWrite(d, OfType.SetConfig, x, out n), 3);
            Send(peer, Of13Type.GetConfigRequest, 4);
            Assert.True(OfMessage.TryCreate(peer.ReadUntil(OfType.GetConfigReply, Wait, 4), out var configMessage));
            Assert.True(OfSwitchConfig.TryParse(configMessage, out var config));
            Assert.Equal(0xffff, config.MissSendLength);

            var ports = Multipart(peer, 5, Of13MultipartType.PortDescription, []);
            var names = new List<string>();
            ulong localAddress = 0;
            for (var body = ports.AsSpan(Of13Multipart.Size); body.Length >= Of13PortDescription.Size; body = body[Of13PortDescription.Size..])
            {
                Assert.True(Of13PortDescription.TryRead(body, out var port));
                names.Add($"{port.PortNumber}:{port.Name}");
                localAddress = port.PortNumber == Of13Port.Local ? port.HardwareAddress : localAddress;
            }
            Assert.Contains($"1:{portName}", names);
            Assert.Contains($"{Of13Port.Local}:{lab.Bridge}", names);

            // Our controller's pipeline: both table-miss entries, then a flow with set_field, push_vlan and a masked
            // match, then one that expires after a second and says so.
            var actions = new byte[128];
            var instructions = new byte[256];
            Of13Action.Output(Of13Port.Controller, Of13ControllerMaxLength.NoBuffer).TryWrite(actions, out var a);
            Of13Instruction.Apply(actions.AsSpan(0, a)).TryWrite(instructions, out var i);
            Of13Instruction.GotoTable(1).TryWrite(instructions.AsSpan(i), out var g);
            var miss0 = FlowMod(0, 0, default, instructions.AsSpan(0, i + g));
            Of13Action.Output(Of13Port.Flood).TryWrite(actions, out a);
            Of13Instruction.Apply(actions.AsSpan(0, a)).TryWrite(instructions, out i);
            var miss1 = FlowMod(1, 0, default, instructions.AsSpan(0, i));
            var fields = new byte[64];
            var match = new OxmWriter(fields);
            match.Add(OxmField.EthType, 0x0800);
            match.Add(OxmField.Ipv4Dst, 0x0a000000, 0xff000000);
            var matchFields = fields[..match.Length];
            var oxm = new byte[16];
            var vid = new OxmWriter(oxm);
            vid.Add(OxmField.VlanVid, 0x1005);
            var list = new byte[64];
            var length = 0;
            new Of13Action { Type = Of13ActionType.PushVlan, Value = 0x8100 }.TryWrite(list, out length);
            Of13Action.SetField(oxm.AsSpan(0, vid.Length)).TryWrite(list.AsSpan(length), out var sw);
            length += sw;
            Of13Action.Output(1).TryWrite(list.AsSpan(length), out var ow);
            length += ow;
            Of13Instruction.Write(list.AsSpan(0, length)).TryWrite(instructions, out i);
            var rich = FlowMod(1, 50, matchFields, instructions.AsSpan(0, i), cookie: 0x1234);
            var dst = new OxmWriter(fields);
            dst.Add(OxmField.EthDst, 0x0200000000bb);
            Of13Action.Output(1).TryWrite(actions, out a);
            Of13Instruction.Apply(actions.AsSpan(0, a)).TryWrite(instructions, out i);
            var expiring = FlowMod(1, 60, fields.AsSpan(0, dst.Length), instructions.AsSpan(0, i), hard: 1, flags: Of13FlowModFlags.SendFlowRemoved, cookie: 0x5678);
            uint xid = 10;
            foreach (var flow in new[] { miss0, miss1, rich, expiring })
            {
                BinaryPrimitives.WriteUInt32BigEndian(flow.AsSpan(4), xid++);
                peer.Send(flow);
            }
            Send(peer, Of13Type.BarrierRequest, 20);
            peer.ReadUntil((OfType)Of13Type.BarrierReply, Wait, 20);
            Assert.DoesNotContain(peer.Received, m => m[1] == (byte)Of13Type.Error);

            // The flow stats give our flows back: same table, priority, match and instructions.
            var request = new byte[64];
            new Of13FlowStatsRequest { TableId = Of13Table.All, OutPort = Of13Port.Any, OutGroup = Of13Group.Any }.TryWrite(request, out var requestLength);
            var flows = Multipart(peer, 21, Of13MultipartType.Flow, request[..requestLength]);
            var seen = new List<string>();
            for (var body = flows.AsSpan(Of13Multipart.Size); !body.IsEmpty;)
            {
                Assert.True(Of13FlowStats.TryRead(body, out var stats, out var consumed));
                seen.Add($"{stats.TableId}/{stats.Priority}/{Convert.ToHexString(stats.Match.Fields)}/{Convert.ToHexString(stats.Instructions)}");
                body = body[consumed..];
            }
            output.WriteLine(string.Join("\n", seen));
            foreach (var flow in new[] { miss0, miss1, rich })
            {
                Assert.True(OfMessage.TryCreate(flow, out var flowMessage));
                Assert.True(Of13FlowMod.TryParse(flowMessage, out var sent));
                Assert.Contains($"{sent.TableId}/{sent.Priority}/{Convert.ToHexString(sent.Match.Fields)}/{Convert.ToHexString(sent.Instructions)}", seen);
            }

            // The host's first frames miss table 0: a packet_in (table 0, by action, unbuffered, in_port 1).
            lab.Exec(lab.HostNamespace(1), "ping", "-c", "1", "-W", "1", "10.0.0.2");
            Assert.True(OfMessage.TryCreate(peer.ReadUntil(OfType.PacketIn, Wait), out var packetInMessage));
            Assert.True(Of13PacketIn.TryParse(packetInMessage, out var packetIn));
            Assert.Equal(0, packetIn.TableId);
            Assert.Equal(1u, packetIn.InPort);
            Assert.Equal(OfBuffer.None, packetIn.BufferId);
            Assert.Equal(packetIn.TotalLength, packetIn.Data.Length);

            // packet_out to the controller comes back as packet_in with the frame.
            var frame = Frames.Udp(0x02000000000a, 0x02000000000b, 0x0a000001, 0x0a000002, 1000, 2000, 64);
            Of13Action.Output(Of13Port.Controller, Of13ControllerMaxLength.NoBuffer).TryWrite(actions, out a);
            var toController = actions[..a];
            peer.Send((Span<byte> d, uint x, out int n) => new Of13PacketOut { BufferId = OfBuffer.None, InPort = Of13Port.Controller, Actions = toController, Data = frame }.TryWrite(d, x, out n), 30);
            var deadline = DateTime.UtcNow + Wait;
            var echoed = false;
            while (!echoed && DateTime.UtcNow < deadline)
            {
                Assert.True(OfMessage.TryCreate(peer.ReadUntil(OfType.PacketIn, Wait), out var m));
                Assert.True(Of13PacketIn.TryParse(m, out var p));
                echoed = p.Data.SequenceEqual(frame);
            }
            Assert.True(echoed, "the packet_out frame did not come back");

            // port_mod brings the local port up: port_status says so.
            peer.Send((Span<byte> d, uint x, out int n) => new Of13PortMod(Of13Port.Local, localAddress, 0, OfPortConfig.PortDown, 0).TryWrite(d, x, out n), 31);
            Assert.True(OfMessage.TryCreate(peer.ReadUntil(OfType.PortStatus, Wait), out var statusMessage));
            Assert.True(Of13PortStatus.TryParse(statusMessage, out var status));
            Assert.Equal(OfPortReason.Modify, status.Reason);

            // An unknown type is a 1.3 error with our xid.
            peer.Send([0x04, 0x3f, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2a]);
            var errorBytes = peer.ReadUntil(OfType.Error, Wait, 42);
            Assert.Equal(OfVersion.OpenFlow13, errorBytes[0]);

            // The one-second flow ends by hard timeout.
            // (It may have come while we waited for another message.)
            var removedBytes = peer.Received.FirstOrDefault(m => m[1] == (byte)Of13Type.FlowRemoved) ?? peer.ReadUntil(OfType.FlowRemoved, Wait);
            Assert.True(OfMessage.TryCreate(removedBytes, out var removedMessage));
            Assert.True(Of13FlowRemoved.TryParse(removedMessage, out var removed));
            Assert.Equal(1, removed.Reason);
            Assert.Equal(1, removed.TableId);
            Assert.Equal(0x5678UL, removed.Cookie);
            Assert.True(removed.Match.TryGet(OxmField.EthDst, out var mac));
            Assert.Equal(0x0200000000bbUL, mac);

            output.WriteLine("captured from ovs-vswitchd (1.3): " + string.Join(", ", peer.Received.Select(m => (Of13Type)m[1])));
            Assert.All(peer.Received, m => Assert.Equal(OfVersion.OpenFlow13, m[0]));
            var known = 0;
            foreach (var message in peer.Received.Where(Codec13.Known))
            {
                Codec13.AssertRoundTrip(message, "ovs-vswitchd");
                known++;
            }
            Assert.True(known >= 10);
        }
        catch
        {
            output.WriteLine(lab.Log);
            output.WriteLine(lab.Tail("ovs-vswitchd.log"));
            throw;
        }
    }
}
