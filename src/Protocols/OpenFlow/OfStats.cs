using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>stats_request / stats_reply (ofp_stats_request/reply): a stats type, flags and a type-specific body.</summary>
public readonly ref struct OfStatsMessage
{
    public const int Size = 12;
    private const int StatsTypeOffset = 8;
    private const int FlagsOffset = 10;

    public OfStatsMessage(OfType type, OfStatsType statsType, ushort flags, ReadOnlySpan<byte> body)
    {
        Type = type;
        StatsType = statsType;
        Flags = flags;
        Body = body;
    }

    /// <summary><see cref="OfType.StatsRequest"/> or <see cref="OfType.StatsReply"/>.</summary>
    public OfType Type { get; }

    public OfStatsType StatsType { get; }

    public ushort Flags { get; }

    public ReadOnlySpan<byte> Body { get; }

    public int Length => Size + Body.Length;

    public static bool TryParse(OfMessage message, out OfStatsMessage stats)
    {
        stats = default;
        if (message.Type is not (OfType.StatsRequest or OfType.StatsReply) || message.Length < Size)
        {
            return false;
        }
        var b = message.Bytes;
        stats = new OfStatsMessage(message.Type, (OfStatsType)BinaryPrimitives.ReadUInt16BigEndian(b[StatsTypeOffset..]), BinaryPrimitives.ReadUInt16BigEndian(b[FlagsOffset..]), b[Size..]);
        return true;
    }

    /// <summary>Writes the header and the stats header only: for a body written in place after <see cref="Size"/> bytes.</summary>
    public static bool TryWriteHeader(Span<byte> destination, OfType type, OfStatsType statsType, ushort flags, int bodyLength, uint xid)
    {
        if (destination.Length < Size + bodyLength || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow10, type, Size + bodyLength, xid))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(destination[StatsTypeOffset..], (ushort)statsType);
        BinaryPrimitives.WriteUInt16BigEndian(destination[FlagsOffset..], flags);
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (!TryWriteHeader(destination, Type, StatsType, Flags, Body.Length, xid))
        {
            return false;
        }
        Body.CopyTo(destination[Size..]);
        written = Length;
        return true;
    }
}

/// <summary>The description stats reply body (ofp_desc_stats, 1056 bytes of NUL-padded strings).</summary>
public readonly record struct OfDescriptionStats(string Manufacturer, string Hardware, string Software, string SerialNumber, string Datapath)
{
    public const int Size = 1056;
    private const int DescriptionLength = 256;
    private const int SerialLength = 32;

    public static bool TryRead(ReadOnlySpan<byte> body, out OfDescriptionStats stats)
    {
        stats = default;
        if (body.Length < Size)
        {
            return false;
        }
        stats = new OfDescriptionStats(
            OfPhysicalPort.ReadString(body[..256]),
            OfPhysicalPort.ReadString(body[256..512]),
            OfPhysicalPort.ReadString(body[512..768]),
            OfPhysicalPort.ReadString(body[768..800]),
            OfPhysicalPort.ReadString(body[800..1056]));
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }
        OfPhysicalPort.WriteString(destination[..DescriptionLength], Manufacturer);
        OfPhysicalPort.WriteString(destination[256..512], Hardware);
        OfPhysicalPort.WriteString(destination[512..768], Software);
        OfPhysicalPort.WriteString(destination[768..(768 + SerialLength)], SerialNumber);
        OfPhysicalPort.WriteString(destination[800..1056], Datapath);
        written = Size;
        return true;
    }
}

