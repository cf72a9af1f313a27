using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Threading;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>
/// The header fields of one packet as OXM values (OpenFlow-basic fields 0..39): a present bit per field and the value
/// as up to 128 bits (<see cref="High"/> holds the upper half of IPv6 addresses). One instance per receive thread,
/// refilled for every packet, so extraction allocates nothing.
/// </summary>
public sealed class Of13PacketFields
{
    public const int FieldCount = 40;

    public ulong Present { get; private set; }

    public ulong[] Low { get; } = new ulong[FieldCount];

    public ulong[] High { get; } = new ulong[FieldCount];

    public bool Has(OxmField field) => (Present & (1UL << (int)field)) != 0;

    public ulong this[OxmField field] => Low[(int)field];

    private void Set(OxmField field, ulong value, ulong high = 0)
    {
        Present |= 1UL << (int)field;
        Low[(int)field] = value;
        High[(int)field] = high;
    }

    public void SetMetadata(ulong metadata) => Set(OxmField.Metadata, metadata);

    /// <summary>
    /// Fills the fields from a frame: in_port, metadata, Ethernet and the outer VLAN tag (vlan_vid is 0, OFPVID_NONE,
    /// when untagged, else the VID with OFPVID_PRESENT), ARP, IPv4 and IPv6 with TCP, UDP, SCTP, ICMP, ICMPv6 and
    /// neighbour discovery. A truncated header leaves its fields absent (flows that name them do not match).
    /// </summary>
    public void Extract(ReadOnlySpan<byte> frame, uint inPort, ulong metadata)
    {
        Present = 0;
        Set(OxmField.InPort, inPort);
        Set(OxmField.InPhysicalPort, inPort);
        Set(OxmField.Metadata, metadata);
        if (frame.Length < 14)
        {
            return;
        }
        Set(OxmField.EthDst, OfMatch.ReadMac(frame));
        Set(OxmField.EthSrc, OfMatch.ReadMac(frame[6..]));
        var type = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        var l3 = 14;
        if (type is 0x8100 or 0x88a8 && frame.Length >= 18)
        {
            var tci = BinaryPrimitives.ReadUInt16BigEndian(frame[14..]);
            Set(OxmField.VlanVid, 0x1000u | (tci & 0x0fffu));
            Set(OxmField.VlanPcp, (ulong)(tci >> 13));
            type = BinaryPrimitives.ReadUInt16BigEndian(frame[16..]);
            l3 = 18;
        }
        else
        {
            Set(OxmField.VlanVid, 0);
        }
        Set(OxmField.EthType, type);
        var l3Bytes = frame[l3..];
        switch (type)
        {
            case 0x0806 when l3Bytes.Length >= 28 && BinaryPrimitives.ReadUInt16BigEndian(l3Bytes) == 1 && BinaryPrimitives.ReadUInt16BigEndian(l3Bytes[2..]) == 0x0800:
                Set(OxmField.ArpOp, BinaryPrimitives.ReadUInt16BigEndian(l3Bytes[6..]));
                Set(OxmField.ArpSha, OfMatch.ReadMac(l3Bytes[8..]));
                Set(OxmField.ArpSpa, BinaryPrimitives.ReadUInt32BigEndian(l3Bytes[14..]));
                Set(OxmField.ArpTha, OfMatch.ReadMac(l3Bytes[18..]));
                Set(OxmField.ArpTpa, BinaryPrimitives.ReadUInt32BigEndian(l3Bytes[24..]));
                break;
            case 0x0800 when l3Bytes.Length >= 20 && l3Bytes[0] >> 4 == 4:
                var headerLength = (l3Bytes[0] & 0xf) * 4;
                Set(OxmField.IpDscp, (ulong)(l3Bytes[1] >> 2));
                Set(OxmField.IpEcn, (ulong)(l3Bytes[1] & 3));
                Set(OxmField.IpProto, l3Bytes[9]);
                Set(OxmField.Ipv4Src, BinaryPrimitives.ReadUInt32BigEndian(l3Bytes[12..]));
                Set(OxmField.Ipv4Dst, BinaryPrimitives.ReadUInt32BigEndian(l3Bytes[16..]));
                // Later fragments carry no transport header.
                if (headerLength >= 20 && headerLength <= l3Bytes.Length && (BinaryPrimitives.ReadUInt16BigEndian(l3Bytes[6..]) & 0x1fff) == 0)
                {
                    Transport(l3Bytes[9], l3Bytes[headerLength..], ipv6: false);
                }
                break;
            case 0x86dd when l3Bytes.Length >= 40 && l3Bytes[0] >> 4 == 6:
                var word = BinaryPrimitives.ReadUInt32BigEndian(l3Bytes);
                var trafficClass = (word >> 20) & 0xff;
                Set(OxmField.IpDscp, trafficClass >> 2);
                Set(OxmField.IpEcn, trafficClass & 3);
                Set(OxmField.Ipv6FlowLabel, word & 0xfffff);
                Set(OxmField.IpProto, l3Bytes[6]);
                Set(OxmField.Ipv6Src, BinaryPrimitives.ReadUInt64BigEndian(l3Bytes[16..]), BinaryPrimitives.ReadUInt64BigEndian(l3Bytes[8..]));
                Set(OxmField.Ipv6Dst, BinaryPrimitives.ReadUInt64BigEndian(l3Bytes[32..]), BinaryPrimitives.ReadUInt64BigEndian(l3Bytes[24..]));
                Transport(l3Bytes[6], l3Bytes[40..], ipv6: true);
                break;
        }
    }

