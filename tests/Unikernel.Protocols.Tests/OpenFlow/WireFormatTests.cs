using System.Buffers.Binary;
using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>OpenFlow 1.0 encodings against the layouts of the specification, and the match and action semantics.</summary>
public class WireFormatTests
{
    private static byte[] Write(OfPeer.Writer write, uint xid = 0x01020304)
    {
        var buffer = new byte[OfMessage.MaxLength];
        Assert.True(write(buffer, xid, out var n));
        return buffer[..n];
    }

    [Fact]
    public void Hello_and_echo_are_a_header_and_a_body()
    {
        Assert.Equal("0100000801020304", Convert.ToHexString(Write((Span<byte> d, uint x, out int n) => new OfSimpleMessage(OfType.Hello).TryWrite(d, x, out n))));
        Assert.Equal("0102000B01020304414243", Convert.ToHexString(Write((Span<byte> d, uint x, out int n) => new OfSimpleMessage(OfType.EchoRequest, "ABC"u8).TryWrite(d, x, out n))));
    }

    [Fact]
    public void Hello_version_bitmaps_negotiate_the_highest_common_version()
    {
        // A hello of a peer that speaks 1.0 and 1.3 (as Open vSwitch sends with protocols=OpenFlow10,OpenFlow13).
        Assert.True(OfMessage.TryCreate(Convert.FromHexString("0400001000000001" + "0001000800000012"), out var message));
        Assert.True(OfHello.TryParse(message, out var both));
        Assert.Equal(0x12u, both.VersionBitmap);
        Assert.Equal(OfVersion.OpenFlow10, OfHello.Negotiate(1u << 1, both));
        Assert.Equal(OfVersion.OpenFlow13, OfHello.Negotiate((1u << 1) | (1u << 4), both));
        Assert.Equal(0, OfHello.Negotiate(1u << 5, both));
        Assert.Equal(OfVersion.OpenFlow13, OfHello.Negotiate((1u << 1) | (1u << 4), new OfHello(6, 0))); // no bitmap: up to its version
        Assert.Equal(0, OfHello.Negotiate(1u << 1, new OfHello(0, 0)));
        var buffer = new byte[16];
        Assert.True(both.TryWrite(buffer, 1, out var n));
        Assert.Equal("04000010000000010001000800000012", Convert.ToHexString(buffer, 0, n));
    }

    [Fact]
    public void Flow_mod_has_the_specified_layout()
    {
        var match = OfMatch.Any;
        match.Wildcards = OfWildcards.All & ~(OfWildcards.InPort | OfWildcards.DlDst);
        match.InPort = 3;
        match.DlDst = 0x0a0b0c0d0e0f;
        var actions = new byte[8];
        OfAction.Output(2, 0).TryWrite(actions, out _);
        var bytes = Write((Span<byte> d, uint x, out int n) => new OfFlowMod
        {
            Match = match,
            Cookie = 0x1122334455667788,
            Command = OfFlowModCommand.ModifyStrict,
            IdleTimeout = 10,
            HardTimeout = 30,
            Priority = 0x8000,
            BufferId = 0x00000100,
            OutPort = OfPort.None,
            Flags = OfFlowModFlags.SendFlowRemoved,
            Actions = actions,
        }.TryWrite(d, x, out n));
        var expected =
            "010E0050" + "01020304" + // header: version 1, FLOW_MOD, 80 bytes
            "003FFFF6" + "0003" + "000000000000" + "0A0B0C0D0E0F" + "0000" + "00" + "00" + "0000" + "00" + "00" + "0000" + "00000000" + "00000000" + "0000" + "0000" + // match
            "1122334455667788" + "0002" + "000A" + "001E" + "8000" + "00000100" + "FFFF" + "0001" + // cookie .. flags
            "00000008" + "00020000"; // output:2
        Assert.Equal(expected, Convert.ToHexString(bytes));
        Codec.AssertRoundTrip(bytes, "our encoder");
    }

    [Fact]
    public void Packet_in_data_starts_at_byte_18()
    {
        var bytes = Write((Span<byte> d, uint x, out int n) => new OfPacketIn { BufferId = 7, TotalLength = 60, InPort = 2, Reason = OfPacketInReason.NoMatch, Data = new byte[] { 0xAA, 0xBB } }.TryWrite(d, x, out n));
        Assert.Equal("010A001401020304" + "00000007" + "003C" + "0002" + "00" + "00" + "AABB", Convert.ToHexString(bytes));
    }

