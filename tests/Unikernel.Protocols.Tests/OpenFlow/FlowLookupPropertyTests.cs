using System.Buffers.Binary;
using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>
/// The flow tables' indexed lookups against the rule they implement, on random tables and packets (seeded, bounded):
/// 1.3, the first entry by descending priority (first added first among equals) that covers the packet, as the linear
/// scan finds it; 1.0, an exact-match entry (no wildcards) first, "always the highest priority" (OpenFlow 1.0
/// section 3.4), else the wildcarded entries by priority.
/// </summary>
public class FlowLookupPropertyTests
{
    // Small domains, so that entries overlap, priorities tie and exact entries are hit.
    private static readonly ulong[] Macs = [0x020000000001, 0x020000000002, 0x020000000003];
    private static readonly ushort[] Ports = [80, 443, 53];
    private static readonly ushort[] Priorities = [0, 1, 5, 5, 10, 100, 0xffff];

    private static byte[] Frame(Random random)
    {
        var ipv6 = random.Next(3) == 0;
        var frame = new byte[ipv6 ? 14 + 40 + 8 : 14 + 20 + 8];
        BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(0, 8), Macs[random.Next(Macs.Length)] << 16);
        BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(6, 8), Macs[random.Next(Macs.Length)] << 16);
        var tcp = random.Next(2) == 0;
        var l4 = frame.AsSpan(ipv6 ? 54 : 34);
        if (ipv6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x86dd);
            frame[14] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(18), 8);
            frame[20] = (byte)(tcp ? 6 : 17);
            frame[21] = 64;
            frame[22] = 0x20;
            frame[37] = (byte)random.Next(1, 4); // source ::1..::3
            frame[38] = 0x20;
            frame[53] = (byte)random.Next(1, 4);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0800);
            frame[14] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), 28);
            frame[22] = 64;
            frame[23] = (byte)(tcp ? 6 : 17);
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(26), 0x0a000000u | (uint)random.Next(1, 4));
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(30), (uint)(random.Next(2) == 0 ? 0x0a000000 : 0x0b000000) | (uint)random.Next(1, 4));
        }
        BinaryPrimitives.WriteUInt16BigEndian(l4, Ports[random.Next(Ports.Length)]);
        BinaryPrimitives.WriteUInt16BigEndian(l4[2..], Ports[random.Next(Ports.Length)]);
        return frame;
    }

    /// <summary>A random valid match: a few fields, each exact or (where maskable) masked, prerequisites included.</summary>
    private static Of13CompiledMatch Match13(Random random, Of13PacketFields sample)
    {
        var buffer = new byte[256];
        var w = new OxmWriter(buffer);
        ulong? Mask(ulong full) => random.Next(4) == 0 ? full & ~(ulong)random.Next(0, 256) : null;
        if (random.Next(2) == 0)
        {
            w.Add(OxmField.InPort, (ulong)random.Next(1, 4));
        }
        if (random.Next(2) == 0)
        {
            w.Add(OxmField.EthDst, random.Next(4) == 0 ? Macs[random.Next(Macs.Length)] : sample[OxmField.EthDst], Mask(0xffffffffffff));
        }
        if (random.Next(3) == 0)
        {
            w.Add(OxmField.EthSrc, sample[OxmField.EthSrc]);
        }
        if (random.Next(4) == 0)
        {
            w.Add(OxmField.Metadata, (ulong)random.Next(0, 3), Mask(ulong.MaxValue));
        }
        var ethType = sample[OxmField.EthType];
        if (random.Next(3) != 0)
        {
            w.Add(OxmField.EthType, ethType);
            if (ethType == 0x0800 && random.Next(2) == 0)
            {
                w.Add(OxmField.Ipv4Dst, sample[OxmField.Ipv4Dst], random.Next(2) == 0 ? 0xff000000 : null);
            }
            if (random.Next(2) == 0)
            {
                var proto = sample[OxmField.IpProto];
                w.Add(OxmField.IpProto, proto);
                if (random.Next(2) == 0)
                {
                    w.Add(proto == 6 ? OxmField.TcpDst : OxmField.UdpDst, random.Next(3) == 0 ? Ports[random.Next(Ports.Length)] : sample[proto == 6 ? OxmField.TcpDst : OxmField.UdpDst]);
                }
            }
        }
        Assert.True(w.Ok);
        Assert.True(Of13CompiledMatch.TryCompile(new Of13Match(buffer.AsSpan(0, w.Length)), out var match, out var error), $"error {error}");
        return match;
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 0)]
    [InlineData(3, 0)]
    [InlineData(4, 8)] // small tables scanned, larger ones probed
    public void Indexed_1_3_lookup_equals_the_linear_scan(int seed, int scanBelow)
    {
        var random = new Random(seed);
        var pipeline = new Of13Pipeline(tables: 2, capacity: 400, scanBelow);
        var sample = new Of13PacketFields();
        var packet = new Of13PacketFields();
        var hits = 0;
        var exactHits = 0;
        for (var round = 0; round < 40; round++)
        {
            // Grow, replace (same match and priority) and shrink the tables.
            for (var i = 0; i < 10; i++)
            {
                sample.Extract(Frame(random), (uint)random.Next(1, 4), (ulong)random.Next(0, 3));
                var table = (byte)random.Next(2);
                var entry = new Of13FlowEntry(table, Match13(random, sample), Priorities[random.Next(Priorities.Length)], (ulong)(round * 100 + i), 0, 0, 0, [], 0);
                pipeline.Add(entry, checkOverlap: false);
            }
            if (random.Next(3) == 0)
            {
                var all = pipeline.Select(Of13Table.All, Of13CompiledMatch.Any, 0, strict: false, Of13Port.Any, Of13Group.Any, 0, 0);
                pipeline.Remove([.. all.Where(_ => random.Next(4) == 0)]);
            }
            for (var p = 0; p < 50; p++)
            {
                packet.Extract(Frame(random), (uint)random.Next(1, 4), (ulong)random.Next(0, 3));
                for (var table = 0; table < 2; table++)
                {
                    var linear = pipeline.LookupLinear(table, packet);
                    var indexed = pipeline.Lookup(table, packet, 60, 0);
                    Assert.Same(linear, indexed);
                    if (indexed is not null)
                    {
                        hits++;
                        exactHits += indexed.Match.IsExact ? 1 : 0;
                        // And the rule itself: no covering entry has a higher priority.
                        var covering = pipeline.Select((byte)table, Of13CompiledMatch.Any, 0, strict: false, Of13Port.Any, Of13Group.Any, 0, 0).Where(e => e.Match.Covers(packet));
                        Assert.Equal(covering.Max(e => e.Priority), indexed.Priority);
                    }
                }
            }
        }
        // The test exercised both paths.
        Assert.True(exactHits > 100 && hits - exactHits > 100, $"{exactHits} exact of {hits} hits");
        Assert.InRange(pipeline.IndexesIn(0), 1, Of13Pipeline.MaxIndexes);
    }

    [Fact]
    public void A_wildcarded_entry_above_an_exact_one_wins_and_equal_priorities_go_by_age()
    {
        var pipeline = new Of13Pipeline(tables: 1, capacity: 100, scanBelow: 0); // always through the indexes
        var packet = new Of13PacketFields();
        packet.Extract(Frames.Udp(0x020000000001, 0x020000000002, 0x0a000001, 0x0a000002, 1000, 2000, 40), 1, 0);
        var fields = new byte[64];
        Of13CompiledMatch Match(bool masked)
        {
            var w = new OxmWriter(fields);
            w.Add(OxmField.EthDst, 0x020000000002, masked ? 0xffffffffff00 : null);
            Assert.True(Of13CompiledMatch.TryCompile(new Of13Match(fields.AsSpan(0, w.Length)), out var m, out _));
            return m;
        }
        var exact = new Of13FlowEntry(0, Match(masked: false), 10, 1, 0, 0, 0, [], 0);
        var wide = new Of13FlowEntry(0, Match(masked: true), 20, 2, 0, 0, 0, [], 0);
        pipeline.Add(exact, false);
        Assert.Same(exact, pipeline.Lookup(0, packet, 60, 0));
        pipeline.Add(wide, false);
        Assert.Same(wide, pipeline.Lookup(0, packet, 60, 0)); // priority 20 over the exact entry's 10
        pipeline.Remove([wide]);
        var tie = new Of13FlowEntry(0, Match(masked: true), 10, 3, 0, 0, 0, [], 0);
        pipeline.Add(tie, false);
        Assert.Same(exact, pipeline.Lookup(0, packet, 60, 0)); // equal priority: the first added
        // A replacement keeps the place of the entry it replaces: now the wildcarded one is older.
        pipeline.Remove([exact]);
        var again = new Of13FlowEntry(0, Match(masked: false), 10, 4, 0, 0, 0, [], 0);
        pipeline.Add(again, false);
        Assert.Same(tie, pipeline.Lookup(0, packet, 60, 0));
        var replacement = new Of13FlowEntry(0, Match(masked: false), 10, 5, 0, 0, 0, [], 0);
        Assert.Equal(Of13Pipeline.AddResult.Replaced, pipeline.Add(replacement, false));
        Assert.Same(tie, pipeline.Lookup(0, packet, 60, 0));
        pipeline.Remove([tie]);
        Assert.Same(replacement, pipeline.Lookup(0, packet, 60, 0));
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            pipeline.Lookup(0, packet, 60, 0);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before); // a probe allocates nothing
        Assert.Equal(1, pipeline.IndexesIn(0));
        pipeline.Remove([replacement]);
        Assert.Equal(0, pipeline.IndexesIn(0)); // an empty index goes
        Assert.Null(pipeline.Lookup(0, packet, 60, 0));
    }

    // ---- OpenFlow 1.0 ---------------------------------------------------------------------------------------------

    private sealed record Flow10(OfMatch Match, ushort Priority, long Sequence, byte[] Actions);

    private static OfMatch Packet10(Random random) => new()
    {
        InPort = (ushort)random.Next(1, 4),
        DlSrc = Macs[random.Next(Macs.Length)],
        DlDst = Macs[random.Next(Macs.Length)],
        DlVlan = OfMatch.VlanNone,
        DlType = 0x0800,
        NwProto = (byte)(random.Next(2) == 0 ? 6 : 17),
        NwSrc = 0x0a000000u | (uint)random.Next(1, 4),
        NwDst = (random.Next(2) == 0 ? 0x0a000000u : 0x0b000000u) | (uint)random.Next(1, 4),
        TpSrc = Ports[random.Next(Ports.Length)],
        TpDst = Ports[random.Next(Ports.Length)],
    };

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Indexed_1_0_lookup_puts_exact_entries_first_then_wildcards_by_priority(int seed)
    {
        var random = new Random(seed);
        var table = new FlowTable(1000);
        var model = new List<Flow10>();
        long sequence = 0;
        var exactHits = 0;
        var wildcardHits = 0;
        for (var round = 0; round < 40; round++)
        {
            for (var i = 0; i < 10; i++)
            {
                var match = Packet10(random);
                if (random.Next(3) != 0)
                {
                    // Wildcard some fields; sometimes a prefix on nw_dst.
                    match.Wildcards = (uint)random.Next(0, 256) & (OfWildcards.InPort | OfWildcards.DlSrc | OfWildcards.DlDst | OfWildcards.TpSrc | OfWildcards.TpDst | OfWildcards.NwProto);
                    match.Wildcards |= (uint)(random.Next(3) switch { 0 => 32, 1 => 8, _ => 0 }) << OfWildcards.NwDstShift;
                    match.Wildcards |= (uint)(random.Next(2) == 0 ? 32 : 0) << OfWildcards.NwSrcShift;
                }
                var priority = Priorities[random.Next(Priorities.Length)];
                var actions = new byte[8];
                OfAction.Output((ushort)(round * 10 + i + 1)).TryWrite(actions, out _);
                var flowMod = new OfFlowMod { Match = match, Priority = priority, Command = OfFlowModCommand.Add, BufferId = OfBuffer.None, OutPort = OfPort.None, Actions = actions };
                table.Add(flowMod, 0);
                // The model: an exact entry replaces the one with the same match, a wildcarded one the one with the same match and priority, in its place.
                var exact = match.Wildcards == 0;
                var at = model.FindIndex(f => f.Match.SameAs(match) && (exact || f.Priority == priority));
                if (at >= 0)
                {
                    model[at] = model[at] with { Actions = actions };
                }
                else
                {
                    model.Add(new Flow10(match, priority, ++sequence, actions));
                }
            }
            if (random.Next(3) == 0)
            {
                var victim = model[random.Next(model.Count)];
                table.Delete(victim.Match, victim.Priority, strict: true, OfPort.None);
                model.Remove(victim);
            }
            Assert.Equal(model.Count, table.Count);
            for (var p = 0; p < 50; p++)
            {
                // A third of the packets are those of exact entries (random tuples rarely are).
                var exacts = model.Where(f => f.Match.Wildcards == 0).ToList();
                var packet = exacts.Count > 0 && random.Next(3) == 0 ? exacts[random.Next(exacts.Count)].Match : Packet10(random);
                var expected = model.Where(f => f.Match.Wildcards == 0 && f.Match.Covers(packet))
                    .Concat(model.Where(f => f.Match.Wildcards != 0 && f.Match.Covers(packet)).OrderByDescending(f => f.Priority).ThenBy(f => f.Sequence))
                    .FirstOrDefault();
                var actions = table.Lookup(packet, 60, 0);
                Assert.Equal(expected is null ? null : Convert.ToHexString(expected.Actions), actions is null ? null : Convert.ToHexString(actions));
                if (expected is not null)
                {
                    (expected.Match.Wildcards == 0 ? ref exactHits : ref wildcardHits)++;
                }
            }
        }
        Assert.True(exactHits > 50 && wildcardHits > 50, $"{exactHits} exact, {wildcardHits} wildcarded hits");
    }
}