    private void Transport(byte protocol, ReadOnlySpan<byte> t, bool ipv6)
    {
        switch (protocol)
        {
            case 6 when t.Length >= 4:
                Set(OxmField.TcpSrc, BinaryPrimitives.ReadUInt16BigEndian(t));
                Set(OxmField.TcpDst, BinaryPrimitives.ReadUInt16BigEndian(t[2..]));
                break;
            case 17 when t.Length >= 4:
                Set(OxmField.UdpSrc, BinaryPrimitives.ReadUInt16BigEndian(t));
                Set(OxmField.UdpDst, BinaryPrimitives.ReadUInt16BigEndian(t[2..]));
                break;
            case 132 when t.Length >= 4:
                Set(OxmField.SctpSrc, BinaryPrimitives.ReadUInt16BigEndian(t));
                Set(OxmField.SctpDst, BinaryPrimitives.ReadUInt16BigEndian(t[2..]));
                break;
            case 1 when !ipv6 && t.Length >= 2:
                Set(OxmField.Icmpv4Type, t[0]);
                Set(OxmField.Icmpv4Code, t[1]);
                break;
            case 58 when ipv6 && t.Length >= 2:
                Set(OxmField.Icmpv6Type, t[0]);
                Set(OxmField.Icmpv6Code, t[1]);
                if (t[0] is 135 or 136 && t.Length >= 24)
                {
                    Set(OxmField.Ipv6NdTarget, BinaryPrimitives.ReadUInt64BigEndian(t[16..]), BinaryPrimitives.ReadUInt64BigEndian(t[8..]));
                    // nd_sll / nd_tll are 0 when the option is missing (as Open vSwitch extracts them).
                    Set(t[0] == 135 ? OxmField.Ipv6NdSll : OxmField.Ipv6NdTll, 0);
                    for (var options = t[24..]; options.Length >= 8 && options[1] != 0 && options[1] * 8 <= options.Length; options = options[(options[1] * 8)..])
                    {
                        if (options[1] == 1 && (options[0] == 1 && t[0] == 135 || options[0] == 2 && t[0] == 136))
                        {
                            Set(t[0] == 135 ? OxmField.Ipv6NdSll : OxmField.Ipv6NdTll, OfMatch.ReadMac(options[2..]));
                            break;
                        }
                    }
                }
                break;
        }
    }
}

/// <summary>
/// A 1.3 match compiled for the data path: per field the value and mask (128 bits), values already masked. Keeps the
/// OXM bytes it was made from, which flow stats and flow_removed send back unchanged.
/// </summary>
public sealed class Of13CompiledMatch
{
    private Of13CompiledMatch(byte[] oxm, byte[] fields, ulong[] low, ulong[] high, ulong[] maskLow, ulong[] maskHigh, ulong required)
    {
        OxmFields = oxm;
        Fields = fields;
        Low = low;
        High = high;
        MaskLow = maskLow;
        MaskHigh = maskHigh;
        Required = required;
        IsExact = fields.Length > 0;
        for (var i = 0; i < fields.Length; i++)
        {
            var width = Oxm.PayloadLength((OxmField)fields[i]);
            IsExact &= width == 16 ? maskLow[i] == ulong.MaxValue && maskHigh[i] == ulong.MaxValue : maskLow[i] == ulong.MaxValue >> (64 - 8 * width);
        }
        if (IsExact)
        {
            // In field order, as ExactHash(packet, Required) visits them.
            var hash = 0UL;
            for (var bits = required; bits != 0; bits &= bits - 1)
            {
                var i = IndexOf((byte)System.Numerics.BitOperations.TrailingZeroCount(bits));
                hash = Mix(Mix(hash, low[i]), high[i]);
            }
            ExactHash = hash;
        }
    }

