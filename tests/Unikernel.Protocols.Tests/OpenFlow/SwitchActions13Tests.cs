using System.Buffers.Binary;
using System.Net;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.Net;
using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>
/// The 1.3 switch's rewriting actions against frames scapy built (Captures/set-field-frames.txt, made by
/// set-field-frames.py: each frame before and after the field changed, every checksum computed by scapy from scratch),
/// and dec_nw_ttl on an expiring TTL (packet_in reason OFPR_INVALID_TTL when set_config asks for it, else a drop).
/// </summary>
public sealed class SwitchActions13Tests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private SwitchUnderTest _net = null!;
    private VirtualClock _clock = null!;
    private INetworkInterface[] _hosts = null!;
    private SoftwareSwitch _switch = null!;
    private OfPeer _peer = null!;

    public async Task InitializeAsync()
    {
        _net = await SwitchUnderTest.StartAsync(datapathId: 0xaf3);
        (_clock, _hosts, _switch, _peer) = (_net.Clock, _net.Hosts, _net.Switch, _net.Peer);
        _peer.Send(Convert.FromHexString("04000010000000010001000800000010")); // hello: 1.3
    }

    public async Task DisposeAsync()
    {
        if (_net is not null)
        {
            await _net.DisposeAsync();
        }
    }

    public sealed record Case(string Name, OxmField Field, byte[] Value, byte[] Before, byte[] After)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<object[]> Cases() =>
        File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "OpenFlow", "Captures", "set-field-frames.txt"))
            .Where(l => l.Length > 0)
            .Select(l => l.Split(' '))
            .Select(p => new object[] { new Case(p[0], (OxmField)int.Parse(p[1]), Convert.FromHexString(p[2]), Convert.FromHexString(p[3]), Convert.FromHexString(p[4])) });

    private static Case Named(string name) => Cases().Select(c => (Case)c[0]).Single(c => c.Name == name);

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Set_field_rewrites_the_frame_as_scapy_builds_it(Case c)
    {
        var buffer = new byte[2048];
        c.Before.CopyTo(buffer, 0);
        var length = FrameRewriter.SetField(c.Field, c.Value, buffer, c.Before.Length);
        Assert.Equal(Hex(c.After), Hex(buffer.AsSpan(0, length)));
    }

    [Fact]
    public void Crc32c_is_the_castagnoli_crc()
    {
        Assert.Equal(0xe3069283u, FrameRewriter.Crc32C("123456789"u8)); // the check value of CRC-32C
        Assert.Equal(0x8a9136aau, FrameRewriter.Crc32C(new byte[32])); // RFC 3720 B.4: 32 bytes of zeros give the bytes aa 36 91 8a
    }

    // ---- through the switch ------------------------------------------------------------------------------------

    private void Barrier()
    {
        _peer.Send(Convert.FromHexString("041400080000ba77"));
        _peer.ReadUntil((OfType)Of13Type.BarrierReply, Wait, 0xba77);
    }

    /// <summary>table 0, priority 1, empty match, the instructions; fails on an error reply.</summary>
    private void AddFlow(ReadOnlySpan<byte> instructions, ulong cookie = 0)
    {
        var buffer = new byte[512];
        Assert.True(new Of13FlowMod
        {
            TableId = 0, Command = OfFlowModCommand.Add, Priority = 1, Cookie = cookie, BufferId = OfBuffer.None, OutPort = Of13Port.Any, OutGroup = Of13Group.Any, Instructions = instructions,
        }.TryWrite(buffer, 0x51, out var n));
        var before = _peer.Received.Count;
        _peer.Send(buffer.AsSpan(0, n));
        Barrier();
        Assert.DoesNotContain(_peer.Received.Skip(before), m => m[1] == (byte)Of13Type.Error);
    }

    private static int SetFieldAction(Span<byte> destination, OxmField field, ReadOnlySpan<byte> value)
    {
        Span<byte> oxm = stackalloc byte[4 + value.Length];
        Assert.True(new Oxm(Oxm.OpenFlowBasic, (byte)field, value).TryWrite(oxm, out var length));
        Assert.True(Of13Action.SetField(oxm[..length]).TryWrite(destination, out var written));
        return written;
    }

    [Fact]
    public void Set_field_on_ipv6_and_sctp_in_apply_and_write_actions_forwards_the_frames_scapy_built()
    {
        var ipv6 = Named("ipv6_src_tcp");
        var sctp = Named("sctp6_dst");
        // apply_actions(set_field ipv6_src, output:2) and write_actions(set_field sctp_dst): the action set runs after
        // the apply-actions, so port 2 gets the IPv6 rewrite first, then (from the action set's output) both.
        var apply = new byte[64];
        var a = SetFieldAction(apply, OxmField.Ipv6Src, ipv6.Value);
        Of13Action.Output(2).TryWrite(apply.AsSpan(a), out var o);
        var write = new byte[64];
        var w = SetFieldAction(write, OxmField.SctpDst, sctp.Value);
        Of13Action.Output(2).TryWrite(write.AsSpan(w), out var o2);
        var instructions = new byte[256];
        Of13Instruction.Apply(apply.AsSpan(0, a + o)).TryWrite(instructions, out var i1);
        Of13Instruction.Write(write.AsSpan(0, w + o2)).TryWrite(instructions.AsSpan(i1), out var i2);
        AddFlow(instructions.AsSpan(0, i1 + i2));

        Frames.Send(_hosts[0], ipv6.Before);
        var received = Frames.Receive(_hosts[1], Wait, atLeast: 2);
        Assert.Equal(2, received.Count);
        Assert.Equal(Hex(ipv6.After), Hex(received[0]));
        Assert.Equal(Hex(ipv6.After), Hex(received[1])); // a TCP packet: set_field sctp_dst changes nothing

        // An SCTP packet: the IPv6 source and the SCTP port both changed, the CRC32c recomputed.
        Frames.Send(_hosts[0], sctp.Before);
        received = Frames.Receive(_hosts[1], Wait, atLeast: 2);
        Assert.Equal(2, received.Count);
        var both = (byte[])sctp.After.Clone();
        ipv6.Value.CopyTo(both, 14 + 8); // the source address does not enter SCTP's checksum
        Assert.Equal(Hex(both), Hex(received[1]));
        both = (byte[])sctp.Before.Clone();
        ipv6.Value.CopyTo(both, 14 + 8);
        Assert.Equal(Hex(both), Hex(received[0])); // after the apply-actions only
    }

    [Fact]
    public void Set_field_on_a_field_the_switch_cannot_set_is_refused()
    {
        var actions = new byte[32];
        var n = SetFieldAction(actions, OxmField.EthType, [0x86, 0xdd]);
        var instructions = new byte[64];
        Of13Instruction.Apply(actions.AsSpan(0, n)).TryWrite(instructions, out var length);
        var buffer = new byte[256];
        Assert.True(new Of13FlowMod
        {
            TableId = 0, Command = OfFlowModCommand.Add, Priority = 1, BufferId = OfBuffer.None, OutPort = Of13Port.Any, OutGroup = Of13Group.Any, Instructions = instructions.AsSpan(0, length),
        }.TryWrite(buffer, 0x61, out var written));
        _peer.Send(buffer.AsSpan(0, written));
        var error = _peer.ReadUntil(OfType.Error, Wait, 0x61);
        Assert.Equal($"{(ushort)OfErrorType.BadAction:x4}{Of13Error.BadActionSetType:x4}", Hex(error.AsSpan(8, 4)).ToLowerInvariant());
    }

    /// <summary>IPv4/UDP with the given TTL (IP header checksum fixed), and the scapy IPv6/UDP frame with the given hop limit (no checksum covers it).</summary>
    private static byte[] Ipv4(byte ttl, int payload = 40)
    {
        var frame = Frames.Udp(0x020000000001, 0x020000000002, 0x0a000001, 0x0a000002, 1000, 2000, payload);
        frame[14 + 8] = ttl;
        frame.AsSpan(14 + 10, 2).Clear();
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14 + 10), InternetChecksum.Finish(InternetChecksum.Add(0, frame.AsSpan(14, 20))));
        return frame;
    }

    private static byte[] Ipv6(byte hopLimit)
    {
        var frame = (byte[])Named("ipv6_dst_udp").Before.Clone();
        frame[14 + 7] = hopLimit;
        return frame;
    }

    private void DecTtlFlow(ulong cookie)
    {
        var actions = new byte[32];
        new Of13Action { Type = Of13ActionType.DecNwTtl }.TryWrite(actions, out var d);
        Of13Action.Output(2).TryWrite(actions.AsSpan(d), out var o);
        var instructions = new byte[64];
        Of13Instruction.Apply(actions.AsSpan(0, d + o)).TryWrite(instructions, out var length);
        AddFlow(instructions.AsSpan(0, length), cookie);
    }

    private void SetConfig(ushort flags, ushort missSendLength)
    {
        var message = Convert.FromHexString("0409000c00000052" + $"{flags:x4}{missSendLength:x4}");
        _peer.Send(message);
        var reply = Convert.FromHexString("0407000800000053");
        _peer.Send(reply);
        Assert.Equal($"0408000C00000053{flags:X4}{missSendLength:X4}", Hex(_peer.ReadUntil((OfType)Of13Type.GetConfigReply, Wait, 0x53)));
    }

    [Fact]
    public void Dec_nw_ttl_on_an_expiring_ttl_drops_without_the_config_flag()
    {
        DecTtlFlow(cookie: 0x77);
        // TTL 2 goes out with 1 (header checksum updated); TTL 1 and 0 and hop limit 1 would reach 0: not forwarded.
        Frames.Send(_hosts[0], Ipv4(2));
        var forwarded = Assert.Single(Frames.Receive(_hosts[1], Wait));
        Assert.Equal(Hex(Ipv4(1)), Hex(forwarded));
        Frames.Send(_hosts[0], Ipv4(1));
        Frames.Send(_hosts[0], Ipv4(0));
        Frames.Send(_hosts[0], Ipv6(1));
        Frames.Send(_hosts[0], Ipv6(2));
        // The port's receive thread handles frames in order: once the last is out, the three before it are done.
        Assert.Equal(Hex(Ipv6(1)), Hex(Assert.Single(Frames.Receive(_hosts[1], Wait))));
        Assert.Equal(3, _switch.InvalidTtl13);
        Barrier();
        Assert.DoesNotContain(_peer.Received, m => m[1] == (byte)OfType.PacketIn);
        Assert.Equal(0, _switch.PacketIns);
    }

    [Fact]
    public void Dec_nw_ttl_on_an_expiring_ttl_sends_packet_in_invalid_ttl_when_set_config_asks()
    {
        DecTtlFlow(cookie: 0x77);
        SetConfig(OfConfigFlags.InvalidTtlToController, Of13ControllerMaxLength.NoBuffer);
        var expired = Ipv4(1);
        Frames.Send(_hosts[0], expired);
        var packetIn = _peer.ReadUntil(OfType.PacketIn, Wait);
        // buffer_id NO_BUFFER (miss_send_len NO_BUFFER), total_len, reason 2 (OFPR_INVALID_TTL), table 0, the flow's
        // cookie, match in_port=1, 2 bytes of padding, the frame as it was (TTL 1).
        Assert.Equal($"040A{42 + expired.Length:X4}00000000" + "FFFFFFFF" + $"{expired.Length:X4}" + "02" + "00" + "0000000000000077" + "0001000C800000040000000100000000" + "0000" + Hex(expired), Hex(packetIn));
        var hop = Ipv6(0);
        Frames.Send(_hosts[0], hop);
        packetIn = _peer.ReadUntil(OfType.PacketIn, Wait);
        Assert.Equal((byte)OfPacketInReason.InvalidTtl, packetIn[14]);
        Assert.Equal(Hex(hop), Hex(packetIn.AsSpan(packetIn.Length - hop.Length)));
        Assert.Empty(Frames.Receive(_hosts[1], TimeSpan.FromMilliseconds(100)));

        // miss_send_len 64: the packet is buffered and its first 64 bytes sent; the controller can release it with
        // packet_out (here output:1, back where it came from: TTL 1 untouched).
        SetConfig(OfConfigFlags.InvalidTtlToController, 64);
        var big = Ipv4(1, payload: 200);
        Frames.Send(_hosts[0], big);
        packetIn = _peer.ReadUntil(OfType.PacketIn, Wait);
        Assert.True(OfMessage.TryCreate(packetIn, out var message));
        Assert.True(Of13PacketIn.TryParse(message, out var parsed));
        Assert.NotEqual(OfBuffer.None, parsed.BufferId);
        Assert.Equal((big.Length, (byte)OfPacketInReason.InvalidTtl, 0x77UL), (parsed.TotalLength, parsed.Reason, parsed.Cookie));
        Assert.Equal(Hex(big.AsSpan(0, 64)), Hex(parsed.Data));
        var actions = new byte[Of13Action.OutputLength];
        Of13Action.Output(Of13Port.InPort).TryWrite(actions, out _);
        var bufferId = parsed.BufferId;
        _peer.Send((Span<byte> d, uint x, out int n) => new Of13PacketOut { BufferId = bufferId, InPort = 1, Actions = actions }.TryWrite(d, x, out n), 0x54);
        Assert.Equal(Hex(big), Hex(Assert.Single(Frames.Receive(_hosts[0], Wait))));
        Assert.Equal(3, _switch.InvalidTtl13);
        Assert.Equal(3, _switch.PacketIns);
    }
}
