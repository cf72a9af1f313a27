using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>ofp_flow_wildcards: a set bit means "any value" for that field.</summary>
public static class OfWildcards
{
    public const uint InPort = 1 << 0;
    public const uint DlVlan = 1 << 1;
    public const uint DlSrc = 1 << 2;
    public const uint DlDst = 1 << 3;
    public const uint DlType = 1 << 4;
    public const uint NwProto = 1 << 5;
    public const uint TpSrc = 1 << 6;
    public const uint TpDst = 1 << 7;
    public const int NwSrcShift = 8;
    public const uint NwSrcMask = 0x3fu << NwSrcShift;
    public const uint NwSrcAll = 32u << NwSrcShift;
    public const int NwDstShift = 14;
    public const uint NwDstMask = 0x3fu << NwDstShift;
    public const uint NwDstAll = 32u << NwDstShift;
    public const uint DlVlanPcp = 1 << 20;
    public const uint NwTos = 1 << 21;
    public const uint All = (1u << 22) - 1;
}

/// <summary>
/// The OpenFlow 1.0 12-tuple (ofp_match, 40 bytes) with its wildcards. A value type: flow tables and messages carry it
/// without allocating. Field values of wildcarded fields are kept as given (OVS sends them zeroed).
/// </summary>
public struct OfMatch : IEquatable<OfMatch>
{
    public const int Size = 40;

    /// <summary>dl_vlan of an untagged frame.</summary>
    public const ushort VlanNone = 0xffff;

    /// <summary>dl_type of an 802.3 frame (length field below 0x600).</summary>
    public const ushort DlTypeNotEthType = 0x05ff;

    private const int WildcardsOffset = 0;
    private const int InPortOffset = 4;
    private const int DlSrcOffset = 6;
    private const int DlDstOffset = 12;
    private const int DlVlanOffset = 18;
    private const int DlVlanPcpOffset = 20;
    private const int DlTypeOffset = 22;
    private const int NwTosOffset = 24;
    private const int NwProtoOffset = 25;
    private const int NwSrcOffset = 28;
    private const int NwDstOffset = 32;
    private const int TpSrcOffset = 36;
    private const int TpDstOffset = 38;

    public uint Wildcards;
    public ushort InPort;
    public ulong DlSrc;
    public ulong DlDst;
    public ushort DlVlan;
    public byte DlVlanPcp;
    public ushort DlType;
    public byte NwTos;
    public byte NwProto;
    public uint NwSrc;
    public uint NwDst;
    public ushort TpSrc;
    public ushort TpDst;

    /// <summary>Matches everything.</summary>
    public static OfMatch Any => new() { Wildcards = OfWildcards.All };

    /// <summary>Reads the 40 bytes at the start of <paramref name="bytes"/>; false when fewer are there.</summary>
    public static bool TryRead(ReadOnlySpan<byte> bytes, out OfMatch match)
    {
        match = default;
        if (bytes.Length < Size)
        {
            return false;
        }
        match.Wildcards = BinaryPrimitives.ReadUInt32BigEndian(bytes[WildcardsOffset..]) & OfWildcards.All;
        match.InPort = BinaryPrimitives.ReadUInt16BigEndian(bytes[InPortOffset..]);
        match.DlSrc = ReadMac(bytes[DlSrcOffset..]);
        match.DlDst = ReadMac(bytes[DlDstOffset..]);
        match.DlVlan = BinaryPrimitives.ReadUInt16BigEndian(bytes[DlVlanOffset..]);
        match.DlVlanPcp = bytes[DlVlanPcpOffset];
        match.DlType = BinaryPrimitives.ReadUInt16BigEndian(bytes[DlTypeOffset..]);
        match.NwTos = bytes[NwTosOffset];
        match.NwProto = bytes[NwProtoOffset];
        match.NwSrc = BinaryPrimitives.ReadUInt32BigEndian(bytes[NwSrcOffset..]);
        match.NwDst = BinaryPrimitives.ReadUInt32BigEndian(bytes[NwDstOffset..]);
        match.TpSrc = BinaryPrimitives.ReadUInt16BigEndian(bytes[TpSrcOffset..]);
        match.TpDst = BinaryPrimitives.ReadUInt16BigEndian(bytes[TpDstOffset..]);
        return true;
    }

