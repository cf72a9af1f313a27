using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>features_reply of OpenFlow 1.3 (ofp_switch_features, 32 bytes: no ports, they come by port_desc multipart).</summary>
public readonly record struct Of13FeaturesReply(ulong DatapathId, uint Buffers, byte Tables, byte AuxiliaryId, uint Capabilities, uint Reserved = 0)
{
    public const int Size = 32;
    private const int DatapathIdOffset = 8;
    private const int BuffersOffset = 16;
    private const int TablesOffset = 20;
    private const int AuxiliaryIdOffset = 21;
    private const int CapabilitiesOffset = 24;
    private const int ReservedOffset = 28;

    public static bool TryParse(OfMessage message, out Of13FeaturesReply reply)
    {
        reply = default;
        if (message.Version != OfVersion.OpenFlow13 || message.Type != OfType.FeaturesReply || message.Length != Size)
        {
            return false;
        }
        var b = message.Bytes;
        reply = new Of13FeaturesReply(BinaryPrimitives.ReadUInt64BigEndian(b[DatapathIdOffset..]), BinaryPrimitives.ReadUInt32BigEndian(b[BuffersOffset..]), b[TablesOffset],
            b[AuxiliaryIdOffset], BinaryPrimitives.ReadUInt32BigEndian(b[CapabilitiesOffset..]), BinaryPrimitives.ReadUInt32BigEndian(b[ReservedOffset..]));
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (!OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow13, OfType.FeaturesReply, Size, xid) || destination.Length < Size)
        {
            return false;
        }
        destination[8..Size].Clear();
        BinaryPrimitives.WriteUInt64BigEndian(destination[DatapathIdOffset..], DatapathId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[BuffersOffset..], Buffers);
        destination[TablesOffset] = Tables;
        destination[AuxiliaryIdOffset] = AuxiliaryId;
        BinaryPrimitives.WriteUInt32BigEndian(destination[CapabilitiesOffset..], Capabilities);
        BinaryPrimitives.WriteUInt32BigEndian(destination[ReservedOffset..], Reserved);
        written = Size;
        return true;
    }
}

/// <summary>packet_in of OpenFlow 1.3: buffer id, total length, reason, table, cookie, the match (in_port and more as OXM), 2 bytes of padding, the frame.</summary>
public readonly ref struct Of13PacketIn
{
    private const int BufferIdOffset = 8;
    private const int TotalLengthOffset = 12;
    private const int ReasonOffset = 14;
    private const int TableIdOffset = 15;
    private const int CookieOffset = 16;
    private const int MatchOffset = 24;
    private const int DataPadding = 2;

    public uint BufferId { get; init; }

    public ushort TotalLength { get; init; }

    /// <summary>0: no matching flow (table-miss), 1: an output-to-controller action, 2: invalid TTL.</summary>
    public byte Reason { get; init; }

    public byte TableId { get; init; }

    public ulong Cookie { get; init; }

    public Of13Match Match { get; init; }

    public ReadOnlySpan<byte> Data { get; init; }

    public int Length => MatchOffset + Match.PaddedLength + DataPadding + Data.Length;

    public uint InPort => Match.InPort;

    public static bool TryParse(OfMessage message, out Of13PacketIn packetIn)
    {
        packetIn = default;
        if (message.Version != OfVersion.OpenFlow13 || message.Type != OfType.PacketIn || message.Length < MatchOffset + Of13Match.HeaderLength)
        {
            return false;
        }
        var b = message.Bytes;
        if (!Of13Match.TryRead(b[MatchOffset..], out var match, out var matchLength) || MatchOffset + matchLength + DataPadding > b.Length)
        {
            return false;
        }
        packetIn = new Of13PacketIn
        {
            BufferId = BinaryPrimitives.ReadUInt32BigEndian(b[BufferIdOffset..]),
            TotalLength = BinaryPrimitives.ReadUInt16BigEndian(b[TotalLengthOffset..]),
            Reason = b[ReasonOffset],
            TableId = b[TableIdOffset],
            Cookie = BinaryPrimitives.ReadUInt64BigEndian(b[CookieOffset..]),
            Match = match,
            Data = b[(MatchOffset + matchLength + DataPadding)..],
        };
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Length || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow13, OfType.PacketIn, Length, xid))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt32BigEndian(destination[BufferIdOffset..], BufferId);
        BinaryPrimitives.WriteUInt16BigEndian(destination[TotalLengthOffset..], TotalLength);
        destination[ReasonOffset] = Reason;
        destination[TableIdOffset] = TableId;
        BinaryPrimitives.WriteUInt64BigEndian(destination[CookieOffset..], Cookie);
        Match.TryWrite(destination[MatchOffset..], out var m);
        destination.Slice(MatchOffset + m, DataPadding).Clear();
        Data.CopyTo(destination[(MatchOffset + m + DataPadding)..]);
        written = Length;
        return true;
    }
}