    [Fact]
    public void Every_message_type_round_trips_and_truncated_ones_are_refused()
    {
        var actions = new byte[64];
        OfAction.TryWriteList([OfAction.SetDlDst(0x020000000001), OfAction.Enqueue(1, 7), OfAction.Output(OfPort.Flood)], actions, out var actionsLength);
        var list = actions[..actionsLength];
        var flowStats = new byte[OfFlowStats.Size + list.Length];
        new OfFlowStats { Match = OfMatch.Any, Priority = 5, Cookie = 9, PacketCount = 3, ByteCount = 180, Actions = list }.TryWrite(flowStats, out _);
        var port = new OfPhysicalPort(1, 0x020000000001, "eth0", OfPortConfig.NoFlood, OfPortState.LinkDown, 0x40);
        var messages = new List<byte[]>
        {
            Write((Span<byte> d, uint x, out int n) => new OfErrorMessage(OfErrorType.BadAction, OfErrorCode.BadActionOutPort, "offending"u8).TryWrite(d, x, out n)),
            Write((Span<byte> d, uint x, out int n) => new OfFeaturesReply { DatapathId = 42, Buffers = 256, Tables = 1, Capabilities = 7, Actions = 0xfff }.TryWrite(d, x, [port, port with { PortNumber = 2, Name = "eth1" }], out n)),
            Write((Span<byte> d, uint x, out int n) => new OfSwitchConfig(OfConfigFlags.FragmentsDrop, 128).TryWrite(d, OfType.SetConfig, x, out n)),
            Write((Span<byte> d, uint x, out int n) => new OfPacketOut { BufferId = OfBuffer.None, InPort = 1, Actions = list, Data = new byte[60] }.TryWrite(d, x, out n)),
            Write((Span<byte> d, uint x, out int n) => new OfFlowRemoved(OfMatch.Any, 1, 2, OfFlowRemovedReason.Delete, 3, 4, 5, 6, 7).TryWrite(d, x, out n)),
            Write((Span<byte> d, uint x, out int n) => new OfPortStatus(OfPortReason.Add, port).TryWrite(d, x, out n)),
            Write((Span<byte> d, uint x, out int n) => new OfPortMod(1, 0x020000000001, OfPortConfig.PortDown, OfPortConfig.PortDown, 0).TryWrite(d, x, out n)),
            Write((Span<byte> d, uint x, out int n) => new OfStatsMessage(OfType.StatsReply, OfStatsType.Flow, 0, flowStats).TryWrite(d, x, out n)),
        };
        foreach (var message in messages)
        {
            Codec.AssertRoundTrip(message, "our encoder");
            for (var cut = 8; cut < message.Length; cut += Math.Max(1, message.Length / 7))
            {
                // A message whose length field says it is shorter than its structure is refused by its parser.
                var truncated = message[..cut];
                BinaryPrimitives.WriteUInt16BigEndian(truncated.AsSpan(2), (ushort)cut);
                Assert.True(OfMessage.TryCreate(truncated, out var view));
                Assert.False(Parses(view) && cut < MinimumLength(view.Type), $"{view.Type} cut to {cut} bytes parsed");
            }
        }
        Assert.False(OfMessage.TryCreate([1, 0, 0, 7, 0, 0, 0, 0], out _));
        Assert.Equal(-1, OfMessage.FrameLength([1, 0, 0, 7]));
        Assert.False(OfMessage.TryCreate([1, 0, 0, 9, 0, 0, 0, 0], out _));
    }

    private static int MinimumLength(OfType type) => type switch
    {
        OfType.Error => OfErrorMessage.Size,
        OfType.FeaturesReply => OfFeaturesReply.Size,
        OfType.SetConfig or OfType.GetConfigReply => OfSwitchConfig.Size,
        OfType.PacketOut => OfPacketOut.Size,
        OfType.FlowRemoved => OfFlowRemoved.Size,
        OfType.PortStatus => OfPortStatus.Size,
        OfType.PortMod => OfPortMod.Size,
        OfType.StatsReply => OfStatsMessage.Size,
        _ => 8,
    };

