using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>The 1.3 pipeline's parts: field extraction, compiled matches (as flow_mod and stats select), lookups by priority, no allocation per packet.</summary>
public class Of13PipelineTests
{
    private delegate void Fields(ref OxmWriter writer);

    private static Of13CompiledMatch Compile(Fields fields)
    {
        var buffer = new byte[128];
        var writer = new OxmWriter(buffer);
        fields(ref writer);
        Assert.True(writer.Ok);
        Assert.True(Of13CompiledMatch.TryCompile(new Of13Match(buffer.AsSpan(0, writer.Length)), out var match, out var error), $"error {error}");
        return match;
    }

    [Fact]
    public void Fields_of_a_udp_frame_and_what_covers_them()
    {
        var packet = new Of13PacketFields();
        packet.Extract(Frames.Udp(0x020000000001, 0x020000000002, 0x0a000001, 0x0a000002, 1000, 2000, 40), 3, 0x77);
        Assert.Equal(3UL, packet[OxmField.InPort]);
        Assert.Equal(0x77UL, packet[OxmField.Metadata]);
        Assert.Equal(0x0800UL, packet[OxmField.EthType]);
        Assert.Equal(0UL, packet[OxmField.VlanVid]); // OFPVID_NONE
        Assert.False(packet.Has(OxmField.VlanPcp));
        Assert.Equal(17UL, packet[OxmField.IpProto]);
        Assert.Equal(2000UL, packet[OxmField.UdpDst]);
        Assert.False(packet.Has(OxmField.TcpDst));

        var exact = Compile((ref OxmWriter w) =>
        {
            w.Add(OxmField.InPort, 3);
            w.Add(OxmField.EthType, 0x0800);
            w.Add(OxmField.IpProto, 17);
            w.Add(OxmField.UdpDst, 2000);
        });
        var subnet = Compile((ref OxmWriter w) =>
        {
            w.Add(OxmField.EthType, 0x0800);
            w.Add(OxmField.Ipv4Dst, 0x0a000000, 0xff000000);
        });
        var tcp = Compile((ref OxmWriter w) =>
        {
            w.Add(OxmField.EthType, 0x0800);
            w.Add(OxmField.IpProto, 6);
            w.Add(OxmField.TcpDst, 2000);
        });
        var ip = Compile((ref OxmWriter w) => w.Add(OxmField.EthType, 0x0800));
        Assert.True(exact.Covers(packet));
        Assert.True(subnet.Covers(packet));
        Assert.False(tcp.Covers(packet)); // the packet has no tcp_dst
        Assert.True(Of13CompiledMatch.Any.Covers(packet));

        // flow_mod and stats selection: ip includes the others (non-strict), only a match equal to itself is the same (strict).
        Assert.True(ip.Includes(subnet) && ip.Includes(exact) && ip.Includes(tcp));
        Assert.False(subnet.Includes(ip));
        Assert.True(Of13CompiledMatch.Any.Includes(exact));
        Assert.True(exact.SameAs(Compile((ref OxmWriter w) =>
        {
            w.Add(OxmField.UdpDst, 2000); // another order, the same match
            w.Add(OxmField.IpProto, 17);
            w.Add(OxmField.EthType, 0x0800);
            w.Add(OxmField.InPort, 3);
        })));
        Assert.False(exact.SameAs(ip));
        Assert.True(exact.Overlaps(subnet));
        Assert.False(exact.Overlaps(tcp)); // ip_proto 17 against 6
    }

    [Fact]
    public void Matches_that_break_the_rules_are_refused_with_their_code()
    {
        ushort Refused(Fields fields)
        {
            var buffer = new byte[128];
            var writer = new OxmWriter(buffer);
            fields(ref writer);
            Assert.False(Of13CompiledMatch.TryCompile(new Of13Match(buffer.AsSpan(0, writer.Length)), out _, out var error));
            return error;
        }
        Assert.Equal(Of13Error.BadMatchPrerequisite, Refused((ref OxmWriter w) => w.Add(OxmField.TcpDst, 80)));
        Assert.Equal(Of13Error.BadMatchPrerequisite, Refused((ref OxmWriter w) =>
        {
            w.Add(OxmField.EthType, 0x86dd);
            w.Add(OxmField.Ipv4Dst, 1);
        }));
        Assert.Equal(Of13Error.BadMatchDuplicateField, Refused((ref OxmWriter w) =>
        {
            w.Add(OxmField.InPort, 1);
            w.Add(OxmField.InPort, 2);
        }));
        Assert.Equal(Of13Error.BadMatchMask, Refused((ref OxmWriter w) => w.Add(OxmField.InPort, 1, 0xff)));
        Assert.Equal(Of13Error.BadMatchField, Refused((ref OxmWriter w) =>
        {
            w.Add(OxmField.EthType, 0x8847);
            w.Add(OxmField.MplsLabel, 5);
        }));
    }

    [Fact]
    public void Lookups_take_the_highest_priority_and_allocate_nothing()
    {
        var pipeline = new Of13Pipeline(2, 100);
        var low = new Of13FlowEntry(0, Of13CompiledMatch.Any, 0, 1, 0, 0, 0, [], 0);
        var high = new Of13FlowEntry(0, Compile((ref OxmWriter w) => w.Add(OxmField.InPort, 3)), 10, 2, 0, 0, 0, [], 0);
        Assert.Equal(Of13Pipeline.AddResult.Added, pipeline.Add(low, checkOverlap: false));
        Assert.Equal(Of13Pipeline.AddResult.Added, pipeline.Add(high, checkOverlap: false));
        Assert.Equal(Of13Pipeline.AddResult.Replaced, pipeline.Add(new Of13FlowEntry(0, Of13CompiledMatch.Any, 0, 3, 0, 0, 0, [], 0), checkOverlap: false));
        Assert.Equal(2, pipeline.Count);
        var frame = Frames.Udp(0x020000000001, 0x020000000002, 0x0a000001, 0x0a000002, 1000, 2000, 40);
        var packet = new Of13PacketFields();
        packet.Extract(frame, 3, 0);
        Assert.Same(high, pipeline.Lookup(0, packet, frame.Length, 1));
        packet.Extract(frame, 4, 0);
        Assert.Equal(3UL, pipeline.Lookup(0, packet, frame.Length, 1)!.Cookie); // the replaced table-miss entry
        Assert.Null(pipeline.Lookup(1, packet, frame.Length, 1)); // an empty table: a miss, the packet is dropped

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            packet.Extract(frame, (uint)(3 + (i & 1)), 0);
            pipeline.Lookup(0, packet, frame.Length, i);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(500UL + 1, high.PacketCount);
    }
}