/// <summary>packet_out of OpenFlow 1.3 (24 bytes, then the actions, then the frame when not buffered).</summary>
public readonly ref struct Of13PacketOut
{
    public const int Size = 24;
    private const int BufferIdOffset = 8;
    private const int InPortOffset = 12;
    private const int ActionsLengthOffset = 16;

    public uint BufferId { get; init; }

    public uint InPort { get; init; }

    public ReadOnlySpan<byte> Actions { get; init; }

    public ReadOnlySpan<byte> Data { get; init; }

    public int Length => Size + Actions.Length + Data.Length;

    public static bool TryParse(OfMessage message, out Of13PacketOut packetOut)
    {
        packetOut = default;
        if (message.Version != OfVersion.OpenFlow13 || message.Type != OfType.PacketOut || message.Length < Size)
        {
            return false;
        }
        var b = message.Bytes;
        int actionsLength = BinaryPrimitives.ReadUInt16BigEndian(b[ActionsLengthOffset..]);
        if (actionsLength > message.Length - Size)
        {
            return false;
        }
        packetOut = new Of13PacketOut
        {
            BufferId = BinaryPrimitives.ReadUInt32BigEndian(b[BufferIdOffset..]),
            InPort = BinaryPrimitives.ReadUInt32BigEndian(b[InPortOffset..]),
            Actions = b.Slice(Size, actionsLength),
            Data = b[(Size + actionsLength)..],
        };
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Length || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow13, OfType.PacketOut, Length, xid))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt32BigEndian(destination[BufferIdOffset..], BufferId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[InPortOffset..], InPort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[ActionsLengthOffset..], (ushort)Actions.Length);
        destination[(ActionsLengthOffset + 2)..Size].Clear();
        Actions.CopyTo(destination[Size..]);
        Data.CopyTo(destination[(Size + Actions.Length)..]);
        written = Length;
        return true;
    }
}

/// <summary>OpenFlow 1.3 flow_mod commands (a byte; 1.0's are the same numbers in 16 bits).</summary>
public static class Of13FlowModFlags
{
    public const ushort SendFlowRemoved = 1 << 0;
    public const ushort CheckOverlap = 1 << 1;
    public const ushort ResetCounts = 1 << 2;
    public const ushort NoPacketCounts = 1 << 3;
    public const ushort NoByteCounts = 1 << 4;
}