/// <summary>The flow and aggregate stats request body (ofp_flow_stats_request, 44 bytes).</summary>
public readonly record struct OfFlowStatsRequest(OfMatch Match, byte TableId, ushort OutPort)
{
    public const int Size = 44;
    private const int TableIdOffset = 40;
    private const int OutPortOffset = 42;

    /// <summary>table_id meaning every table.</summary>
    public const byte AllTables = 0xff;

    public static bool TryRead(ReadOnlySpan<byte> body, out OfFlowStatsRequest request)
    {
        request = default;
        if (body.Length < Size || !OfMatch.TryRead(body, out var match))
        {
            return false;
        }
        request = new OfFlowStatsRequest(match, body[TableIdOffset], BinaryPrimitives.ReadUInt16BigEndian(body[OutPortOffset..]));
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }
        Match.TryWrite(destination, out _);
        destination[TableIdOffset] = TableId;
        destination[TableIdOffset + 1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination[OutPortOffset..], OutPort);
        written = Size;
        return true;
    }
}

/// <summary>One flow in a flow stats reply (ofp_flow_stats: 88 bytes and the actions).</summary>
public readonly ref struct OfFlowStats
{
    public const int Size = 88;
    private const int LengthOffset = 0;
    private const int TableIdOffset = 2;
    private const int MatchOffset = 4;
    private const int DurationSecondsOffset = 44;
    private const int DurationNanosecondsOffset = 48;
    private const int PriorityOffset = 52;
    private const int IdleTimeoutOffset = 54;
    private const int HardTimeoutOffset = 56;
    private const int CookieOffset = 64;
    private const int PacketCountOffset = 72;
    private const int ByteCountOffset = 80;

    public byte TableId { get; init; }

    public OfMatch Match { get; init; }

    public uint DurationSeconds { get; init; }

    public uint DurationNanoseconds { get; init; }

    public ushort Priority { get; init; }

    public ushort IdleTimeout { get; init; }

    public ushort HardTimeout { get; init; }

    public ulong Cookie { get; init; }

    public ulong PacketCount { get; init; }

    public ulong ByteCount { get; init; }

    public ReadOnlySpan<byte> Actions { get; init; }

    public int Length => Size + Actions.Length;

    /// <summary>Reads the entry at the start of <paramref name="body"/>; <paramref name="consumed"/> is its length.</summary>
    public static bool TryRead(ReadOnlySpan<byte> body, out OfFlowStats stats, out int consumed)
    {
        stats = default;
        consumed = 0;
        if (body.Length < Size)
        {
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(body[LengthOffset..]);
        if (length < Size || length > body.Length || !OfMatch.TryRead(body[MatchOffset..], out var match))
        {
            return false;
        }
        stats = new OfFlowStats
        {
            TableId = body[TableIdOffset],
            Match = match,
            DurationSeconds = BinaryPrimitives.ReadUInt32BigEndian(body[DurationSecondsOffset..]),
            DurationNanoseconds = BinaryPrimitives.ReadUInt32BigEndian(body[DurationNanosecondsOffset..]),
            Priority = BinaryPrimitives.ReadUInt16BigEndian(body[PriorityOffset..]),
            IdleTimeout = BinaryPrimitives.ReadUInt16BigEndian(body[IdleTimeoutOffset..]),
            HardTimeout = BinaryPrimitives.ReadUInt16BigEndian(body[HardTimeoutOffset..]),
            Cookie = BinaryPrimitives.ReadUInt64BigEndian(body[CookieOffset..]),
            PacketCount = BinaryPrimitives.ReadUInt64BigEndian(body[PacketCountOffset..]),
            ByteCount = BinaryPrimitives.ReadUInt64BigEndian(body[ByteCountOffset..]),
            Actions = body[Size..length],
        };
        consumed = length;
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Length)
        {
            return false;
        }
        destination[..Size].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(destination[LengthOffset..], (ushort)Length);
        destination[TableIdOffset] = TableId;
        Match.TryWrite(destination[MatchOffset..], out _);
        BinaryPrimitives.WriteUInt32BigEndian(destination[DurationSecondsOffset..], DurationSeconds);
        BinaryPrimitives.WriteUInt32BigEndian(destination[DurationNanosecondsOffset..], DurationNanoseconds);
        BinaryPrimitives.WriteUInt16BigEndian(destination[PriorityOffset..], Priority);
        BinaryPrimitives.WriteUInt16BigEndian(destination[IdleTimeoutOffset..], IdleTimeout);
        BinaryPrimitives.WriteUInt16BigEndian(destination[HardTimeoutOffset..], HardTimeout);
        BinaryPrimitives.WriteUInt64BigEndian(destination[CookieOffset..], Cookie);
        BinaryPrimitives.WriteUInt64BigEndian(destination[PacketCountOffset..], PacketCount);
        BinaryPrimitives.WriteUInt64BigEndian(destination[ByteCountOffset..], ByteCount);
        Actions.CopyTo(destination[Size..]);
        written = Length;
        return true;
    }
}

