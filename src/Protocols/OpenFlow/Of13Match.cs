using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>OpenFlow 1.3 message types (ofp_type of 1.3; 0..14 are the same as 1.0's).</summary>
public enum Of13Type : byte
{
    Hello = 0,
    Error = 1,
    EchoRequest = 2,
    EchoReply = 3,
    Experimenter = 4,
    FeaturesRequest = 5,
    FeaturesReply = 6,
    GetConfigRequest = 7,
    GetConfigReply = 8,
    SetConfig = 9,
    PacketIn = 10,
    FlowRemoved = 11,
    PortStatus = 12,
    PacketOut = 13,
    FlowMod = 14,
    GroupMod = 15,
    PortMod = 16,
    TableMod = 17,
    MultipartRequest = 18,
    MultipartReply = 19,
    BarrierRequest = 20,
    BarrierReply = 21,
    QueueGetConfigRequest = 22,
    QueueGetConfigReply = 23,
    RoleRequest = 24,
    RoleReply = 25,
    GetAsyncRequest = 26,
    GetAsyncReply = 27,
    SetAsync = 28,
    MeterMod = 29,
}

/// <summary>Reserved port numbers of OpenFlow 1.3 (32 bits).</summary>
public static class Of13Port
{
    public const uint Max = 0xffffff00;
    public const uint InPort = 0xfffffff8;
    public const uint Table = 0xfffffff9;
    public const uint Normal = 0xfffffffa;
    public const uint Flood = 0xfffffffb;
    public const uint All = 0xfffffffc;
    public const uint Controller = 0xfffffffd;
    public const uint Local = 0xfffffffe;
    public const uint Any = 0xffffffff;
}

public static class Of13Table
{
    /// <summary>table_id meaning every table (flow_mod delete, flow stats).</summary>
    public const byte All = 0xff;
    public const byte Max = 0xfe;
}

public static class Of13Group
{
    public const uint Any = 0xffffffff;
}

/// <summary>max_len of an output to the controller meaning "do not buffer, send the whole packet".</summary>
public static class Of13ControllerMaxLength
{
    public const ushort NoBuffer = 0xffff;
}

/// <summary>OXM fields of class OFPXMC_OPENFLOW_BASIC (0x8000) and their payload lengths.</summary>
public enum OxmField : byte
{
    InPort = 0,
    InPhysicalPort = 1,
    Metadata = 2,
    EthDst = 3,
    EthSrc = 4,
    EthType = 5,
    VlanVid = 6,
    VlanPcp = 7,
    IpDscp = 8,
    IpEcn = 9,
    IpProto = 10,
    Ipv4Src = 11,
    Ipv4Dst = 12,
    TcpSrc = 13,
    TcpDst = 14,
    UdpSrc = 15,
    UdpDst = 16,
    SctpSrc = 17,
    SctpDst = 18,
    Icmpv4Type = 19,
    Icmpv4Code = 20,
    ArpOp = 21,
    ArpSpa = 22,
    ArpTpa = 23,
    ArpSha = 24,
    ArpTha = 25,
    Ipv6Src = 26,
    Ipv6Dst = 27,
    Ipv6FlowLabel = 28,
    Icmpv6Type = 29,
    Icmpv6Code = 30,
    Ipv6NdTarget = 31,
    Ipv6NdSll = 32,
    Ipv6NdTll = 33,
    MplsLabel = 34,
    MplsTc = 35,
    MplsBos = 36,
    PbbIsid = 37,
    TunnelId = 38,
    Ipv6ExtHeader = 39,
}

/// <summary>
/// One OXM TLV (4-byte header: class 16 bits, field 7 bits, has-mask 1 bit, payload length 8 bits; then the value and,
/// when masked, a mask of the same length). Value and mask stay spans over the message.
/// </summary>
public readonly ref struct Oxm
{
    public const ushort OpenFlowBasic = 0x8000;
    public const ushort Experimenter = 0xffff;
    public const int HeaderLength = 4;

    public Oxm(ushort oxmClass, byte field, ReadOnlySpan<byte> value, ReadOnlySpan<byte> mask = default)
    {
        Class = oxmClass;
        Field = field;
        Value = value;
        Mask = mask;
    }

    public ushort Class { get; }

    /// <summary>The field number (7 bits); for <see cref="OpenFlowBasic"/> an <see cref="OxmField"/>.</summary>
    public byte Field { get; }

    public bool HasMask => !Mask.IsEmpty;

    public ReadOnlySpan<byte> Value { get; }

    public ReadOnlySpan<byte> Mask { get; }

    public int Length => HeaderLength + Value.Length + Mask.Length;

    public bool Is(OxmField field) => Class == OpenFlowBasic && Field == (byte)field;

    /// <summary>The value as a big-endian unsigned number (values of up to 8 bytes).</summary>
    public ulong ValueAsNumber => ReadNumber(Value);

    public ulong MaskAsNumber => HasMask ? ReadNumber(Mask) : ulong.MaxValue >> (64 - 8 * Math.Min(8, Value.Length));

    internal static ulong ReadNumber(ReadOnlySpan<byte> bytes)
    {
        ulong v = 0;
        foreach (var b in bytes[..Math.Min(8, bytes.Length)])
        {
            v = v << 8 | b;
        }
        return v;
    }

    /// <summary>The payload length of each OpenFlow-basic field (0: unknown field).</summary>
    public static int PayloadLength(OxmField field) => field switch
    {
        OxmField.InPort or OxmField.InPhysicalPort or OxmField.Ipv4Src or OxmField.Ipv4Dst or OxmField.ArpSpa or OxmField.ArpTpa or OxmField.Ipv6FlowLabel or OxmField.MplsLabel => 4,
        OxmField.Metadata or OxmField.TunnelId => 8,
        OxmField.EthDst or OxmField.EthSrc or OxmField.ArpSha or OxmField.ArpTha or OxmField.Ipv6NdSll or OxmField.Ipv6NdTll => 6,
        OxmField.EthType or OxmField.VlanVid or OxmField.TcpSrc or OxmField.TcpDst or OxmField.UdpSrc or OxmField.UdpDst or OxmField.SctpSrc or OxmField.SctpDst or OxmField.ArpOp or OxmField.Ipv6ExtHeader => 2,
        OxmField.VlanPcp or OxmField.IpDscp or OxmField.IpEcn or OxmField.IpProto or OxmField.Icmpv4Type or OxmField.Icmpv4Code or OxmField.Icmpv6Type or OxmField.Icmpv6Code or OxmField.MplsTc or OxmField.MplsBos => 1,
        OxmField.Ipv6Src or OxmField.Ipv6Dst or OxmField.Ipv6NdTarget => 16,
        OxmField.PbbIsid => 3,
        _ => 0,
    };

    /// <summary>Reads one OXM at the start of <paramref name="bytes"/>; false when the TLV does not fit or is inconsistent.</summary>
    public static bool TryRead(ReadOnlySpan<byte> bytes, out Oxm oxm, out int consumed)
    {
        oxm = default;
        consumed = 0;
        if (bytes.Length < HeaderLength)
        {
            return false;
        }
        var oxmClass = BinaryPrimitives.ReadUInt16BigEndian(bytes);
        var field = (byte)(bytes[2] >> 1);
        var hasMask = (bytes[2] & 1) != 0;
        int length = bytes[3];
        if (length == 0 || HeaderLength + length > bytes.Length || (hasMask && length % 2 != 0))
        {
            return false;
        }
        if (oxmClass == OpenFlowBasic)
        {
            var expected = PayloadLength((OxmField)field);
            if (expected == 0 || length != (hasMask ? 2 * expected : expected))
            {
                return false;
            }
        }
        var payload = bytes.Slice(HeaderLength, length);
        oxm = hasMask ? new Oxm(oxmClass, field, payload[..(length / 2)], payload[(length / 2)..]) : new Oxm(oxmClass, field, payload);
        consumed = HeaderLength + length;
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        var payload = Value.Length + Mask.Length;
        if (destination.Length < HeaderLength + payload || payload > byte.MaxValue || Field > 0x7f || (HasMask && Mask.Length != Value.Length))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(destination, Class);
        destination[2] = (byte)(Field << 1 | (HasMask ? 1 : 0));
        destination[3] = (byte)payload;
        Value.CopyTo(destination[HeaderLength..]);
        Mask.CopyTo(destination[(HeaderLength + Value.Length)..]);
        written = HeaderLength + payload;
        return true;
    }
}

/// <summary>Reads the OXM TLVs of a match or a set_field action one at a time, without allocating.</summary>
public ref struct OxmReader(ReadOnlySpan<byte> fields)
{
    private ReadOnlySpan<byte> _rest = fields;

    /// <summary>False at the end, or on a malformed TLV (<see cref="Malformed"/> then says so).</summary>
    public bool TryRead(out Oxm oxm)
    {
        oxm = default;
        if (_rest.IsEmpty)
        {
            return false;
        }
        if (!Oxm.TryRead(_rest, out oxm, out var consumed))
        {
            Malformed = true;
            _rest = default;
            return false;
        }
        _rest = _rest[consumed..];
        return true;
    }

    public bool Malformed { get; private set; }
}

/// <summary>Appends OpenFlow-basic OXM TLVs to a buffer (for matches built on the hot path: no allocation).</summary>
public ref struct OxmWriter(Span<byte> destination)
{
    private readonly Span<byte> _destination = destination;

    public int Length { get; private set; }

    /// <summary>False once something did not fit (the writer then stays failed).</summary>
    public bool Ok { get; private set; } = true;

    public ReadOnlySpan<byte> Written => _destination[..Length];

    /// <summary>Adds a field with a big-endian number as its value (its length is the field's), masked when <paramref name="mask"/> is given.</summary>
    public void Add(OxmField field, ulong value, ulong? mask = null)
    {
        var size = Oxm.PayloadLength(field);
        if (!Ok || size is 0 or > 8)
        {
            Ok = false;
            return;
        }
        Span<byte> v = stackalloc byte[8];
        Span<byte> m = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(v, value);
        BinaryPrimitives.WriteUInt64BigEndian(m, mask ?? 0);
        var oxm = mask is null ? new Oxm(Oxm.OpenFlowBasic, (byte)field, v[(8 - size)..]) : new Oxm(Oxm.OpenFlowBasic, (byte)field, v[(8 - size)..], m[(8 - size)..]);
        Add(oxm);
    }

    public void Add(scoped Oxm oxm)
    {
        if (!Ok || !oxm.TryWrite(_destination[Length..], out var n))
        {
            Ok = false;
            return;
        }
        Length += n;
    }
}

/// <summary>
/// The OpenFlow 1.3 match (ofp_match, type OFPMT_OXM = 1): a 4-byte header (type, length without padding), the OXM
/// TLVs, padding to a multiple of 8. The fields stay a span over the message (see <see cref="OxmReader"/>), so a
/// decoded match encodes to the very same bytes.
/// </summary>
public readonly ref struct Of13Match
{
    public const ushort TypeOxm = 1;
    public const int HeaderLength = 4;
    private const int TypeOffset = 0;
    private const int LengthOffset = 2;

    public Of13Match(ReadOnlySpan<byte> fields) => Fields = fields;

    /// <summary>The OXM TLVs (without the match header and padding).</summary>
    public ReadOnlySpan<byte> Fields { get; }

    /// <summary>The length field: header and fields, without padding.</summary>
    public int Length => HeaderLength + Fields.Length;

    /// <summary>What the match takes on the wire (padded to 8).</summary>
    public int PaddedLength => (Length + 7) / 8 * 8;

    public OxmReader Reader() => new(Fields);

    /// <summary>Reads a match at the start of <paramref name="bytes"/>; <paramref name="consumed"/> includes the padding. Every TLV is checked.</summary>
    public static bool TryRead(ReadOnlySpan<byte> bytes, out Of13Match match, out int consumed)
    {
        match = default;
        consumed = 0;
        if (bytes.Length < HeaderLength)
        {
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[LengthOffset..]);
        var padded = (length + 7) / 8 * 8;
        if (BinaryPrimitives.ReadUInt16BigEndian(bytes[TypeOffset..]) != TypeOxm || length < HeaderLength || padded > bytes.Length)
        {
            return false;
        }
        var fields = bytes[HeaderLength..length];
        var reader = new OxmReader(fields);
        while (reader.TryRead(out _))
        {
        }
        if (reader.Malformed)
        {
            return false;
        }
        match = new Of13Match(fields);
        consumed = padded;
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < PaddedLength || Length > ushort.MaxValue)
        {
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(destination[TypeOffset..], TypeOxm);
        BinaryPrimitives.WriteUInt16BigEndian(destination[LengthOffset..], (ushort)Length);
        Fields.CopyTo(destination[HeaderLength..]);
        destination[Length..PaddedLength].Clear();
        written = PaddedLength;
        return true;
    }

    /// <summary>The first OpenFlow-basic field <paramref name="field"/> as a number (unmasked value).</summary>
    public bool TryGet(OxmField field, out ulong value)
    {
        var reader = Reader();
        while (reader.TryRead(out var oxm))
        {
            if (oxm.Is(field) && oxm.Value.Length <= 8)
            {
                value = oxm.ValueAsNumber;
                return true;
            }
        }
        value = 0;
        return false;
    }

    /// <summary>The in_port field (every packet_in carries it).</summary>
    public uint InPort => TryGet(OxmField.InPort, out var port) ? (uint)port : 0;
}