    /// <summary>Runs every parser on <paramref name="view"/>; true when the one for its type accepts it.</summary>
    internal static bool Parses(OfMessage view)
    {
        var accepted = false;
        accepted |= OfErrorMessage.TryParse(view, out _);
        accepted |= OfFeaturesReply.TryParse(view, out var features);
        for (var i = 0; i < features.PortCount; i++)
        {
            _ = features.Port(i).IsDown;
        }
        accepted |= OfSwitchConfig.TryParse(view, out _);
        accepted |= OfPacketIn.TryParse(view, out _);
        if (OfPacketOut.TryParse(view, out var packetOut))
        {
            accepted = true;
            OfAction.Validate(packetOut.Actions);
        }
        if (OfFlowMod.TryParse(view, out var flowMod))
        {
            accepted = true;
            OfAction.Validate(flowMod.Actions);
        }
        accepted |= OfFlowRemoved.TryParse(view, out _);
        accepted |= OfPortStatus.TryParse(view, out _);
        accepted |= OfPortMod.TryParse(view, out _);
        if (OfStatsMessage.TryParse(view, out var stats))
        {
            accepted = true;
            var body = stats.Body;
            OfDescriptionStats.TryRead(body, out _);
            OfFlowStatsRequest.TryRead(body, out _);
            OfAggregateStats.TryRead(body, out _);
            OfTableStats.TryRead(body, out _);
            OfPortStatsRequest.TryRead(body, out _);
            OfPortStats.TryRead(body, out _);
            for (var offset = 0; OfFlowStats.TryRead(body[offset..], out var flow, out var consumed); offset += consumed)
            {
                OfAction.Validate(flow.Actions);
            }
        }
        return accepted;
    }

    [Fact]
    public void Match_extracts_the_12_tuple_of_a_udp_frame()
    {
        var frame = Frames.Udp(0x02000000000a, 0x02000000000b, 0x0a000001, 0x0a000102, 1234, 53);
        Assert.True(OfMatch.TryExtract(frame, 7, out var m));
        Assert.Equal((ushort)7, m.InPort);
        Assert.Equal(0x02000000000aUL, m.DlSrc);
        Assert.Equal(0x02000000000bUL, m.DlDst);
        Assert.Equal(OfMatch.VlanNone, m.DlVlan);
        Assert.Equal(0x0800, m.DlType);
        Assert.Equal(17, m.NwProto);
        Assert.Equal(0x0a000001u, m.NwSrc);
        Assert.Equal(0x0a000102u, m.NwDst);
        Assert.Equal(1234, m.TpSrc);
        Assert.Equal(53, m.TpDst);
        Assert.Equal(0u, m.Wildcards);

        var rule = OfMatch.Any;
        Assert.True(rule.Covers(m));
        rule.Wildcards = (OfWildcards.All & ~(OfWildcards.DlType | OfWildcards.NwDstMask)) | (24u << OfWildcards.NwDstShift);
        rule.DlType = 0x0800;
        rule.NwDst = 0x0a_ff_ff_ff; // 10.0.0.0/8: the low 24 bits are wildcarded
        Assert.True(rule.Covers(m));
        rule.NwDst = 0x0b000000;
        Assert.False(rule.Covers(m));

        var vlan = new byte[frame.Length + 4];
        frame.AsSpan(0, 12).CopyTo(vlan);
        BinaryPrimitives.WriteUInt16BigEndian(vlan.AsSpan(12), 0x8100);
        BinaryPrimitives.WriteUInt16BigEndian(vlan.AsSpan(14), (5 << 13) | 100);
        frame.AsSpan(12).CopyTo(vlan.AsSpan(16));
        Assert.True(OfMatch.TryExtract(vlan, 1, out var tagged));
        Assert.Equal(100, tagged.DlVlan);
        Assert.Equal(5, tagged.DlVlanPcp);
        Assert.Equal(53, tagged.TpDst);
        Assert.False(OfMatch.TryExtract(new byte[13], 1, out _));
    }