/// <summary>flow_mod of OpenFlow 1.3: 48 bytes of fields, the match (padded to 8), the instructions.</summary>
public readonly ref struct Of13FlowMod
{
    private const int CookieOffset = 8;
    private const int CookieMaskOffset = 16;
    private const int TableIdOffset = 24;
    private const int CommandOffset = 25;
    private const int IdleTimeoutOffset = 26;
    private const int HardTimeoutOffset = 28;
    private const int PriorityOffset = 30;
    private const int BufferIdOffset = 32;
    private const int OutPortOffset = 36;
    private const int OutGroupOffset = 40;
    private const int FlagsOffset = 44;
    private const int MatchOffset = 48;

    public ulong Cookie { get; init; }

    public ulong CookieMask { get; init; }

    public byte TableId { get; init; }

    public OfFlowModCommand Command { get; init; }

    public ushort IdleTimeout { get; init; }

    public ushort HardTimeout { get; init; }

    public ushort Priority { get; init; }

    public uint BufferId { get; init; }

    /// <summary>For delete: only flows that output to this port (<see cref="Of13Port.Any"/>: any).</summary>
    public uint OutPort { get; init; }

    /// <summary>For delete: only flows that output to this group (<see cref="Of13Group.Any"/>: any).</summary>
    public uint OutGroup { get; init; }

    public ushort Flags { get; init; }

    public Of13Match Match { get; init; }

    /// <summary>The instruction list in wire format (see <see cref="Of13Instruction"/>).</summary>
    public ReadOnlySpan<byte> Instructions { get; init; }

    public int Length => MatchOffset + Match.PaddedLength + Instructions.Length;

    public static bool TryParse(OfMessage message, out Of13FlowMod flowMod)
    {
        flowMod = default;
        if (message.Version != OfVersion.OpenFlow13 || message.Type != OfType.FlowMod || message.Length < MatchOffset + Of13Match.HeaderLength)
        {
            return false;
        }
        var b = message.Bytes;
        if (!Of13Match.TryRead(b[MatchOffset..], out var match, out var matchLength))
        {
            return false;
        }
        flowMod = new Of13FlowMod
        {
            Cookie = BinaryPrimitives.ReadUInt64BigEndian(b[CookieOffset..]),
            CookieMask = BinaryPrimitives.ReadUInt64BigEndian(b[CookieMaskOffset..]),
            TableId = b[TableIdOffset],
            Command = (OfFlowModCommand)b[CommandOffset],
            IdleTimeout = BinaryPrimitives.ReadUInt16BigEndian(b[IdleTimeoutOffset..]),
            HardTimeout = BinaryPrimitives.ReadUInt16BigEndian(b[HardTimeoutOffset..]),
            Priority = BinaryPrimitives.ReadUInt16BigEndian(b[PriorityOffset..]),
            BufferId = BinaryPrimitives.ReadUInt32BigEndian(b[BufferIdOffset..]),
            OutPort = BinaryPrimitives.ReadUInt32BigEndian(b[OutPortOffset..]),
            OutGroup = BinaryPrimitives.ReadUInt32BigEndian(b[OutGroupOffset..]),
            Flags = BinaryPrimitives.ReadUInt16BigEndian(b[FlagsOffset..]),
            Match = match,
            Instructions = b[(MatchOffset + matchLength)..],
        };
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Length || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow13, OfType.FlowMod, Length, xid))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt64BigEndian(destination[CookieOffset..], Cookie);
        BinaryPrimitives.WriteUInt64BigEndian(destination[CookieMaskOffset..], CookieMask);
        destination[TableIdOffset] = TableId;
        destination[CommandOffset] = (byte)Command;
        BinaryPrimitives.WriteUInt16BigEndian(destination[IdleTimeoutOffset..], IdleTimeout);
        BinaryPrimitives.WriteUInt16BigEndian(destination[HardTimeoutOffset..], HardTimeout);
        BinaryPrimitives.WriteUInt16BigEndian(destination[PriorityOffset..], Priority);
        BinaryPrimitives.WriteUInt32BigEndian(destination[BufferIdOffset..], BufferId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[OutPortOffset..], OutPort);
        BinaryPrimitives.WriteUInt32BigEndian(destination[OutGroupOffset..], OutGroup);
        BinaryPrimitives.WriteUInt16BigEndian(destination[FlagsOffset..], Flags);
        destination[(FlagsOffset + 2)..MatchOffset].Clear();
        Match.TryWrite(destination[MatchOffset..], out var m);
        Instructions.CopyTo(destination[(MatchOffset + m)..]);
        written = Length;
        return true;
    }
}

