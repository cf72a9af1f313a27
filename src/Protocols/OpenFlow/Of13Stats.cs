using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>ofp_error_type values of OpenFlow 1.3 past BAD_ACTION (1.0's numbers differ from here on) and the codes the switch reports.</summary>
public static class Of13Error
{
    public const ushort BadInstruction = 3;
    public const ushort BadMatch = 4;
    public const ushort FlowModFailed = 5;
    public const ushort GroupModFailed = 6;
    public const ushort PortModFailed = 7;
    public const ushort TableModFailed = 8;
    public const ushort MeterModFailed = 12;
    public const ushort TableFeaturesFailed = 13;
    public const ushort TableFeaturesPermission = 5;

    public const ushort BadRequestExperimenter = 3;
    public const ushort BadRequestMultipart = 2;
    public const ushort BadRequestBadPort = 11;

    public const ushort BadActionOutGroup = 9;
    public const ushort BadActionSetType = 13;
    public const ushort BadActionSetArgument = 15;

    public const ushort BadMatchField = 6;
    public const ushort BadMatchMask = 8;
    public const ushort BadMatchPrerequisite = 9;
    public const ushort BadMatchDuplicateField = 10;

    public const ushort FlowModTableFull = 1;
    public const ushort FlowModBadTableId = 2;
    public const ushort FlowModOverlap = 3;
    public const ushort FlowModBadCommand = 6;

    public const ushort GroupModInvalidGroup = 1;
    public const ushort GroupModOutOfGroups = 3;
    public const ushort GroupModUnknownGroup = 8;
    public const ushort GroupModBadCommand = 11;

    public const ushort PortModBadPort = 0;
    public const ushort PortModBadHardwareAddress = 1;

    public const ushort TableModBadTable = 0;
}

/// <summary>ofp_capabilities of OpenFlow 1.3 (bit 3 is group stats, bit 8 port blocked).</summary>
public static class Of13Capabilities
{
    public const uint FlowStats = 1 << 0;
    public const uint TableStats = 1 << 1;
    public const uint PortStats = 1 << 2;
    public const uint GroupStats = 1 << 3;
}

/// <summary>One table of a 1.3 table multipart reply (ofp_table_stats, 24 bytes).</summary>
public readonly record struct Of13TableStats(byte TableId, uint ActiveCount, ulong LookupCount, ulong MatchedCount)
{
    public const int Size = 24;

    public static bool TryRead(ReadOnlySpan<byte> body, out Of13TableStats stats)
    {
        stats = default;
        if (body.Length < Size)
        {
            return false;
        }
        stats = new Of13TableStats(body[0], BinaryPrimitives.ReadUInt32BigEndian(body[4..]), BinaryPrimitives.ReadUInt64BigEndian(body[8..]), BinaryPrimitives.ReadUInt64BigEndian(body[16..]));
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
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], ActiveCount);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], LookupCount);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], MatchedCount);
        written = Size;
        return true;
    }
}

/// <summary>
/// One port of a 1.3 port multipart reply (ofp_port_stats, 112 bytes: a 32-bit port number, the twelve counters of 1.0,
/// the duration). The counters are those of <see cref="OfPortStats"/>; the port request body is the port and 4 bytes of padding.
/// </summary>
public readonly record struct Of13PortStats(uint PortNumber, OfPortStats Counters, uint DurationSeconds, uint DurationNanoseconds)
{
    public const int Size = 112;
    public const int RequestSize = 8;
    private const int CountersOffset = 8;
    private const int DurationOffset = 104;

    /// <summary>The port a port multipart request asks for (<see cref="Of13Port.Any"/>: all).</summary>
    public static bool TryReadRequest(ReadOnlySpan<byte> body, out uint port)
    {
        port = 0;
        if (body.Length != RequestSize)
        {
            return false;
        }
        port = BinaryPrimitives.ReadUInt32BigEndian(body);
        return true;
    }

    public static bool TryRead(ReadOnlySpan<byte> body, out Of13PortStats stats)
    {
        stats = default;
        if (body.Length < Size)
        {
            return false;
        }
        // OfPortStats reads a 1.0 entry: the 16-bit port and 6 bytes of padding, then the counters at the same offset.
        OfPortStats.TryRead(body, out var counters);
        counters.PortNumber = 0;
        stats = new Of13PortStats(BinaryPrimitives.ReadUInt32BigEndian(body), counters, BinaryPrimitives.ReadUInt32BigEndian(body[DurationOffset..]), BinaryPrimitives.ReadUInt32BigEndian(body[(DurationOffset + 4)..]));
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }
        var counters = Counters;
        counters.PortNumber = 0;
        counters.TryWrite(destination, out _);
        BinaryPrimitives.WriteUInt32BigEndian(destination, PortNumber);
        BinaryPrimitives.WriteUInt32BigEndian(destination[DurationOffset..], DurationSeconds);
        BinaryPrimitives.WriteUInt32BigEndian(destination[(DurationOffset + 4)..], DurationNanoseconds);
        written = Size;
        return true;
    }
}