    public readonly bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }
        destination[..Size].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(destination[WildcardsOffset..], Wildcards);
        BinaryPrimitives.WriteUInt16BigEndian(destination[InPortOffset..], InPort);
        WriteMac(destination[DlSrcOffset..], DlSrc);
        WriteMac(destination[DlDstOffset..], DlDst);
        BinaryPrimitives.WriteUInt16BigEndian(destination[DlVlanOffset..], DlVlan);
        destination[DlVlanPcpOffset] = DlVlanPcp;
        BinaryPrimitives.WriteUInt16BigEndian(destination[DlTypeOffset..], DlType);
        destination[NwTosOffset] = NwTos;
        destination[NwProtoOffset] = NwProto;
        BinaryPrimitives.WriteUInt32BigEndian(destination[NwSrcOffset..], NwSrc);
        BinaryPrimitives.WriteUInt32BigEndian(destination[NwDstOffset..], NwDst);
        BinaryPrimitives.WriteUInt16BigEndian(destination[TpSrcOffset..], TpSrc);
        BinaryPrimitives.WriteUInt16BigEndian(destination[TpDstOffset..], TpDst);
        written = Size;
        return true;
    }

    /// <summary>Wildcarded low bits of nw_src (0 = exact, ≥ 32 = any).</summary>
    public readonly int NwSrcWildcardBits => (int)((Wildcards & OfWildcards.NwSrcMask) >> OfWildcards.NwSrcShift);

    public readonly int NwDstWildcardBits => (int)((Wildcards & OfWildcards.NwDstMask) >> OfWildcards.NwDstShift);

    private static uint PrefixMask(int wildcardBits) => wildcardBits >= 32 ? 0u : uint.MaxValue << wildcardBits;

    /// <summary>
    /// The exact 12-tuple of a frame received on <paramref name="inPort"/> (OpenFlow 1.0 section 3.4): every field set,
    /// no wildcards. Fields a frame lacks (no IP, no transport header) are 0. False only for a runt (under 14 bytes).
    /// </summary>
    public static bool TryExtract(ReadOnlySpan<byte> frame, ushort inPort, out OfMatch match)
    {
        match = default;
        if (frame.Length < 14)
        {
            return false;
        }
        match.InPort = inPort;
        match.DlDst = ReadMac(frame);
        match.DlSrc = ReadMac(frame[6..]);
        var offset = 12;
        var type = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        match.DlVlan = VlanNone;
        if (type == 0x8100 && frame.Length >= 18)
        {
            var tci = BinaryPrimitives.ReadUInt16BigEndian(frame[14..]);
            match.DlVlan = (ushort)(tci & 0x0fff);
            match.DlVlanPcp = (byte)(tci >> 13);
            offset = 16;
            type = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
        }
        offset += 2;
        if (type < 0x600)
        {
            // 802.3 with LLC/SNAP: OpenFlow 1.0 uses the SNAP type when present, else "not an Ethernet type".
            if (frame.Length >= offset + 8 && frame[offset] == 0xaa && frame[offset + 1] == 0xaa && frame[offset + 2] == 0x03)
            {
                type = BinaryPrimitives.ReadUInt16BigEndian(frame[(offset + 6)..]);
                offset += 8;
            }
            else
            {
                match.DlType = DlTypeNotEthType;
                return true;
            }
        }
        match.DlType = type;
        var payload = frame[offset..];
        if (type == 0x0800 && payload.Length >= 20 && payload[0] >> 4 == 4)
        {
            var headerLength = (payload[0] & 0xf) * 4;
            match.NwTos = (byte)(payload[1] & 0xfc);
            match.NwProto = payload[9];
            match.NwSrc = BinaryPrimitives.ReadUInt32BigEndian(payload[12..]);
            match.NwDst = BinaryPrimitives.ReadUInt32BigEndian(payload[16..]);
            var fragmentOffset = BinaryPrimitives.ReadUInt16BigEndian(payload[6..]) & 0x1fff;
            if (fragmentOffset == 0 && headerLength >= 20 && payload.Length >= headerLength + 4)
            {
                var transport = payload[headerLength..];
                if (match.NwProto is 6 or 17)
                {
                    match.TpSrc = BinaryPrimitives.ReadUInt16BigEndian(transport);
                    match.TpDst = BinaryPrimitives.ReadUInt16BigEndian(transport[2..]);
                }
                else if (match.NwProto == 1)
                {
                    match.TpSrc = transport[0];
                    match.TpDst = transport[1];
                }
            }
        }
        else if (type == 0x0806 && payload.Length >= 28)
        {
            match.NwProto = (byte)BinaryPrimitives.ReadUInt16BigEndian(payload[6..]);
            match.NwSrc = BinaryPrimitives.ReadUInt32BigEndian(payload[14..]);
            match.NwDst = BinaryPrimitives.ReadUInt32BigEndian(payload[24..]);
        }
        return true;
    }

    /// <summary>True when the exact tuple <paramref name="packet"/> (from <see cref="TryExtract"/>) matches this (wildcarded) entry.</summary>
    public readonly bool Covers(in OfMatch packet)
    {
        var w = Wildcards;
        return ((w & OfWildcards.InPort) != 0 || InPort == packet.InPort)
            && ((w & OfWildcards.DlSrc) != 0 || DlSrc == packet.DlSrc)
            && ((w & OfWildcards.DlDst) != 0 || DlDst == packet.DlDst)
            && ((w & OfWildcards.DlVlan) != 0 || DlVlan == packet.DlVlan)
            && ((w & OfWildcards.DlVlanPcp) != 0 || DlVlanPcp == packet.DlVlanPcp)
            && ((w & OfWildcards.DlType) != 0 || DlType == packet.DlType)
            && ((w & OfWildcards.NwTos) != 0 || NwTos == packet.NwTos)
            && ((w & OfWildcards.NwProto) != 0 || NwProto == packet.NwProto)
            && ((NwSrc ^ packet.NwSrc) & PrefixMask(NwSrcWildcardBits)) == 0
            && ((NwDst ^ packet.NwDst) & PrefixMask(NwDstWildcardBits)) == 0
            && ((w & OfWildcards.TpSrc) != 0 || TpSrc == packet.TpSrc)
            && ((w & OfWildcards.TpDst) != 0 || TpDst == packet.TpDst);
    }

    /// <summary>
    /// True when every packet <paramref name="entry"/> matches is matched by this filter too (the non-strict rule of
    /// flow_mod modify/delete and flow stats: the filter is at least as general as the entry).
    /// </summary>
    public readonly bool Includes(in OfMatch entry)
    {
        var w = Wildcards;
        var e = entry.Wildcards;
        return Field(OfWildcards.InPort, InPort == entry.InPort)
            && Field(OfWildcards.DlSrc, DlSrc == entry.DlSrc)
            && Field(OfWildcards.DlDst, DlDst == entry.DlDst)
            && Field(OfWildcards.DlVlan, DlVlan == entry.DlVlan)
            && Field(OfWildcards.DlVlanPcp, DlVlanPcp == entry.DlVlanPcp)
            && Field(OfWildcards.DlType, DlType == entry.DlType)
            && Field(OfWildcards.NwTos, NwTos == entry.NwTos)
            && Field(OfWildcards.NwProto, NwProto == entry.NwProto)
            && Field(OfWildcards.TpSrc, TpSrc == entry.TpSrc)
            && Field(OfWildcards.TpDst, TpDst == entry.TpDst)
            && Prefix(NwSrcWildcardBits, entry.NwSrcWildcardBits, NwSrc, entry.NwSrc)
            && Prefix(NwDstWildcardBits, entry.NwDstWildcardBits, NwDst, entry.NwDst);

        bool Field(uint bit, bool equal) => (w & bit) != 0 || ((e & bit) == 0 && equal);

        static bool Prefix(int filterBits, int entryBits, uint filter, uint value) =>
            Math.Min(filterBits, 32) >= Math.Min(entryBits, 32) && ((filter ^ value) & PrefixMask(filterBits)) == 0;
    }

    /// <summary>Same wildcards and the same values in every field that is not wildcarded (the strict rule).</summary>
    public readonly bool SameAs(in OfMatch other) => Includes(other) && other.Includes(this);

    public readonly bool Equals(OfMatch other) => SameAs(other);

    public override readonly bool Equals(object? obj) => obj is OfMatch other && Equals(other);

    /// <summary>Hashes only the fields that are not wildcarded, so that <see cref="SameAs"/> matches agree.</summary>
    public override readonly int GetHashCode()
    {
        var w = Wildcards;
        var hash = new HashCode();
        hash.Add(w & ~(OfWildcards.NwSrcMask | OfWildcards.NwDstMask));
        hash.Add((w & OfWildcards.InPort) != 0 ? 0 : InPort);
        hash.Add((w & OfWildcards.DlSrc) != 0 ? 0 : DlSrc);
        hash.Add((w & OfWildcards.DlDst) != 0 ? 0 : DlDst);
        hash.Add((w & OfWildcards.DlType) != 0 ? 0 : DlType);
        hash.Add(NwSrc & PrefixMask(NwSrcWildcardBits));
        hash.Add(NwDst & PrefixMask(NwDstWildcardBits));
        hash.Add((w & OfWildcards.TpDst) != 0 ? 0 : TpDst);
        return hash.ToHashCode();
    }

    public static bool operator ==(OfMatch left, OfMatch right) => left.Equals(right);

    public static bool operator !=(OfMatch left, OfMatch right) => !left.Equals(right);

    public override readonly string ToString() =>
        $"wildcards=0x{Wildcards:x6} in_port={InPort} dl_src={DlSrc:x12} dl_dst={DlDst:x12} dl_vlan={DlVlan} dl_type=0x{DlType:x4} nw_proto={NwProto} nw_src={NwSrc:x8} nw_dst={NwDst:x8} tp_src={TpSrc} tp_dst={TpDst}";

    internal static ulong ReadMac(ReadOnlySpan<byte> bytes) =>
        ((ulong)BinaryPrimitives.ReadUInt16BigEndian(bytes) << 32) | BinaryPrimitives.ReadUInt32BigEndian(bytes[2..]);

    internal static void WriteMac(Span<byte> destination, ulong mac)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(mac >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], (uint)mac);
    }
}