/// <summary>flow_removed of OpenFlow 1.3 (48 bytes of fields, then the match).</summary>
public readonly ref struct Of13FlowRemoved
{
    private const int CookieOffset = 8;
    private const int PriorityOffset = 16;
    private const int ReasonOffset = 18;
    private const int TableIdOffset = 19;
    private const int DurationSecondsOffset = 20;
    private const int DurationNanosecondsOffset = 24;
    private const int IdleTimeoutOffset = 28;
    private const int HardTimeoutOffset = 30;
    private const int PacketCountOffset = 32;
    private const int ByteCountOffset = 40;
    private const int MatchOffset = 48;

    public ulong Cookie { get; init; }

    public ushort Priority { get; init; }

    /// <summary>0 idle timeout, 1 hard timeout, 2 delete, 3 group delete.</summary>
    public byte Reason { get; init; }

    public byte TableId { get; init; }

    public uint DurationSeconds { get; init; }

    public uint DurationNanoseconds { get; init; }

    public ushort IdleTimeout { get; init; }

    public ushort HardTimeout { get; init; }

    public ulong PacketCount { get; init; }

    public ulong ByteCount { get; init; }

    public Of13Match Match { get; init; }

    public int Length => MatchOffset + Match.PaddedLength;

    public static bool TryParse(OfMessage message, out Of13FlowRemoved removed)
    {
        removed = default;
        if (message.Version != OfVersion.OpenFlow13 || message.Type != OfType.FlowRemoved || message.Length < MatchOffset + Of13Match.HeaderLength)
        {
            return false;
        }
        var b = message.Bytes;
        if (!Of13Match.TryRead(b[MatchOffset..], out var match, out var matchLength) || MatchOffset + matchLength != b.Length)
        {
            return false;
        }
        removed = new Of13FlowRemoved
        {
            Cookie = BinaryPrimitives.ReadUInt64BigEndian(b[CookieOffset..]),
            Priority = BinaryPrimitives.ReadUInt16BigEndian(b[PriorityOffset..]),
            Reason = b[ReasonOffset],
            TableId = b[TableIdOffset],
            DurationSeconds = BinaryPrimitives.ReadUInt32BigEndian(b[DurationSecondsOffset..]),
            DurationNanoseconds = BinaryPrimitives.ReadUInt32BigEndian(b[DurationNanosecondsOffset..]),
            IdleTimeout = BinaryPrimitives.ReadUInt16BigEndian(b[IdleTimeoutOffset..]),
            HardTimeout = BinaryPrimitives.ReadUInt16BigEndian(b[HardTimeoutOffset..]),
            PacketCount = BinaryPrimitives.ReadUInt64BigEndian(b[PacketCountOffset..]),
            ByteCount = BinaryPrimitives.ReadUInt64BigEndian(b[ByteCountOffset..]),
            Match = match,
        };
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Length || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow13, OfType.FlowRemoved, Length, xid))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt64BigEndian(destination[CookieOffset..], Cookie);
        BinaryPrimitives.WriteUInt16BigEndian(destination[PriorityOffset..], Priority);
        destination[ReasonOffset] = Reason;
        destination[TableIdOffset] = TableId;
        BinaryPrimitives.WriteUInt32BigEndian(destination[DurationSecondsOffset..], DurationSeconds);
        BinaryPrimitives.WriteUInt32BigEndian(destination[DurationNanosecondsOffset..], DurationNanoseconds);
        BinaryPrimitives.WriteUInt16BigEndian(destination[IdleTimeoutOffset..], IdleTimeout);
        BinaryPrimitives.WriteUInt16BigEndian(destination[HardTimeoutOffset..], HardTimeout);
        BinaryPrimitives.WriteUInt64BigEndian(destination[PacketCountOffset..], PacketCount);
        BinaryPrimitives.WriteUInt64BigEndian(destination[ByteCountOffset..], ByteCount);
        Match.TryWrite(destination[MatchOffset..], out _);
        written = Length;
        return true;
    }
}

