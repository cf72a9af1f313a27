using System.Buffers.Binary;
using System.Net;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>
/// Our switch speaking OpenFlow 1.3, driven byte for byte by what ovs-ofctl sent Open vSwitch 3.1 in the capture
/// (Captures/ovs-3.1-openflow13.txt): its replies are compared with the ones ovs-vswitchd gave, with only the fields
/// that describe a different switch (datapath, buffers, tables, capabilities, ports, counters and durations) patched.
/// Messages OVS was not captured answering are checked against the layouts of the specification, written out.
/// </summary>
public sealed class SwitchWireFormat13Tests : IAsyncLifetime
{
    private const string Capture = "ovs-3.1-openflow13.txt";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private SwitchUnderTest _net = null!;
    private VirtualClock _clock = null!;
    private INetworkInterface[] _hosts = null!;
    private SoftwareSwitch _switch = null!;
    private OfPeer _peer = null!;
    private List<(char Direction, byte[] Bytes)> _capture = null!;

    public async Task InitializeAsync()
    {
        _capture = Codec13.ReadCapture(Capture);
        _net = await SwitchUnderTest.StartAsync(datapathId: 0xaf2);
        (_clock, _hosts, _switch, _peer) = (_net.Clock, _net.Hosts, _net.Switch, _net.Peer);
        // Our hello: 1.3 in the header, 1.0 and 1.3 in the version bitmap.
        Assert.Equal("0400001000000001" + "0001000800000012", Convert.ToHexString(_net.SwitchHello));
    }

    public async Task DisposeAsync()
    {
        if (_net is not null)
        {
            await _net.DisposeAsync();
        }
    }

    /// <summary>The n-th captured message from ovs-ofctl ('>') or ovs-vswitchd ('<') whose header starts with <paramref name="prefix"/> (hex).</summary>
    private byte[] Captured(char direction, string prefix, int n = 0) =>
        _capture.Where(m => m.Direction == direction && Convert.ToHexString(m.Bytes).StartsWith(prefix, StringComparison.OrdinalIgnoreCase)).ElementAt(n).Bytes;

    private void Hello13() => _peer.Send(Convert.FromHexString("04000010000000010001000800000010"));

    private static string Hex(byte[] bytes) => Convert.ToHexString(bytes);

    private static byte[] Patch(byte[] bytes, int offset, string hex)
    {
        var copy = (byte[])bytes.Clone();
        Convert.FromHexString(hex).CopyTo(copy, offset);
        return copy;
    }

    private byte[] Request(byte[] message) => Request(message, (OfType)(message[1] + 1));

    private byte[] Request(byte[] message, OfType replyType)
    {
        _peer.Send(message);
        return _peer.ReadUntil(replyType, Wait, BinaryPrimitives.ReadUInt32BigEndian(message.AsSpan(4)));
    }

    private void Barrier() => _peer.Send(Convert.FromHexString("041400080000ba77"));

    private void Send(byte[] message)
    {
        var before = _peer.Received.Count;
        _peer.Send(message);
        Barrier();
        _peer.ReadUntil((OfType)Of13Type.BarrierReply, Wait, 0xba77);
        var errors = _peer.Received.Skip(before).Where(m => m[1] == (byte)Of13Type.Error).Select(Hex).ToList();
        Assert.True(errors.Count == 0, $"errors: {string.Join(", ", errors)} for {Hex(message)}");
    }

    private byte[] ExpectError(byte[] message, ushort type, ushort code)
    {
        _peer.Send(message);
        var error = _peer.ReadUntil(OfType.Error, Wait, BinaryPrimitives.ReadUInt32BigEndian(message.AsSpan(4)));
        Assert.Equal(OfVersion.OpenFlow13, error[0]);
        Assert.Equal($"{type:x4}{code:x4}", Hex(error[8..12]).ToLowerInvariant());
        Assert.Equal(Hex(message[..Math.Min(64, message.Length)]), Hex(error[12..])); // the start of the offending message
        return error;
    }

    /// <summary>Flow stats entries with durations and counters zeroed (they differ between any two switches).</summary>
    private static List<string> FlowEntries(byte[] reply)
    {
        Assert.True(OfMessage.TryCreate(reply, out var message));
        Assert.True(Of13Multipart.TryParse(message, out var multipart));
        var entries = new List<string>();
        for (var body = multipart.Body; !body.IsEmpty;)
        {
            Assert.True(Of13FlowStats.TryRead(body, out _, out var n));
            var entry = body[..n].ToArray();
            entry.AsSpan(4, 8).Clear();
            entry.AsSpan(32, 16).Clear();
            entries.Add(Hex(entry));
            body = body[n..];
        }
        return entries;
    }