/// <summary>The aggregate stats reply body (ofp_aggregate_stats_reply, 24 bytes): the same layout in a 1.0 stats reply and a 1.3 multipart reply.</summary>
public readonly record struct OfAggregateStats(ulong PacketCount, ulong ByteCount, uint FlowCount)
{
    public const int Size = 24;

    public static bool TryRead(ReadOnlySpan<byte> body, out OfAggregateStats stats)
    {
        stats = default;
        if (body.Length < Size)
        {
            return false;
        }
        stats = new OfAggregateStats(BinaryPrimitives.ReadUInt64BigEndian(body), BinaryPrimitives.ReadUInt64BigEndian(body[8..]), BinaryPrimitives.ReadUInt32BigEndian(body[16..]));
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }
        BinaryPrimitives.WriteUInt64BigEndian(destination, PacketCount);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], ByteCount);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], FlowCount);
        BinaryPrimitives.WriteUInt32BigEndian(destination[20..], 0);
        written = Size;
        return true;
    }
}

/// <summary>One table in a table stats reply (ofp_table_stats, 64 bytes).</summary>
public readonly record struct OfTableStats(byte TableId, string Name, uint Wildcards, uint MaxEntries, uint ActiveCount, ulong LookupCount, ulong MatchedCount)
{
    public const int Size = 64;
    private const int NameOffset = 4;
    private const int NameLength = 32;
    private const int WildcardsOffset = 36;
    private const int MaxEntriesOffset = 40;
    private const int ActiveCountOffset = 44;
    private const int LookupCountOffset = 48;
    private const int MatchedCountOffset = 56;

    public static bool TryRead(ReadOnlySpan<byte> body, out OfTableStats stats)
    {
        stats = default;
        if (body.Length < Size)
        {
            return false;
        }
        stats = new OfTableStats(
            body[0],
            OfPhysicalPort.ReadString(body.Slice(NameOffset, NameLength)),
            BinaryPrimitives.ReadUInt32BigEndian(body[WildcardsOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(body[MaxEntriesOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(body[ActiveCountOffset..]),
            BinaryPrimitives.ReadUInt64BigEndian(body[LookupCountOffset..]),
            BinaryPrimitives.ReadUInt64BigEndian(body[MatchedCountOffset..]));
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }
        destination[..Size].Clear();
        destination[0] = TableId;
        OfPhysicalPort.WriteString(destination.Slice(NameOffset, NameLength), Name);
        BinaryPrimitives.WriteUInt32BigEndian(destination[WildcardsOffset..], Wildcards);
        BinaryPrimitives.WriteUInt32BigEndian(destination[MaxEntriesOffset..], MaxEntries);
        BinaryPrimitives.WriteUInt32BigEndian(destination[ActiveCountOffset..], ActiveCount);
        BinaryPrimitives.WriteUInt64BigEndian(destination[LookupCountOffset..], LookupCount);
        BinaryPrimitives.WriteUInt64BigEndian(destination[MatchedCountOffset..], MatchedCount);
        written = Size;
        return true;
    }
}

/// <summary>The port stats request body (ofp_port_stats_request, 8 bytes).</summary>
public readonly record struct OfPortStatsRequest(ushort PortNumber)
{
    public const int Size = 8;

    public static bool TryRead(ReadOnlySpan<byte> body, out OfPortStatsRequest request)
    {
        request = default;
        if (body.Length < Size)
        {
            return false;
        }
        request = new OfPortStatsRequest(BinaryPrimitives.ReadUInt16BigEndian(body));
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }
        destination[..Size].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(destination, PortNumber);
        written = Size;
        return true;
    }
}

/// <summary>One port in a port stats reply (ofp_port_stats, 104 bytes: the port number and twelve 64-bit counters).</summary>
public struct OfPortStats
{
    public const int Size = 104;
    private const int CountersOffset = 8;

    public ushort PortNumber;
    public ulong RxPackets;
    public ulong TxPackets;
    public ulong RxBytes;
    public ulong TxBytes;
    public ulong RxDropped;
    public ulong TxDropped;
    public ulong RxErrors;
    public ulong TxErrors;
    public ulong RxFrameErrors;
    public ulong RxOverErrors;
    public ulong RxCrcErrors;
    public ulong Collisions;

    public static bool TryRead(ReadOnlySpan<byte> body, out OfPortStats stats)
    {
        stats = default;
        if (body.Length < Size)
        {
            return false;
        }
        stats.PortNumber = BinaryPrimitives.ReadUInt16BigEndian(body);
        var c = body[CountersOffset..];
        stats.RxPackets = BinaryPrimitives.ReadUInt64BigEndian(c);
        stats.TxPackets = BinaryPrimitives.ReadUInt64BigEndian(c[8..]);
        stats.RxBytes = BinaryPrimitives.ReadUInt64BigEndian(c[16..]);
        stats.TxBytes = BinaryPrimitives.ReadUInt64BigEndian(c[24..]);
        stats.RxDropped = BinaryPrimitives.ReadUInt64BigEndian(c[32..]);
        stats.TxDropped = BinaryPrimitives.ReadUInt64BigEndian(c[40..]);
        stats.RxErrors = BinaryPrimitives.ReadUInt64BigEndian(c[48..]);
        stats.TxErrors = BinaryPrimitives.ReadUInt64BigEndian(c[56..]);
        stats.RxFrameErrors = BinaryPrimitives.ReadUInt64BigEndian(c[64..]);
        stats.RxOverErrors = BinaryPrimitives.ReadUInt64BigEndian(c[72..]);
        stats.RxCrcErrors = BinaryPrimitives.ReadUInt64BigEndian(c[80..]);
        stats.Collisions = BinaryPrimitives.ReadUInt64BigEndian(c[88..]);
        return true;
    }

    public readonly bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }
        destination[..CountersOffset].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(destination, PortNumber);
        var c = destination[CountersOffset..];
        BinaryPrimitives.WriteUInt64BigEndian(c, RxPackets);
        BinaryPrimitives.WriteUInt64BigEndian(c[8..], TxPackets);
        BinaryPrimitives.WriteUInt64BigEndian(c[16..], RxBytes);
        BinaryPrimitives.WriteUInt64BigEndian(c[24..], TxBytes);
        BinaryPrimitives.WriteUInt64BigEndian(c[32..], RxDropped);
        BinaryPrimitives.WriteUInt64BigEndian(c[40..], TxDropped);
        BinaryPrimitives.WriteUInt64BigEndian(c[48..], RxErrors);
        BinaryPrimitives.WriteUInt64BigEndian(c[56..], TxErrors);
        BinaryPrimitives.WriteUInt64BigEndian(c[64..], RxFrameErrors);
        BinaryPrimitives.WriteUInt64BigEndian(c[72..], RxOverErrors);
        BinaryPrimitives.WriteUInt64BigEndian(c[80..], RxCrcErrors);
        BinaryPrimitives.WriteUInt64BigEndian(c[88..], Collisions);
        written = Size;
        return true;
    }
}