    [Fact]
    public void Non_strict_filters_include_more_specific_entries_only()
    {
        var entry = OfMatch.Any;
        entry.Wildcards &= ~(OfWildcards.InPort | OfWildcards.DlDst);
        entry.InPort = 1;
        entry.DlDst = 5;
        var filter = OfMatch.Any;
        Assert.True(filter.Includes(entry));
        filter.Wildcards &= ~OfWildcards.DlDst;
        filter.DlDst = 5;
        Assert.True(filter.Includes(entry));
        Assert.False(entry.Includes(filter));
        filter.DlDst = 6;
        Assert.False(filter.Includes(entry));
        Assert.True(entry.SameAs(entry));
        Assert.Equal(entry.GetHashCode(), entry.GetHashCode());
    }

    [Fact]
    public void Actions_are_validated()
    {
        var actions = new byte[64];
        Assert.True(OfAction.TryWriteList([OfAction.SetVlanVid(1), OfAction.StripVlan(), OfAction.SetTpDst(80), OfAction.Output(OfPort.Controller, 128)], actions, out var n));
        Assert.Equal(32, n);
        Assert.Equal(-1, OfAction.Validate(actions.AsSpan(0, n)));
        var reader = new OfActionReader(actions.AsSpan(0, n));
        var read = new List<OfAction>();
        while (reader.TryRead(out var action, out _))
        {
            read.Add(action);
        }
        Assert.Equal([OfAction.SetVlanVid(1), OfAction.StripVlan(), OfAction.SetTpDst(80), OfAction.Output(OfPort.Controller, 128)], read);
        Assert.Equal(OfErrorCode.BadActionLength, OfAction.Validate(actions.AsSpan(0, 7)));
        Assert.Equal(OfErrorCode.BadActionType, OfAction.Validate([0x00, 0x20, 0x00, 0x08, 0, 0, 0, 0]));
        Assert.Equal(OfErrorCode.BadActionLength, OfAction.Validate([0x00, 0x04, 0x00, 0x08, 0, 0, 0, 0])); // set_dl_src is 16 bytes
        Assert.Equal(OfErrorCode.BadActionLength, OfAction.Validate([0x00, 0x00, 0x00, 0x00, 0, 0, 0, 0])); // a zero length would loop
        Assert.Equal(OfErrorCode.BadActionVendor, OfAction.Validate([0xff, 0xff, 0x00, 0x08, 0, 0, 0, 0]));
        Assert.Equal(OfErrorCode.BadActionOutPort, OfAction.Validate([0x00, 0x00, 0x00, 0x08, 0, 0, 0, 0]));
    }

    [Fact]
    public void Rewriting_keeps_ip_and_udp_checksums_valid_and_vlan_tags_round_trip()
    {
        var frame = Frames.Udp(0x02000000000a, 0x02000000000b, 0x0a000001, 0x0a000002, 1000, 2000, 33);
        var buffer = new byte[2048];
        frame.CopyTo(buffer, 0);
        var length = frame.Length;
        foreach (var action in new[] { OfAction.SetNwSrc(0xc0a80001), OfAction.SetNwDst(0xc0a80002), OfAction.SetTpSrc(5353), OfAction.SetTpDst(53), OfAction.SetNwTos(0xb8), OfAction.SetDlSrc(0x020000000099) })
        {
            length = FrameRewriter.Apply(action, buffer, length);
            Assert.True(Frames.ChecksumsValid(buffer.AsSpan(0, length)), $"after {action.Type}");
        }
        Assert.True(OfMatch.TryExtract(buffer.AsSpan(0, length), 1, out var m));
        Assert.Equal((0xc0a80001u, 0xc0a80002u, (ushort)5353, (ushort)53, (byte)0xb8, 0x020000000099UL), (m.NwSrc, m.NwDst, m.TpSrc, m.TpDst, m.NwTos, m.DlSrc));
        var untagged = buffer[..length];
        length = FrameRewriter.Apply(OfAction.SetVlanVid(42), buffer, length);
        length = FrameRewriter.Apply(OfAction.SetVlanPcp(6), buffer, length);
        Assert.True(OfMatch.TryExtract(buffer.AsSpan(0, length), 1, out var tagged));
        Assert.Equal((42, 6), (tagged.DlVlan, tagged.DlVlanPcp));
        length = FrameRewriter.Apply(OfAction.StripVlan(), buffer, length);
        Assert.Equal(Convert.ToHexString(untagged), Convert.ToHexString(buffer, 0, length));
    }
}