    [Fact]
    public void Handshake_config_barrier_and_echo_answer_as_ovs_vswitchd_does()
    {
        Hello13();
        // features_reply: OVS's bytes with our buffers (256), tables (8) and capabilities (flow, table, port stats).
        var ovsFeatures = Captured('<', "0406");
        var features = Request(Captured('>', "0405"));
        Assert.Equal(Hex(Patch(Patch(Patch(ovsFeatures, 16, "00000100"), 20, "08"), 24, "00000007")), Hex(features));

        // set_config as ovs-ofctl sent it, then get_config: the same flags and miss_send_len back.
        _peer.Send(Captured('>', "0409"));
        Assert.Equal("0408000C00000002" + "0000FFFE", Hex(Request(Captured('>', "0407"))));

        Assert.Equal(Hex(Captured('<', "0415")), Hex(Request(Captured('>', "0414"))));
        Assert.Equal("0403000800000099", Hex(Request(Convert.FromHexString("0402000800000099"))));
        Assert.All(_peer.Received, m => Assert.Equal(OfVersion.OpenFlow13, m[0]));

        // role_request (master, generation 7): one controller, so every controller is equal.
        var role = Request(Convert.FromHexString("041800180000000500000002000000000000000000000007"), (OfType)Of13Type.RoleReply);
        Assert.Equal("041900180000000500000001000000000000000000000007", Hex(role));
    }

    [Fact]
    public void Flows_ovs_ofctl_added_are_listed_as_ovs_vswitchd_lists_them_and_expire_as_its_did()
    {
        Hello13();
        var flowMods = _capture.Where(m => m.Direction == '>' && m.Bytes[1] == (byte)Of13Type.FlowMod).Select(m => m.Bytes).ToList();
        for (var i = 0; i < 6; i++)
        {
            Send(flowMods[i]); // the six add-flow of the capture (one with masks, set_field, push_vlan and dec_ttl)
        }
        Assert.Equal(6, _switch.Flows13.Count);
        Assert.Equal((2, 4), (_switch.Flows13.CountIn(0), _switch.Flows13.CountIn(1)));

        // dump-flows: every entry OVS listed, byte for byte but durations and counters.
        var ovsFlows = FlowEntries(Captured('<', "04130258"));
        var ours = FlowEntries(Request(Captured('>', "041200380000000200010000")));
        Assert.Equal(ovsFlows.Order(), ours.Order());

        // dump-aggregate: OVS's reply with our counts (no packets yet; the same six flows).
        var ovsAggregate = Captured('<', "0413002800000002");
        var aggregate = Request(Captured('>', "041200380000000200020000"));
        Assert.Equal(Hex(Patch(ovsAggregate, 16, "00000000000000000000000000000000")), Hex(aggregate));

        // hard_timeout=1,send_flow_rem: after a virtual second and a half, the flow_removed OVS sent (but durations and counters).
        _clock.Advance(TimeSpan.FromSeconds(1.5));
        var removed = _peer.ReadUntil(OfType.FlowRemoved, Wait);
        var ovsRemoved = Captured('<', "040b", 0);
        static string Zeroed(byte[] m)
        {
            var copy = (byte[])m.Clone();
            copy.AsSpan(20, 8).Clear();
            copy.AsSpan(32, 16).Clear();
            return Hex(copy);
        }
        Assert.Equal(Zeroed(ovsRemoved), Zeroed(removed));
        Assert.Equal(5, _switch.Flows13.Count);

        // --strict del-flows of table=1,priority=100,dl_dst=…:01 (send_flow_rem): removed with reason delete, as OVS reported it.
        _peer.Send(flowMods[6]);
        var deleted = _peer.ReadUntil(OfType.FlowRemoved, Wait);
        Assert.Equal(Zeroed(Captured('<', "040b", 1)), Zeroed(deleted));
        Assert.Equal(4, _switch.Flows13.Count);
        // del-flows table=0,in_port=1 (non-strict): the learned source entry goes, the table-miss entry stays.
        Send(flowMods[7]);
        Assert.Equal((1, 2), (_switch.Flows13.CountIn(0), _switch.Flows13.CountIn(1)));
        Assert.Single(_peer.Received, m => m[1] == (byte)OfType.FlowRemoved && m[18] == 2);
    }