/// <summary>A port of OpenFlow 1.3 (ofp_port, 64 bytes: 32-bit number, speeds in kb/s).</summary>
public readonly record struct Of13PortDescription(uint PortNumber, ulong HardwareAddress, string Name, uint Config, uint State, uint Current = 0, uint Advertised = 0,
    uint Supported = 0, uint Peer = 0, uint CurrentSpeed = 0, uint MaxSpeed = 0)
{
    public const int Size = 64;
    private const int HardwareAddressOffset = 8;
    private const int NameOffset = 16;
    private const int ConfigOffset = 32;

    public bool IsDown => (Config & OfPortConfig.PortDown) != 0 || (State & OfPortState.LinkDown) != 0;

    public static bool TryRead(ReadOnlySpan<byte> bytes, out Of13PortDescription port)
    {
        port = default;
        if (bytes.Length < Size)
        {
            return false;
        }
        port = new Of13PortDescription(U(bytes, 0), OfMatch.ReadMac(bytes[HardwareAddressOffset..]), OfPhysicalPort.ReadString(bytes.Slice(NameOffset, OfPhysicalPort.NameLength)),
            U(bytes, ConfigOffset), U(bytes, ConfigOffset + 4), U(bytes, ConfigOffset + 8), U(bytes, ConfigOffset + 12), U(bytes, ConfigOffset + 16), U(bytes, ConfigOffset + 20),
            U(bytes, ConfigOffset + 24), U(bytes, ConfigOffset + 28));
        return true;
    }

    private static uint U(ReadOnlySpan<byte> bytes, int offset) => BinaryPrimitives.ReadUInt32BigEndian(bytes[offset..]);

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }
        var d = destination[..Size];
        d.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(d, PortNumber);
        OfMatch.WriteMac(d[HardwareAddressOffset..], HardwareAddress);
        OfPhysicalPort.WriteString(d.Slice(NameOffset, OfPhysicalPort.NameLength), Name);
        ReadOnlySpan<uint> values = [Config, State, Current, Advertised, Supported, Peer, CurrentSpeed, MaxSpeed];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(d[(ConfigOffset + 4 * i)..], values[i]);
        }
        written = Size;
        return true;
    }
}

/// <summary>port_status of OpenFlow 1.3 (80 bytes: reason, 7 bytes of padding, the port).</summary>
public readonly record struct Of13PortStatus(OfPortReason Reason, Of13PortDescription Port)
{
    public const int Size = 80;
    private const int PortOffset = 16;

    public static bool TryParse(OfMessage message, out Of13PortStatus status)
    {
        status = default;
        if (message.Version != OfVersion.OpenFlow13 || message.Type != OfType.PortStatus || message.Length != Size || !Of13PortDescription.TryRead(message.Bytes[PortOffset..], out var port))
        {
            return false;
        }
        status = new Of13PortStatus((OfPortReason)message.Bytes[8], port);
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Size || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow13, OfType.PortStatus, Size, xid))
        {
            return false;
        }
        destination[8..PortOffset].Clear();
        destination[8] = (byte)Reason;
        Port.TryWrite(destination[PortOffset..], out _);
        written = Size;
        return true;
    }
}

/// <summary>OpenFlow 1.3 multipart types (ofp_multipart_type).</summary>
public enum Of13MultipartType : ushort
{
    Description = 0,
    Flow = 1,
    Aggregate = 2,
    Table = 3,
    PortStats = 4,
    Queue = 5,
    Group = 6,
    GroupDescription = 7,
    GroupFeatures = 8,
    Meter = 9,
    MeterConfig = 10,
    MeterFeatures = 11,
    TableFeatures = 12,
    PortDescription = 13,
    Experimenter = 0xffff,
}