/// <summary>role_request / role_reply of OpenFlow 1.3 (24 bytes: role, 4 bytes of padding, generation id).</summary>
public readonly record struct Of13Role(uint Role, ulong GenerationId)
{
    public const int Size = 24;
    public const uint NoChange = 0;
    public const uint Equal = 1;
    public const uint Master = 2;
    public const uint Slave = 3;

    public static bool TryParse(OfMessage message, out Of13Role role)
    {
        role = default;
        if (message.Version != OfVersion.OpenFlow13 || (Of13Type)message.Type is not (Of13Type.RoleRequest or Of13Type.RoleReply) || message.Length != Size)
        {
            return false;
        }
        role = new Of13Role(BinaryPrimitives.ReadUInt32BigEndian(message.Bytes[8..]), BinaryPrimitives.ReadUInt64BigEndian(message.Bytes[16..]));
        return true;
    }

    public bool TryWrite(Span<byte> destination, Of13Type type, uint xid, out int written)
    {
        written = 0;
        if (type is not (Of13Type.RoleRequest or Of13Type.RoleReply) || destination.Length < Size || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow13, (OfType)type, Size, xid))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Role);
        destination[12..16].Clear();
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], GenerationId);
        written = Size;
        return true;
    }
}

/// <summary>
/// One table of a 1.3 table-features multipart reply (ofp_table_features: 64 bytes of fields, then properties, each a
/// type, a length and a list of 4-byte items padded to 8): the instructions, next tables, actions and OXM fields a table takes.
/// </summary>
public static class Of13TableFeatures
{
    public const int HeaderSize = 64;
    private const int NameLength = 32;

    public const ushort Instructions = 0;
    public const ushort InstructionsMiss = 1;
    public const ushort NextTables = 2;
    public const ushort NextTablesMiss = 3;
    public const ushort WriteActions = 4;
    public const ushort WriteActionsMiss = 5;
    public const ushort ApplyActions = 6;
    public const ushort ApplyActionsMiss = 7;
    public const ushort Match = 8;
    public const ushort Wildcards = 10;
    public const ushort WriteSetField = 12;
    public const ushort WriteSetFieldMiss = 13;
    public const ushort ApplySetField = 14;
    public const ushort ApplySetFieldMiss = 15;

    /// <summary>The OXM header of an OpenFlow-basic field (class, field, has-mask, payload length) as table features list it.</summary>
    public static uint OxmHeader(OxmField field, bool masked)
    {
        var length = Oxm.PayloadLength(field) * (masked ? 2 : 1);
        return (uint)Oxm.OpenFlowBasic << 16 | (uint)field << 9 | (masked ? 1u << 8 : 0) | (uint)length;
    }

    /// <summary>Writes the fixed part; properties follow (see <see cref="TryWriteProperty"/>), then <see cref="Finish"/> sets the length.</summary>
    public static bool TryWriteHeader(Span<byte> destination, byte tableId, string name, ulong metadataMatch, ulong metadataWrite, uint maxEntries)
    {
        if (destination.Length < HeaderSize)
        {
            return false;
        }
        destination[..HeaderSize].Clear();
        destination[2] = tableId;
        OfPhysicalPort.WriteString(destination.Slice(8, NameLength), name);
        BinaryPrimitives.WriteUInt64BigEndian(destination[40..], metadataMatch);
        BinaryPrimitives.WriteUInt64BigEndian(destination[48..], metadataWrite);
        BinaryPrimitives.WriteUInt32BigEndian(destination[60..], maxEntries);
        return true;
    }

    /// <summary>
    /// A property whose items are 4-byte words (instruction and action headers: type and length 4; OXM headers) or,
    /// for next tables, bytes (<paramref name="byteItems"/>). Returns the bytes written with padding, or 0 when it does not fit.
    /// </summary>
    public static int TryWriteProperty(Span<byte> destination, ushort type, ReadOnlySpan<uint> items, bool byteItems = false)
    {
        var length = 4 + items.Length * (byteItems ? 1 : 4);
        var padded = (length + 7) / 8 * 8;
        if (destination.Length < padded)
        {
            return 0;
        }
        destination[..padded].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(destination, type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)length);
        for (var i = 0; i < items.Length; i++)
        {
            if (byteItems)
            {
                destination[4 + i] = (byte)items[i];
            }
            else
            {
                BinaryPrimitives.WriteUInt32BigEndian(destination[(4 + 4 * i)..], items[i]);
            }
        }
        return padded;
    }

    public static void Finish(Span<byte> entry) => BinaryPrimitives.WriteUInt16BigEndian(entry, (ushort)entry.Length);
}