    [Fact]
    public void Port_description_table_and_port_stats_have_the_1_3_layouts()
    {
        Hello13();
        var ports = Request(Captured('>', "0412001000000004000d"));
        // Two 64-byte ofp_port (OVS's reply also lists its LOCAL port, which this switch has not): number, MAC, name,
        // config, state, current features (1 Gb/s full duplex, copper), advertised, supported, peer, speeds in kb/s.
        Assert.Equal("0413009000000004000D000000000000"
            + "00000001000000000200000010010000706f7274310000000000000000000000000000000000000000000820000000000000000000000000000f4240000f4240".ToUpperInvariant()
            + "00000002000000000200000010020000706f7274320000000000000000000000000000000000000000000820000000000000000000000000000f4240000f4240".ToUpperInvariant(),
            Hex(ports));
        Assert.True(OfMessage.TryCreate(Captured('<', "041300d0"), out var ovsReply));
        Assert.True(Of13Multipart.TryParse(ovsReply, out var ovsPorts));
        Assert.True(Of13PortDescription.TryRead(ovsPorts.Body[64..], out var ovsPort1));
        Assert.Equal((1u, "of2a"), (ovsPort1.PortNumber, ovsPort1.Name)); // the same layout decodes OVS's ports

        var tables = Request(Convert.FromHexString("04120010000000070003000000000000"));
        Assert.Equal(16 + 8 * Of13TableStats.Size, tables.Length);
        Assert.True(Of13TableStats.TryRead(tables.AsSpan(16 + 7 * Of13TableStats.Size), out var table7));
        Assert.Equal(new Of13TableStats(7, 0, 0, 0), table7);

        Frames.Send(_hosts[0], Frames.Udp(0x020000000001, 0x020000000002, 0x0a000001, 0x0a000002, 1000, 2000, 40));
        SpinWait.SpinUntil(() => _switch.PortCounters(1).RxPackets == 1, Wait);
        var portStats = Request(Convert.FromHexString("041200180000000800040000000000000000000100000000"));
        Assert.Equal(16 + Of13PortStats.Size, portStats.Length);
        Assert.Equal("0413008000000008000400000000000000000001000000000000000000000001", Hex(portStats[..32])); // port 1, rx_packets 1
        Assert.True(Of13PortStats.TryRead(portStats.AsSpan(16), out var port1));
        Assert.Equal(1UL, port1.Counters.RxPackets);
        Assert.Equal(0UL, port1.Counters.TxPackets);
        Assert.Equal(0UL, port1.Counters.RxDropped); // received fine; then the pipeline dropped it:
        Assert.Equal(1, _switch.Misses13); // no table-miss entry (1.3 sends nothing to the controller)
        Assert.Equal(0, _switch.PacketIns);

        var description = Request(Captured('>', "04120010000000020000"));
        Assert.Equal(Captured('<', "0413043000000002").Length, description.Length);
        Assert.True(OfDescriptionStats.TryRead(description.AsSpan(16), out var desc));
        Assert.Equal("Unikernel", desc.Manufacturer);
    }