/// <summary>multipart_request / multipart_reply of OpenFlow 1.3 (16 bytes: type, flags, 4 bytes of padding; then the body).</summary>
public readonly ref struct Of13Multipart
{
    public const int Size = 16;
    public const ushort FlagMore = 1;
    private const int TypeOffset = 8;
    private const int FlagsOffset = 10;

    public Of13Multipart(bool reply, Of13MultipartType multipartType, ushort flags, ReadOnlySpan<byte> body)
    {
        Reply = reply;
        MultipartType = multipartType;
        Flags = flags;
        Body = body;
    }

    public bool Reply { get; }

    public Of13MultipartType MultipartType { get; }

    public ushort Flags { get; }

    public ReadOnlySpan<byte> Body { get; }

    public int Length => Size + Body.Length;

    public static bool TryParse(OfMessage message, out Of13Multipart multipart)
    {
        multipart = default;
        var type = (Of13Type)message.Type;
        if (message.Version != OfVersion.OpenFlow13 || type is not (Of13Type.MultipartRequest or Of13Type.MultipartReply) || message.Length < Size)
        {
            return false;
        }
        var b = message.Bytes;
        multipart = new Of13Multipart(type == Of13Type.MultipartReply, (Of13MultipartType)BinaryPrimitives.ReadUInt16BigEndian(b[TypeOffset..]), BinaryPrimitives.ReadUInt16BigEndian(b[FlagsOffset..]), b[Size..]);
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        var type = (OfType)(Reply ? Of13Type.MultipartReply : Of13Type.MultipartRequest);
        if (destination.Length < Length || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow13, type, Length, xid))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(destination[TypeOffset..], (ushort)MultipartType);
        BinaryPrimitives.WriteUInt16BigEndian(destination[FlagsOffset..], Flags);
        destination[(FlagsOffset + 2)..Size].Clear();
        Body.CopyTo(destination[Size..]);
        written = Length;
        return true;
    }
}

/// <summary>The body of a 1.3 flow (and aggregate) multipart request: table, out port and group, cookie and mask, the match.</summary>
public readonly ref struct Of13FlowStatsRequest
{
    private const int MatchOffset = 32;

    public byte TableId { get; init; }

    public uint OutPort { get; init; }

    public uint OutGroup { get; init; }

    public ulong Cookie { get; init; }

    public ulong CookieMask { get; init; }

    public Of13Match Match { get; init; }

    public int Length => MatchOffset + Match.PaddedLength;

    public static bool TryRead(ReadOnlySpan<byte> body, out Of13FlowStatsRequest request)
    {
        request = default;
        if (body.Length < MatchOffset + Of13Match.HeaderLength || !Of13Match.TryRead(body[MatchOffset..], out var match, out var consumed) || MatchOffset + consumed != body.Length)
        {
            return false;
        }
        request = new Of13FlowStatsRequest
        {
            TableId = body[0],
            OutPort = BinaryPrimitives.ReadUInt32BigEndian(body[4..]),
            OutGroup = BinaryPrimitives.ReadUInt32BigEndian(body[8..]),
            Cookie = BinaryPrimitives.ReadUInt64BigEndian(body[16..]),
            CookieMask = BinaryPrimitives.ReadUInt64BigEndian(body[24..]),
            Match = match,
        };
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Length)
        {
            return false;
        }
        destination[..MatchOffset].Clear();
        destination[0] = TableId;
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], OutPort);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], OutGroup);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], Cookie);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], CookieMask);
        Match.TryWrite(destination[MatchOffset..], out _);
        written = Length;
        return true;
    }
}