    /// <summary>
    /// Every field the match names is unmasked (or fully masked): a packet matches exactly when it has these fields
    /// with these values, so the entry can be found by a hash of them (<see cref="Of13Pipeline"/>'s exact index).
    /// </summary>
    internal bool IsExact { get; }

    /// <summary>For an exact match, the hash of its values (see <see cref="HashOf"/>).</summary>
    internal ulong ExactHash { get; }

    /// <summary>The hash of a packet's values of the fields in <paramref name="fields"/> (a bit per field), in field order; equal to an exact match's <see cref="ExactHash"/> when it covers the packet.</summary>
    internal static ulong HashOf(Of13PacketFields packet, ulong fields)
    {
        var hash = 0UL;
        var low = packet.Low;
        var high = packet.High;
        for (var bits = fields; bits != 0; bits &= bits - 1)
        {
            var f = System.Numerics.BitOperations.TrailingZeroCount(bits);
            hash = Mix(Mix(hash, low[f]), high[f]);
        }
        return hash;
    }

    private static ulong Mix(ulong hash, ulong value)
    {
        hash = (hash ^ value) * 0x9e3779b97f4a7c15UL;
        return hash ^ (hash >> 31);
    }

    public static readonly Of13CompiledMatch Any = new([], [], [], [], [], [], 0);

    /// <summary>The OXM TLVs as received.</summary>
    public byte[] OxmFields { get; }

    private byte[] Fields { get; }

    private ulong[] Low { get; }

    private ulong[] High { get; }

    private ulong[] MaskLow { get; }

    private ulong[] MaskHigh { get; }

    /// <summary>A bit per field the match names.</summary>
    public ulong Required { get; }

    public bool IsEmpty => Fields.Length == 0;