    [Fact]
    public void Table_miss_entry_sends_packet_in_then_goto_floods_and_packet_out_sends()
    {
        Hello13();
        var flowMods = _capture.Where(m => m.Direction == '>' && m.Bytes[1] == (byte)Of13Type.FlowMod).Select(m => m.Bytes).ToList();
        Send(flowMods[0]); // table=0,priority=0,actions=CONTROLLER:65535,goto_table:1
        Send(flowMods[1]); // table=1,priority=0,actions=FLOOD
        var frame = Frames.Udp(0x020000000001, 0x020000000002, 0x0a000001, 0x0a000002, 1000, 2000, 40);
        Frames.Send(_hosts[0], frame);
        var packetIn = _peer.ReadUntil(OfType.PacketIn, Wait);
        // buffer_id NO_BUFFER, total_len, reason no_match (the table-miss entry), table 0, cookie 0, match in_port=1, 2 bytes of padding, the frame.
        var expected = $"040A{42 + frame.Length:X4}00000000" + "FFFFFFFF" + $"{frame.Length:X4}" + "00" + "00" + "0000000000000000" + "0001000C800000040000000100000000" + "0000" + Hex(frame);
        Assert.Equal(expected, Hex(packetIn));
        Assert.Equal(Hex(frame), Hex(Assert.Single(Frames.Receive(_hosts[1], Wait))));

        // The capture's packet_out: in_port CONTROLLER, output:CONTROLLER (max_len NO_BUFFER) → a packet_in, reason action, no flow's cookie.
        var packetOut = Captured('>', "040d");
        Assert.True(OfMessage.TryCreate(packetOut, out var packetOutMessage));
        Assert.True(Of13PacketOut.TryParse(packetOutMessage, out var parsed));
        var data = parsed.Data.ToArray();
        _peer.Send(packetOut);
        var echoed = _peer.ReadUntil(OfType.PacketIn, Wait, 0);
        Assert.Equal($"040A{42 + data.Length:X4}00000000" + "FFFFFFFF" + $"{data.Length:X4}" + "01" + "00" + "FFFFFFFFFFFFFFFF" + "0001000C80000004FFFFFFFD00000000" + "0000" + Hex(data), Hex(echoed));

        // packet_out output:TABLE runs the pipeline (another packet_in and a flood to port 2 from in_port 1).
        var actions = new byte[Of13Action.OutputLength];
        Of13Action.Output(Of13Port.Table).TryWrite(actions, out _);
        _peer.Send((Span<byte> d, uint x, out int n) => new Of13PacketOut { BufferId = OfBuffer.None, InPort = 1, Actions = actions, Data = frame }.TryWrite(d, x, out n), 0x77);
        Assert.Equal(Hex(frame), Hex(Assert.Single(Frames.Receive(_hosts[1], Wait))));
        Assert.Equal(0, _peer.ReadUntil(OfType.PacketIn, Wait, 0)[14]); // from table 0's table-miss entry again
        Assert.Equal(3, _switch.PacketIns); // the table-miss one, the one by action, the pipeline's second table-miss one
    }

    [Fact]
    public void A_buffered_packet_in_is_released_by_the_flow_mod_that_names_its_buffer()
    {
        Hello13();
        var match = new byte[16];
        var instructions = new byte[64];
        var actions = new byte[Of13Action.OutputLength];
        var buffer = new byte[256];
        byte[] FlowMod(byte table, ushort priority, ReadOnlySpan<byte> fields, int instructionLength, uint bufferId = OfBuffer.None)
        {
            Assert.True(new Of13FlowMod
            {
                TableId = table, Command = OfFlowModCommand.Add, Priority = priority, BufferId = bufferId, OutPort = Of13Port.Any, OutGroup = Of13Group.Any,
                Match = new Of13Match(fields), Instructions = instructions.AsSpan(0, instructionLength),
            }.TryWrite(buffer, 0x42, out var n));
            return buffer[..n];
        }
        // table=0,priority=0,actions=CONTROLLER:128 (as ovs-testcontroller installs it).
        Of13Action.Output(Of13Port.Controller, 128).TryWrite(actions, out _);
        Of13Instruction.Apply(actions).TryWrite(instructions, out var length);
        Send(FlowMod(0, 0, default, length));
        var frame = Frames.Udp(0x020000000001, 0x020000000002, 0x0a000001, 0x0a000002, 1000, 2000, 200);
        Frames.Send(_hosts[0], frame);
        var packetIn = _peer.ReadUntil(OfType.PacketIn, Wait);
        Assert.True(OfMessage.TryCreate(packetIn, out var message));
        Assert.True(Of13PacketIn.TryParse(message, out var parsed));
        Assert.NotEqual(OfBuffer.None, parsed.BufferId);
        Assert.Equal(frame.Length, parsed.TotalLength);
        Assert.Equal(Hex(frame[..128]), Hex(parsed.Data.ToArray()));
        Assert.Equal(0, parsed.Reason);
        Assert.Empty(Frames.Receive(_hosts[1], TimeSpan.FromMilliseconds(100)));

        // in_port=1 → apply_actions(output:2), with the buffer: the held packet goes out whole.
        var writer = new OxmWriter(match);
        writer.Add(OxmField.InPort, 1);
        Of13Action.Output(2).TryWrite(actions, out _);
        Of13Instruction.Apply(actions).TryWrite(instructions, out length);
        Send(FlowMod(0, 10, writer.Written, length, parsed.BufferId));
        Assert.Equal(Hex(frame), Hex(Assert.Single(Frames.Receive(_hosts[1], Wait))));
        var released = Assert.Single(_switch.Flows13.Select(0, Of13CompiledMatch.Any, 0, strict: false, Of13Port.Any, Of13Group.Any, 0, 0), f => f.Priority == 10);
        Assert.Equal((1UL, (ulong)frame.Length), (released.PacketCount, released.ByteCount)); // the released packet counts
        // A buffer is used once.
        var again = FlowMod(0, 11, writer.Written, length, parsed.BufferId);
        ExpectError(again, (ushort)OfErrorType.BadRequest, OfErrorCode.BadRequestBufferUnknown);
    }