/// <summary>One entry of a 1.3 flow multipart reply (ofp_flow_stats): 48 bytes of fields, the match, the instructions.</summary>
public readonly ref struct Of13FlowStats
{
    private const int MatchOffset = 48;

    public byte TableId { get; init; }

    public uint DurationSeconds { get; init; }

    public uint DurationNanoseconds { get; init; }

    public ushort Priority { get; init; }

    public ushort IdleTimeout { get; init; }

    public ushort HardTimeout { get; init; }

    public ushort Flags { get; init; }

    public ulong Cookie { get; init; }

    public ulong PacketCount { get; init; }

    public ulong ByteCount { get; init; }

    public Of13Match Match { get; init; }

    public ReadOnlySpan<byte> Instructions { get; init; }

    public int Length => MatchOffset + Match.PaddedLength + Instructions.Length;

    public static bool TryRead(ReadOnlySpan<byte> bytes, out Of13FlowStats stats, out int consumed)
    {
        stats = default;
        consumed = 0;
        if (bytes.Length < MatchOffset + Of13Match.HeaderLength)
        {
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes);
        if (length < MatchOffset + Of13Match.HeaderLength || length > bytes.Length || !Of13Match.TryRead(bytes[MatchOffset..length], out var match, out var matchLength))
        {
            return false;
        }
        var b = bytes[..length];
        stats = new Of13FlowStats
        {
            TableId = b[2],
            DurationSeconds = BinaryPrimitives.ReadUInt32BigEndian(b[4..]),
            DurationNanoseconds = BinaryPrimitives.ReadUInt32BigEndian(b[8..]),
            Priority = BinaryPrimitives.ReadUInt16BigEndian(b[12..]),
            IdleTimeout = BinaryPrimitives.ReadUInt16BigEndian(b[14..]),
            HardTimeout = BinaryPrimitives.ReadUInt16BigEndian(b[16..]),
            Flags = BinaryPrimitives.ReadUInt16BigEndian(b[18..]),
            Cookie = BinaryPrimitives.ReadUInt64BigEndian(b[24..]),
            PacketCount = BinaryPrimitives.ReadUInt64BigEndian(b[32..]),
            ByteCount = BinaryPrimitives.ReadUInt64BigEndian(b[40..]),
            Match = match,
            Instructions = b[(MatchOffset + matchLength)..],
        };
        consumed = length;
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        var length = Length;
        if (destination.Length < length || length > ushort.MaxValue)
        {
            return false;
        }
        var d = destination[..length];
        d[..MatchOffset].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(d, (ushort)length);
        d[2] = TableId;
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], DurationSeconds);
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], DurationNanoseconds);
        BinaryPrimitives.WriteUInt16BigEndian(d[12..], Priority);
        BinaryPrimitives.WriteUInt16BigEndian(d[14..], IdleTimeout);
        BinaryPrimitives.WriteUInt16BigEndian(d[16..], HardTimeout);
        BinaryPrimitives.WriteUInt16BigEndian(d[18..], Flags);
        BinaryPrimitives.WriteUInt64BigEndian(d[24..], Cookie);
        BinaryPrimitives.WriteUInt64BigEndian(d[32..], PacketCount);
        BinaryPrimitives.WriteUInt64BigEndian(d[40..], ByteCount);
        Match.TryWrite(d[MatchOffset..], out var m);
        Instructions.CopyTo(d[(MatchOffset + m)..]);
        written = length;
        return true;
    }
}

/// <summary>port_mod of OpenFlow 1.3 (40 bytes: port, hardware address, config and its mask, advertise).</summary>
public readonly record struct Of13PortMod(uint PortNumber, ulong HardwareAddress, uint Config, uint Mask, uint Advertise)
{
    public const int Size = 40;

    public static bool TryParse(OfMessage message, out Of13PortMod portMod)
    {
        portMod = default;
        if (message.Version != OfVersion.OpenFlow13 || (Of13Type)message.Type != Of13Type.PortMod || message.Length != Size)
        {
            return false;
        }
        var b = message.Bytes;
        portMod = new Of13PortMod(BinaryPrimitives.ReadUInt32BigEndian(b[8..]), OfMatch.ReadMac(b[16..]), BinaryPrimitives.ReadUInt32BigEndian(b[24..]),
            BinaryPrimitives.ReadUInt32BigEndian(b[28..]), BinaryPrimitives.ReadUInt32BigEndian(b[32..]));
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Size || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow13, (OfType)Of13Type.PortMod, Size, xid))
        {
            return false;
        }
        destination[8..Size].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], PortNumber);
        OfMatch.WriteMac(destination[16..], HardwareAddress);
        BinaryPrimitives.WriteUInt32BigEndian(destination[24..], Config);
        BinaryPrimitives.WriteUInt32BigEndian(destination[28..], Mask);
        BinaryPrimitives.WriteUInt32BigEndian(destination[32..], Advertise);
        written = Size;
        return true;
    }
}