    public bool Covers(Of13PacketFields packet)
    {
        if ((packet.Present & Required) != Required)
        {
            return false;
        }
        var low = packet.Low;
        var high = packet.High;
        for (var i = 0; i < Fields.Length; i++)
        {
            var f = Fields[i];
            if (((low[f] ^ Low[i]) & MaskLow[i]) != 0 || ((high[f] ^ High[i]) & MaskHigh[i]) != 0)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Same fields, values and masks (strict modify and delete).</summary>
    public bool SameAs(Of13CompiledMatch other)
    {
        if (Required != other.Required)
        {
            return false;
        }
        for (var i = 0; i < Fields.Length; i++)
        {
            var j = other.IndexOf(Fields[i]);
            if (j < 0 || Low[i] != other.Low[j] || High[i] != other.High[j] || MaskLow[i] != other.MaskLow[j] || MaskHigh[i] != other.MaskHigh[j])
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Every packet <paramref name="entry"/> matches, this matches too (non-strict modify, delete and stats select the entry).</summary>
    public bool Includes(Of13CompiledMatch entry)
    {
        for (var i = 0; i < Fields.Length; i++)
        {
            var j = entry.IndexOf(Fields[i]);
            if (j < 0 || (MaskLow[i] & ~entry.MaskLow[j]) != 0 || (MaskHigh[i] & ~entry.MaskHigh[j]) != 0
                || ((Low[i] ^ entry.Low[j]) & MaskLow[i]) != 0 || ((High[i] ^ entry.High[j]) & MaskHigh[i]) != 0)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Some packet could match both: every field both name agrees where both masks have bits.</summary>
    public bool Overlaps(Of13CompiledMatch other)
    {
        for (var i = 0; i < Fields.Length; i++)
        {
            var j = other.IndexOf(Fields[i]);
            if (j >= 0 && (((Low[i] ^ other.Low[j]) & MaskLow[i] & other.MaskLow[j]) != 0 || ((High[i] ^ other.High[j]) & MaskHigh[i] & other.MaskHigh[j]) != 0))
            {
                return false;
            }
        }
        return true;
    }

    private int IndexOf(byte field) => Array.IndexOf(Fields, field);

    public bool TryGet(OxmField field, out ulong value)
    {
        var i = IndexOf((byte)field);
        value = i >= 0 ? Low[i] : 0;
        return i >= 0;
    }

    /// <summary>Fields that take a mask in a match (the others: exact or absent).</summary>
    public static bool IsMaskable(OxmField field) => field is not (OxmField.InPort or OxmField.InPhysicalPort or OxmField.EthType or OxmField.IpProto or OxmField.VlanPcp
        or OxmField.IpDscp or OxmField.IpEcn or OxmField.Icmpv4Type or OxmField.Icmpv4Code or OxmField.Icmpv6Type or OxmField.Icmpv6Code or OxmField.ArpOp);

    /// <summary>
    /// Compiles a match; false with the ofp_bad_match_code for a field the switch does not extract (MPLS, PBB,
    /// tunnel id, IPv6 extension headers, experimenter classes), a duplicate field, a mask on a field that takes none,
    /// or a field whose prerequisite (eth_type, ip_proto, ICMPv6 type) the match does not state.
    /// </summary>
    public static bool TryCompile(Of13Match match, out Of13CompiledMatch compiled, out ushort error)
    {
        compiled = Any;
        error = 0;
        if (match.Fields.IsEmpty)
        {
            return true;
        }
        Span<byte> fields = stackalloc byte[Of13PacketFields.FieldCount];
        Span<ulong> low = stackalloc ulong[Of13PacketFields.FieldCount];
        Span<ulong> high = stackalloc ulong[Of13PacketFields.FieldCount];
        Span<ulong> maskLow = stackalloc ulong[Of13PacketFields.FieldCount];
        Span<ulong> maskHigh = stackalloc ulong[Of13PacketFields.FieldCount];
        ulong required = 0;
        var count = 0;
        var reader = match.Reader();
        while (reader.TryRead(out var oxm))
        {
            if (oxm.Class != Oxm.OpenFlowBasic || oxm.Field >= Of13PacketFields.FieldCount
                || (OxmField)oxm.Field is OxmField.MplsLabel or OxmField.MplsTc or OxmField.MplsBos or OxmField.PbbIsid or OxmField.TunnelId or OxmField.Ipv6ExtHeader)
            {
                error = Of13Error.BadMatchField;
                return false;
            }
            var field = (OxmField)oxm.Field;
            if ((required & (1UL << oxm.Field)) != 0)
            {
                error = Of13Error.BadMatchDuplicateField;
                return false;
            }
            if (oxm.HasMask && !IsMaskable(field))
            {
                error = Of13Error.BadMatchMask;
                return false;
            }
            required |= 1UL << oxm.Field;
            fields[count] = oxm.Field;
            if (oxm.Value.Length == 16)
            {
                high[count] = BinaryPrimitives.ReadUInt64BigEndian(oxm.Value);
                low[count] = BinaryPrimitives.ReadUInt64BigEndian(oxm.Value[8..]);
                maskHigh[count] = oxm.HasMask ? BinaryPrimitives.ReadUInt64BigEndian(oxm.Mask) : ulong.MaxValue;
                maskLow[count] = oxm.HasMask ? BinaryPrimitives.ReadUInt64BigEndian(oxm.Mask[8..]) : ulong.MaxValue;
            }
            else
            {
                low[count] = oxm.ValueAsNumber;
                maskLow[count] = oxm.MaskAsNumber;
                maskHigh[count] = 0;
            }
            low[count] &= maskLow[count];
            high[count] &= maskHigh[count];
            count++;
        }
        if (reader.Malformed)
        {
            error = 1; // OFPBMC_BAD_LEN
            return false;
        }
        if (!Prerequisites(required, fields[..count], low[..count], maskLow[..count]))
        {
            error = Of13Error.BadMatchPrerequisite;
            return false;
        }
        compiled = new Of13CompiledMatch(match.Fields.ToArray(), fields[..count].ToArray(), low[..count].ToArray(), high[..count].ToArray(), maskLow[..count].ToArray(), maskHigh[..count].ToArray(), required);
        return true;
    }

    /// <summary>The field's value when the match fixes it (no mask or an all-ones mask).</summary>
    private static bool Exact(OxmField field, ReadOnlySpan<byte> fields, ReadOnlySpan<ulong> low, ReadOnlySpan<ulong> mask, out ulong value)
    {
        var i = fields.IndexOf((byte)field);
        value = i >= 0 ? low[i] : 0;
        return i >= 0 && mask[i] == ulong.MaxValue >> (64 - 8 * Oxm.PayloadLength(field));
    }

    /// <summary>OpenFlow 1.3 section 7.2.3.8: a field may be named only when the match fixes what it depends on.</summary>
    private static bool Prerequisites(ulong required, ReadOnlySpan<byte> fields, ReadOnlySpan<ulong> low, ReadOnlySpan<ulong> mask)
    {
        bool Has(OxmField field) => (required & (1UL << (int)field)) != 0;
        var hasEthType = Exact(OxmField.EthType, fields, low, mask, out var ethType);
        var hasProto = Exact(OxmField.IpProto, fields, low, mask, out var proto);
        var ip = hasEthType && ethType is 0x0800 or 0x86dd;
        var ipv4 = hasEthType && ethType == 0x0800;
        var ipv6 = hasEthType && ethType == 0x86dd;
        if (Has(OxmField.VlanPcp) && !(Exact(OxmField.VlanVid, fields, low, mask, out var vid) ? vid != 0 : fields.IndexOf((byte)OxmField.VlanVid) >= 0))
        {
            return false;
        }
        if ((Has(OxmField.IpDscp) || Has(OxmField.IpEcn) || Has(OxmField.IpProto)) && !ip)
        {
            return false;
        }
        if ((Has(OxmField.Ipv4Src) || Has(OxmField.Ipv4Dst)) && !ipv4)
        {
            return false;
        }
        if ((Has(OxmField.Ipv6Src) || Has(OxmField.Ipv6Dst) || Has(OxmField.Ipv6FlowLabel)) && !ipv6)
        {
            return false;
        }
        if ((Has(OxmField.ArpOp) || Has(OxmField.ArpSpa) || Has(OxmField.ArpTpa) || Has(OxmField.ArpSha) || Has(OxmField.ArpTha)) && !(hasEthType && ethType == 0x0806))
        {
            return false;
        }
        if ((Has(OxmField.TcpSrc) || Has(OxmField.TcpDst)) && !(ip && hasProto && proto == 6)
            || (Has(OxmField.UdpSrc) || Has(OxmField.UdpDst)) && !(ip && hasProto && proto == 17)
            || (Has(OxmField.SctpSrc) || Has(OxmField.SctpDst)) && !(ip && hasProto && proto == 132)
            || (Has(OxmField.Icmpv4Type) || Has(OxmField.Icmpv4Code)) && !(ipv4 && hasProto && proto == 1)
            || (Has(OxmField.Icmpv6Type) || Has(OxmField.Icmpv6Code)) && !(ipv6 && hasProto && proto == 58))
        {
            return false;
        }
        var hasIcmpType = Exact(OxmField.Icmpv6Type, fields, low, mask, out var icmpType);
        if (Has(OxmField.Ipv6NdTarget) && !(ipv6 && hasIcmpType && icmpType is 135 or 136)
            || Has(OxmField.Ipv6NdSll) && !(ipv6 && hasIcmpType && icmpType == 135)
            || Has(OxmField.Ipv6NdTll) && !(ipv6 && hasIcmpType && icmpType == 136))
        {
            return false;
        }
        return true;
    }
}

/// <summary>
/// A flow's instruction list split for the data path: the apply-actions and write-actions lists, clear-actions,
/// write-metadata and goto-table (executed in the specification's order, not the list's). Immutable.
/// </summary>
public sealed class Of13Program
{
    public static readonly Of13Program Empty = new([]);

    /// <summary>Splits a validated instruction list.</summary>
    public Of13Program(byte[] instructions)
    {
        Instructions = instructions;
        ReadOnlySpan<byte> rest = instructions;
        while (Of13Instruction.TryRead(rest, out var instruction, out var n, out _))
        {
            switch (instruction.Type)
            {
                case Of13InstructionType.ApplyActions:
                    ApplyActions = instruction.Actions.ToArray();
                    break;
                case Of13InstructionType.WriteActions:
                    WriteActions = instruction.Actions.ToArray();
                    break;
                case Of13InstructionType.ClearActions:
                    ClearActions = true;
                    break;
                case Of13InstructionType.WriteMetadata:
                    Metadata = instruction.Metadata;
                    MetadataMask = instruction.MetadataMask;
                    break;
                case Of13InstructionType.GotoTable:
                    GotoTable = instruction.TableId;
                    break;
            }
            rest = rest[n..];
        }
    }

    public byte[] Instructions { get; }

    public byte[]? ApplyActions { get; }

    public byte[]? WriteActions { get; }

    public bool ClearActions { get; }

    public ulong Metadata { get; }

    public ulong MetadataMask { get; }

    /// <summary>The next table, or -1 (the action set is executed).</summary>
    public int GotoTable { get; } = -1;
}

/// <summary>
/// A 1.3 flow entry: its match, priority and instructions (<see cref="Of13Program"/>). Counters and last use are
/// updated under the table's lock.
/// </summary>
public sealed class Of13FlowEntry
{
    internal Of13FlowEntry(byte tableId, Of13CompiledMatch match, ushort priority, ulong cookie, ushort idleTimeout, ushort hardTimeout, ushort flags, byte[] instructions, long now)
    {
        TableId = tableId;
        Match = match;
        Priority = priority;
        Cookie = cookie;
        IdleTimeout = idleTimeout;
        HardTimeout = hardTimeout;
        Flags = flags;
        Created = now;
        LastUsed = now;
        SetInstructions(instructions);
    }

    public byte TableId { get; }

    /// <summary>Order among entries of equal priority: the first added comes first (a replacement keeps its place).</summary>
    internal long Sequence { get; set; }

    /// <summary>The exact index the entry is in, or null (the table's wildcard list).</summary>
    internal Of13Pipeline.ExactIndex? Index { get; set; }

    /// <summary>True when this entry comes before <paramref name="other"/> in a table: higher priority, or equal and added first.</summary>
    internal bool Precedes(Of13FlowEntry other) => Priority > other.Priority || Priority == other.Priority && Sequence < other.Sequence;

    public Of13CompiledMatch Match { get; }

    public ushort Priority { get; }

    public ulong Cookie { get; internal set; }

    public ushort IdleTimeout { get; }

    public ushort HardTimeout { get; }

    public ushort Flags { get; }

    public long Created { get; }

    public long LastUsed { get; internal set; }

    public ulong PacketCount { get; internal set; }

    public ulong ByteCount { get; internal set; }

    /// <summary>The instructions, replaced as a whole by a modify (the data path reads one consistent set).</summary>
    public Of13Program Program { get; private set; } = Of13Program.Empty;

    /// <summary>The instruction list in wire format (validated when the flow was added).</summary>
    public byte[] Instructions => Program.Instructions;

    public byte[]? ApplyActions => Program.ApplyActions;

    public byte[]? WriteActions => Program.WriteActions;

    public bool ClearActions => Program.ClearActions;

    /// <summary>The next table, or -1 (the action set is executed).</summary>
    public int GotoTable => Program.GotoTable;

    /// <summary>The table-miss entry: lowest priority, empty match (its packet_in reason is no-match).</summary>
    public bool IsTableMiss => Priority == 0 && Match.IsEmpty;

    internal void SetInstructions(byte[] instructions) => Program = new Of13Program(instructions);

    /// <summary>True when an output action in apply- or write-actions sends to <paramref name="port"/> (<see cref="Of13Port.Any"/>: always).</summary>
    public bool OutputsTo(uint port) => port == Of13Port.Any || OutputsTo(Program.ApplyActions, port) || OutputsTo(Program.WriteActions, port);

    private static bool OutputsTo(ReadOnlySpan<byte> actions, uint port)
    {
        while (Of13Action.TryRead(actions, out var action, out var n, out _))
        {
            if (action.Type == Of13ActionType.Output && action.Port == port)
            {
                return true;
            }
            actions = actions[n..];
        }
        return false;
    }
}

/// <summary>
/// The flow tables of the 1.3 pipeline, bounded together by <see cref="Capacity"/>. A table's entries are ordered by
/// descending priority, the first added first among equals; a lookup returns the first entry in that order that covers
/// the packet. Exact entries (every field they name unmasked: a learned MAC address, an in_port) are also in hash
/// indexes, one per set of fields (<see cref="MaxIndexes"/> per table), so a lookup probes each index once, then scans
/// only the wildcarded entries that come before the best exact hit; the result is the linear scan's. Thread-safe: one
/// lock for all tables (flow_mods are rare next to lookups, and a lookup is short).
/// </summary>
public sealed class Of13Pipeline
{
    /// <summary>Indexes a table keeps (sets of exactly matched fields); exact entries of further sets go to the wildcard list, which bounds a lookup's probes.</summary>
    public const int MaxIndexes = 8;

    private readonly Lock _gate = new();
    private readonly Table[] _tables;
    private readonly long[] _lookups;
    private readonly long[] _matched;
    private int _count;
    private long _sequence;

    /// <param name="scanBelow">Tables with fewer entries are scanned, not probed: a hash and a dictionary probe cost
    /// more than a few <see cref="Of13CompiledMatch.Covers"/> (about 50 against 25 ns for a table of one entry).</param>
    public Of13Pipeline(int tables, int capacity, int scanBelow = 8)
    {
        ScanBelow = scanBelow;
        if (tables is < 1 or > Of13Table.Max + 1)
        {
            throw new ArgumentOutOfRangeException(nameof(tables), tables, "an OpenFlow 1.3 pipeline has 1 to 255 tables");
        }
        _tables = new Table[tables];
        for (var i = 0; i < tables; i++)
        {
            _tables[i] = new Table();
        }
        _lookups = new long[tables];
        _matched = new long[tables];
        Capacity = capacity;
    }

    /// <summary>One table: every entry in order (what select, expiry and the linear scan walk), and the lookup structures.</summary>
    private sealed class Table
    {
        public readonly List<Of13FlowEntry> All = [];

        /// <summary>The entries not in an index, in order.</summary>
        public readonly List<Of13FlowEntry> Wildcarded = [];

        public readonly List<ExactIndex> Indexes = [];
    }

    /// <summary>Exact entries naming one set of fields, by the hash of their values; each bucket in table order.</summary>
    internal sealed class ExactIndex(ulong fields)
    {
        public ulong Fields { get; } = fields;

        public Dictionary<ulong, List<Of13FlowEntry>> Buckets { get; } = [];

        public int Count { get; set; }

        /// <summary>At least the highest priority in the index (not lowered on removal): an index below the best hit so far is skipped.</summary>
        public ushort MaxPriority { get; set; }
    }

    public int Tables => _tables.Length;

    /// <summary>Tables with fewer entries than this are looked up by a scan (the indexes are kept all the same).</summary>
    public int ScanBelow { get; }

    public int Capacity { get; }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    public int CountIn(int table)
    {
        lock (_gate)
        {
            return _tables[table].All.Count;
        }
    }

    /// <summary>Exact indexes <paramref name="table"/> has now (for tests and diagnostics).</summary>
    public int IndexesIn(int table)
    {
        lock (_gate)
        {
            return _tables[table].Indexes.Count;
        }
    }

    public long Lookups(int table) => Interlocked.Read(ref _lookups[table]);

    public long Matched(int table) => Interlocked.Read(ref _matched[table]);

    /// <summary>The highest-priority entry of <paramref name="table"/> covering the packet, its counters updated; null: a miss with no table-miss entry.</summary>
    public Of13FlowEntry? Lookup(int table, Of13PacketFields packet, int frameLength, long now)
    {
        lock (_gate)
        {
            _lookups[table]++;
            var t = _tables[table];
            var entry = t.All.Count < ScanBelow ? Scan(t, packet) : Find(t, packet);
            if (entry is not null)
            {
                _matched[table]++;
                entry.PacketCount++;
                entry.ByteCount += (ulong)frameLength;
                entry.LastUsed = now;
            }
            return entry;
        }
    }

    /// <summary>The lookup by the linear scan of every entry in order, without counting (what the indexes must agree with).</summary>
    internal Of13FlowEntry? LookupLinear(int table, Of13PacketFields packet)
    {
        lock (_gate)
        {
            return Scan(_tables[table], packet);
        }
    }

    private static Of13FlowEntry? Scan(Table table, Of13PacketFields packet)
    {
        foreach (var entry in table.All)
        {
            if (entry.Match.Covers(packet))
            {
                return entry;
            }
        }
        return null;
    }

    private static Of13FlowEntry? Find(Table table, Of13PacketFields packet)
    {
        Of13FlowEntry? best = null;
        foreach (var index in table.Indexes)
        {
            if ((packet.Present & index.Fields) != index.Fields || best is not null && index.MaxPriority < best.Priority)
            {
                continue;
            }
            if (index.Buckets.TryGetValue(Of13CompiledMatch.HashOf(packet, index.Fields), out var bucket))
            {
                foreach (var entry in bucket)
                {
                    // The first that covers is the bucket's best (hashes of different values may collide).
                    if (entry.Match.Covers(packet))
                    {
                        if (best is null || entry.Precedes(best))
                        {
                            best = entry;
                        }
                        break;
                    }
                }
            }
        }
        foreach (var entry in table.Wildcarded)
        {
            if (best is not null && !entry.Precedes(best))
            {
                break; // the rest come after the exact hit
            }
            if (entry.Match.Covers(packet))
            {
                return entry;
            }
        }
        return best;
    }

    /// <summary>Counts a packet an entry took without a lookup (the buffered packet of the flow_mod that added it).</summary>
    public void CountHit(Of13FlowEntry entry, int frameLength, long now)
    {
        lock (_gate)
        {
            entry.PacketCount++;
            entry.ByteCount += (ulong)frameLength;
            entry.LastUsed = now;
        }
    }

    public enum AddResult
    {
        Added,
        Replaced,
        TableFull,
        Overlap,
    }

    /// <summary>flow_mod add: an entry of the same table, match and priority is replaced (counters and duration start again).</summary>
    public AddResult Add(Of13FlowEntry entry, bool checkOverlap)
    {
        lock (_gate)
        {
            var table = _tables[entry.TableId];
            var all = table.All;
            var index = all.FindIndex(e => e.Priority == entry.Priority && e.Match.SameAs(entry.Match));
            if (index >= 0)
            {
                var old = all[index];
                entry.Sequence = old.Sequence; // in the old one's place
                Unindex(table, old);
                all[index] = entry;
                Index(table, entry);
                return AddResult.Replaced;
            }
            if (checkOverlap && all.Exists(e => e.Priority == entry.Priority && e.Match.Overlaps(entry.Match)))
            {
                return AddResult.Overlap;
            }
            if (_count >= Capacity)
            {
                return AddResult.TableFull;
            }
            entry.Sequence = ++_sequence;
            var at = all.FindIndex(e => e.Priority < entry.Priority);
            all.Insert(at < 0 ? all.Count : at, entry);
            Index(table, entry);
            _count++;
            return AddResult.Added;
        }
    }

    private static void Index(Table table, Of13FlowEntry entry)
    {
        ExactIndex? index = null;
        if (entry.Match.IsExact)
        {
            foreach (var candidate in table.Indexes)
            {
                if (candidate.Fields == entry.Match.Required)
                {
                    index = candidate;
                    break;
                }
            }
            if (index is null && table.Indexes.Count < MaxIndexes)
            {
                index = new ExactIndex(entry.Match.Required);
                table.Indexes.Add(index);
            }
        }
        if (index is null)
        {
            InsertInOrder(table.Wildcarded, entry);
            return;
        }
        if (!index.Buckets.TryGetValue(entry.Match.ExactHash, out var bucket))
        {
            index.Buckets[entry.Match.ExactHash] = bucket = [];
        }
        InsertInOrder(bucket, entry);
        index.Count++;
        index.MaxPriority = Math.Max(index.MaxPriority, entry.Priority);
        entry.Index = index;
    }

    private static void InsertInOrder(List<Of13FlowEntry> list, Of13FlowEntry entry)
    {
        var at = list.FindIndex(entry.Precedes);
        list.Insert(at < 0 ? list.Count : at, entry);
    }

    private static void Unindex(Table table, Of13FlowEntry entry)
    {
        if (entry.Index is not { } index)
        {
            table.Wildcarded.Remove(entry);
            return;
        }
        entry.Index = null;
        var bucket = index.Buckets[entry.Match.ExactHash];
        bucket.Remove(entry);
        if (bucket.Count == 0)
        {
            index.Buckets.Remove(entry.Match.ExactHash);
        }
        if (--index.Count == 0)
        {
            table.Indexes.Remove(index);
        }
    }

    /// <summary>Entries of <paramref name="table"/> (<see cref="Of13Table.All"/>: every table) selected as flow_mod modify/delete and flow stats select them.</summary>
    public List<Of13FlowEntry> Select(byte table, Of13CompiledMatch match, ushort priority, bool strict, uint outPort, uint outGroup, ulong cookie, ulong cookieMask)
    {
        var selected = new List<Of13FlowEntry>();
        lock (_gate)
        {
            for (var t = 0; t < _tables.Length; t++)
            {
                if (table != Of13Table.All && table != t)
                {
                    continue;
                }
                foreach (var entry in _tables[t].All)
                {
                    var matches = strict ? entry.Priority == priority && entry.Match.SameAs(match) : match.Includes(entry.Match);
                    // No groups exist, so a filter on an output group selects nothing.
                    if (matches && entry.OutputsTo(outPort) && outGroup == Of13Group.Any && ((entry.Cookie ^ cookie) & cookieMask) == 0)
                    {
                        selected.Add(entry);
                    }
                }
            }
        }
        return selected;
    }

    /// <summary>flow_mod modify: new instructions for the entries (counters kept unless <paramref name="resetCounts"/>).</summary>
    public void Modify(List<Of13FlowEntry> entries, byte[] instructions, bool resetCounts)
    {
        lock (_gate)
        {
            foreach (var entry in entries)
            {
                entry.SetInstructions(instructions);
                if (resetCounts)
                {
                    entry.PacketCount = 0;
                    entry.ByteCount = 0;
                }
            }
        }
    }

    public void Remove(List<Of13FlowEntry> entries)
    {
        lock (_gate)
        {
            foreach (var entry in entries)
            {
                var table = _tables[entry.TableId];
                if (table.All.Remove(entry))
                {
                    Unindex(table, entry);
                    _count--;
                }
            }
        }
    }

    /// <summary>Removes entries whose idle or hard timeout has passed at <paramref name="now"/> (nanoseconds).</summary>
    public List<(Of13FlowEntry Entry, OfFlowRemovedReason Reason)> Expire(long now)
    {
        var expired = new List<(Of13FlowEntry, OfFlowRemovedReason)>();
        lock (_gate)
        {
            foreach (var table in _tables)
            {
                var all = table.All;
                for (var i = all.Count - 1; i >= 0; i--)
                {
                    var entry = all[i];
                    OfFlowRemovedReason? reason = entry.HardTimeout > 0 && now - entry.Created >= entry.HardTimeout * 1_000_000_000L ? OfFlowRemovedReason.HardTimeout
                        : entry.IdleTimeout > 0 && now - entry.LastUsed >= entry.IdleTimeout * 1_000_000_000L ? OfFlowRemovedReason.IdleTimeout
                        : null;
                    if (reason is { } r)
                    {
                        all.RemoveAt(i);
                        Unindex(table, entry);
                        _count--;
                        expired.Add((entry, r));
                    }
                }
            }
        }
        return expired;
    }
}