    [Fact]
    public void Write_actions_set_field_push_vlan_and_metadata_are_applied_in_the_specifications_order()
    {
        Hello13();
        // The capture's masked flow in table 1: ip,nw_dst=10.0.0.0/8,dl_src=02:00:00/24 → push_vlan, vlan_vid=5, ip_dst=10.0.0.9, dec_ttl, output:2.
        var flowMods = _capture.Where(m => m.Direction == '>' && m.Bytes[1] == (byte)Of13Type.FlowMod).Select(m => m.Bytes).ToList();
        Send(flowMods[4]);
        // table 0: write_metadata 0x5/0xff, write_actions(output:2) and goto_table 1.
        var instructions = new byte[64];
        var actions = new byte[Of13Action.OutputLength];
        var buffer = new byte[256];
        void Add(byte table, ushort priority, ReadOnlySpan<byte> fields, int length)
        {
            Assert.True(new Of13FlowMod
            {
                TableId = table, Command = OfFlowModCommand.Add, Priority = priority, BufferId = OfBuffer.None, OutPort = Of13Port.Any, OutGroup = Of13Group.Any,
                Match = new Of13Match(fields), Instructions = instructions.AsSpan(0, length),
            }.TryWrite(buffer, 0x43, out var n));
            Send(buffer[..n]);
        }
        Of13Action.Output(2).TryWrite(actions, out _);
        new Of13Instruction { Type = Of13InstructionType.WriteMetadata, Metadata = 5, MetadataMask = 0xff }.TryWrite(instructions, out var a);
        Of13Instruction.Write(actions).TryWrite(instructions.AsSpan(a), out var b);
        Of13Instruction.GotoTable(1).TryWrite(instructions.AsSpan(a + b), out var c);
        Add(0, 1, default, a + b + c);

        var frame = Frames.Udp(0x020000000001, 0x020000000099, 0x0b000001, 0x0a000002, 1000, 2000, 40);
        Frames.Send(_hosts[0], frame);
        // Out twice on port 2: by table 1's apply-actions, then by the action set, which sees the packet as they left it.
        var received = Frames.Receive(_hosts[1], Wait, atLeast: 2);
        Assert.Equal(2, received.Count);
        Assert.Equal(Hex(received[0]), Hex(received[1]));
        var tagged = received[0];
        Assert.Equal(frame.Length + 4, tagged.Length);
        Assert.Equal("81000005", Hex(tagged[12..16])); // the pushed tag with VID 5 (set_field vlan_vid 0x1005: present bit and 5)
        Assert.Equal(0x0a000009u, BinaryPrimitives.ReadUInt32BigEndian(tagged.AsSpan(18 + 16)));
        Assert.Equal(frame[14 + 8] - 1, tagged[18 + 8]); // TTL decremented
        Assert.True(Frames.ChecksumsValid([.. tagged[..12], .. tagged[16..]]), "checksums after set_field and dec_ttl");
        Assert.Equal(Hex(frame), Hex(Frames.Udp(0x020000000001, 0x020000000099, 0x0b000001, 0x0a000002, 1000, 2000, 40))); // the received frame was not touched

        // metadata=5/0xff in table 1, above the capture's flow, with only clear_actions: now the packet is dropped there
        // (without clear_actions the action set's output:2 would still send it).
        var fields = new byte[24];
        var match = new OxmWriter(fields);
        match.Add(OxmField.Metadata, 5, 0xff);
        new Of13Instruction { Type = Of13InstructionType.ClearActions }.TryWrite(instructions, out var clear);
        Add(1, 100, match.Written, clear);
        Frames.Send(_hosts[0], frame);
        Assert.Empty(Frames.Receive(_hosts[1], TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public void Unsupported_requests_get_the_1_3_errors()
    {
        Hello13();
        // group_mod add (OFPGC_ADD, all, group 1): no group table.
        ExpectError(Convert.FromHexString("040f0010000000210000000000000001"), Of13Error.GroupModFailed, Of13Error.GroupModOutOfGroups);
        // group_mod delete of a group that does not exist: not an error.
        Send(Convert.FromHexString("040f0010000000220002000000000001"));
        // meter_mod: no meters.
        ExpectError(Convert.FromHexString("041d0010000000230000000000000001"), (ushort)OfErrorType.BadRequest, OfErrorCode.BadRequestType);

        var buffer = new byte[256];
        var instructions = new byte[64];
        var actions = new byte[Of13Action.OutputLength];
        byte[] FlowMod(byte table, int length)
        {
            Assert.True(new Of13FlowMod
            {
                TableId = table, Command = OfFlowModCommand.Add, Priority = 1, BufferId = OfBuffer.None, OutPort = Of13Port.Any, OutGroup = Of13Group.Any, Instructions = instructions.AsSpan(0, length),
            }.TryWrite(buffer, 0x44, out var n));
            return buffer[..n];
        }
        Of13Instruction.GotoTable(0).TryWrite(instructions, out var length);
        ExpectError(FlowMod(0, length), Of13Error.BadInstruction, Of13ErrorCode.BadInstructionTableId); // goto must go forward
        Of13Instruction.GotoTable(8).TryWrite(instructions, out length);
        ExpectError(FlowMod(0, length), Of13Error.BadInstruction, Of13ErrorCode.BadInstructionTableId); // there are 8 tables
        ExpectError(FlowMod(8, 0), Of13Error.FlowModFailed, Of13Error.FlowModBadTableId);
        Of13Action.Output(9).TryWrite(actions, out _);
        Of13Instruction.Apply(actions).TryWrite(instructions, out length);
        ExpectError(FlowMod(0, length), (ushort)OfErrorType.BadAction, OfErrorCode.BadActionOutPort);
        new Of13Action { Type = Of13ActionType.Group, Value = 1 }.TryWrite(actions, out var groupLength);
        Of13Instruction.Apply(actions.AsSpan(0, groupLength)).TryWrite(instructions, out length);
        ExpectError(FlowMod(0, length), (ushort)OfErrorType.BadAction, Of13Error.BadActionOutGroup);
        Of13Instruction.Meter(1).TryWrite(instructions, out length);
        ExpectError(FlowMod(0, length), Of13Error.BadInstruction, Of13ErrorCode.BadInstructionUnsupported);

        // A match on ipv4_dst without eth_type=0x0800: bad prerequisite.
        var fields = new byte[16];
        var match = new OxmWriter(fields);
        match.Add(OxmField.Ipv4Dst, 0x0a000001);
        Assert.True(new Of13FlowMod
        {
            TableId = 0, Command = OfFlowModCommand.Add, Priority = 1, BufferId = OfBuffer.None, OutPort = Of13Port.Any, OutGroup = Of13Group.Any, Match = new Of13Match(match.Written),
        }.TryWrite(buffer, 0x45, out var written));
        ExpectError(buffer[..written], Of13Error.BadMatch, Of13Error.BadMatchPrerequisite);

        // Group features: not offered; table features can be read but not set.
        ExpectError(Convert.FromHexString("04120010000000460008000000000000"), (ushort)OfErrorType.BadRequest, Of13Error.BadRequestMultipart);
        ExpectError(Convert.FromHexString("0412005000000047000c000000000000" + "0040000000000000" + "7461626c65300000000000000000000000000000000000000000000000000000" + "ffffffffffffffffffffffffffffffff0000000000010000"),
            Of13Error.TableFeaturesFailed, Of13Error.TableFeaturesPermission);
        Assert.Equal(0, _switch.Flows13.Count);
    }

    [Fact]
    public void A_1_0_controller_still_gets_the_1_0_switch()
    {
        _peer.Send(new byte[] { 1, 0, 0, 8, 0, 0, 0, 1 });
        var features = Request(new byte[] { 1, (byte)OfType.FeaturesRequest, 0, 8, 0, 0, 0, 2 });
        Assert.Equal(OfVersion.OpenFlow10, features[0]);
        Assert.True(OfMessage.TryCreate(features, out var message));
        Assert.True(OfFeaturesReply.TryParse(message, out var reply));
        Assert.Equal(1, reply.Tables);
        Assert.Equal(2, reply.PortCount);
        SpinWait.SpinUntil(() => _switch.IsConnected, Wait);
        Frames.Send(_hosts[0], Frames.Udp(0x020000000001, 0x020000000002, 0x0a000001, 0x0a000002, 1000, 2000, 40));
        var packetIn = _peer.ReadUntil(OfType.PacketIn, Wait); // 1.0: a miss goes to the controller
        Assert.Equal(OfVersion.OpenFlow10, packetIn[0]);
    }
}
