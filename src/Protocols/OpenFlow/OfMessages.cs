using System;
using System.Buffers.Binary;
using System.Text;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>A physical port description (ofp_phy_port, 48 bytes).</summary>
public readonly record struct OfPhysicalPort(ushort PortNumber, ulong HardwareAddress, string Name, uint Config, uint State, uint Current = 0, uint Advertised = 0, uint Supported = 0, uint Peer = 0)
{
    public const int Size = 48;
    public const int NameLength = 16;
    private const int PortNumberOffset = 0;
    private const int HardwareAddressOffset = 2;
    private const int NameOffset = 8;
    private const int ConfigOffset = 24;
    private const int StateOffset = 28;
    private const int CurrentOffset = 32;
    private const int AdvertisedOffset = 36;
    private const int SupportedOffset = 40;
    private const int PeerOffset = 44;

    /// <summary>True when the port cannot carry traffic (administratively or link down).</summary>
    public bool IsDown => (Config & OfPortConfig.PortDown) != 0 || (State & OfPortState.LinkDown) != 0;

    /// <summary>Reads one port (allocates its name: port descriptions are control-path only).</summary>
    public static bool TryRead(ReadOnlySpan<byte> bytes, out OfPhysicalPort port)
    {
        port = default;
        if (bytes.Length < Size)
        {
            return false;
        }
        var name = bytes.Slice(NameOffset, NameLength);
        var end = name.IndexOf((byte)0);
        port = new OfPhysicalPort(
            BinaryPrimitives.ReadUInt16BigEndian(bytes[PortNumberOffset..]),
            OfMatch.ReadMac(bytes[HardwareAddressOffset..]),
            Encoding.ASCII.GetString(end < 0 ? name : name[..end]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[ConfigOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[StateOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[CurrentOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[AdvertisedOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[SupportedOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[PeerOffset..]));
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
        BinaryPrimitives.WriteUInt16BigEndian(destination[PortNumberOffset..], PortNumber);
        OfMatch.WriteMac(destination[HardwareAddressOffset..], HardwareAddress);
        WriteString(destination.Slice(NameOffset, NameLength), Name);
        BinaryPrimitives.WriteUInt32BigEndian(destination[ConfigOffset..], Config);
        BinaryPrimitives.WriteUInt32BigEndian(destination[StateOffset..], State);
        BinaryPrimitives.WriteUInt32BigEndian(destination[CurrentOffset..], Current);
        BinaryPrimitives.WriteUInt32BigEndian(destination[AdvertisedOffset..], Advertised);
        BinaryPrimitives.WriteUInt32BigEndian(destination[SupportedOffset..], Supported);
        BinaryPrimitives.WriteUInt32BigEndian(destination[PeerOffset..], Peer);
        written = Size;
        return true;
    }

    /// <summary>Writes ASCII, NUL-padded, always leaving a terminating NUL (names longer than the field are cut).</summary>
    internal static void WriteString(Span<byte> field, string? text)
    {
        field.Clear();
        if (string.IsNullOrEmpty(text))
        {
            return;
        }
        var length = Math.Min(text.Length, field.Length - 1);
        for (var i = 0; i < length; i++)
        {
            field[i] = text[i] < 0x80 ? (byte)text[i] : (byte)'?';
        }
    }

    internal static string ReadString(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? field : field[..end]);
    }
}

/// <summary>features_reply (ofp_switch_features): the datapath and its ports.</summary>
public readonly ref struct OfFeaturesReply
{
    public const int Size = 32;
    private const int DatapathIdOffset = 8;
    private const int BuffersOffset = 16;
    private const int TablesOffset = 20;
    private const int CapabilitiesOffset = 24;
    private const int ActionsOffset = 28;

    public ulong DatapathId { get; init; }

    public uint Buffers { get; init; }

    public byte Tables { get; init; }

    public uint Capabilities { get; init; }

    public uint Actions { get; init; }

    /// <summary>The ports in wire format (48 bytes each); read them with <see cref="Port"/>.</summary>
    public ReadOnlySpan<byte> PortBytes { get; init; }

    public int PortCount => PortBytes.Length / OfPhysicalPort.Size;

    public OfPhysicalPort Port(int index)
    {
        OfPhysicalPort.TryRead(PortBytes[(index * OfPhysicalPort.Size)..], out var port);
        return port;
    }

    public static bool TryParse(OfMessage message, out OfFeaturesReply reply)
    {
        reply = default;
        if (message.Type != OfType.FeaturesReply || message.Length < Size || (message.Length - Size) % OfPhysicalPort.Size != 0)
        {
            return false;
        }
        var b = message.Bytes;
        reply = new OfFeaturesReply
        {
            DatapathId = BinaryPrimitives.ReadUInt64BigEndian(b[DatapathIdOffset..]),
            Buffers = BinaryPrimitives.ReadUInt32BigEndian(b[BuffersOffset..]),
            Tables = b[TablesOffset],
            Capabilities = BinaryPrimitives.ReadUInt32BigEndian(b[CapabilitiesOffset..]),
            Actions = BinaryPrimitives.ReadUInt32BigEndian(b[ActionsOffset..]),
            PortBytes = b[Size..],
        };
        return true;
    }

    /// <summary>Writes the reply with <paramref name="ports"/> (the <see cref="PortBytes"/> property is ignored).</summary>
    public bool TryWrite(Span<byte> destination, uint xid, ReadOnlySpan<OfPhysicalPort> ports, out int written)
    {
        written = 0;
        var length = Size + ports.Length * OfPhysicalPort.Size;
        if (destination.Length < length || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow10, OfType.FeaturesReply, length, xid))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt64BigEndian(destination[DatapathIdOffset..], DatapathId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[BuffersOffset..], Buffers);
        destination[TablesOffset] = Tables;
        destination[(TablesOffset + 1)..CapabilitiesOffset].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(destination[CapabilitiesOffset..], Capabilities);
        BinaryPrimitives.WriteUInt32BigEndian(destination[ActionsOffset..], Actions);
        for (var i = 0; i < ports.Length; i++)
        {
            ports[i].TryWrite(destination[(Size + i * OfPhysicalPort.Size)..], out _);
        }
        written = length;
        return true;
    }
}

/// <summary>packet_in (ofp_packet_in): a frame the switch sends to the controller.</summary>
public readonly ref struct OfPacketIn
{
    /// <summary>Where the frame starts (the structure is 20 bytes with padding, the data begins at 18).</summary>
    public const int DataOffset = 18;
    private const int BufferIdOffset = 8;
    private const int TotalLengthOffset = 12;
    private const int InPortOffset = 14;
    private const int ReasonOffset = 16;

    public uint BufferId { get; init; }

    /// <summary>The frame's full length (the data may be cut to miss_send_len).</summary>
    public ushort TotalLength { get; init; }

    public ushort InPort { get; init; }

    public OfPacketInReason Reason { get; init; }

    public ReadOnlySpan<byte> Data { get; init; }

    public int Length => DataOffset + Data.Length;

    public static bool TryParse(OfMessage message, out OfPacketIn packetIn)
    {
        packetIn = default;
        if (message.Type != OfType.PacketIn || message.Length < DataOffset)
        {
            return false;
        }
        var b = message.Bytes;
        packetIn = new OfPacketIn
        {
            BufferId = BinaryPrimitives.ReadUInt32BigEndian(b[BufferIdOffset..]),
            TotalLength = BinaryPrimitives.ReadUInt16BigEndian(b[TotalLengthOffset..]),
            InPort = BinaryPrimitives.ReadUInt16BigEndian(b[InPortOffset..]),
            Reason = (OfPacketInReason)b[ReasonOffset],
            Data = b[DataOffset..],
        };
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Length || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow10, OfType.PacketIn, Length, xid))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt32BigEndian(destination[BufferIdOffset..], BufferId);
        BinaryPrimitives.WriteUInt16BigEndian(destination[TotalLengthOffset..], TotalLength);
        BinaryPrimitives.WriteUInt16BigEndian(destination[InPortOffset..], InPort);
        destination[ReasonOffset] = (byte)Reason;
        destination[ReasonOffset + 1] = 0;
        Data.CopyTo(destination[DataOffset..]);
        written = Length;
        return true;
    }
}

/// <summary>packet_out (ofp_packet_out): the controller sends a frame (or a buffered one) through actions.</summary>
public readonly ref struct OfPacketOut
{
    public const int Size = 16;
    private const int BufferIdOffset = 8;
    private const int InPortOffset = 12;
    private const int ActionsLengthOffset = 14;

    public uint BufferId { get; init; }

    public ushort InPort { get; init; }

    /// <summary>The action list in wire format (see <see cref="OfActionReader"/>, <see cref="OfAction.TryWriteList"/>).</summary>
    public ReadOnlySpan<byte> Actions { get; init; }

    /// <summary>The frame, when <see cref="BufferId"/> is <see cref="OfBuffer.None"/>.</summary>
    public ReadOnlySpan<byte> Data { get; init; }

    public int Length => Size + Actions.Length + Data.Length;

    public static bool TryParse(OfMessage message, out OfPacketOut packetOut)
    {
        packetOut = default;
        if (message.Type != OfType.PacketOut || message.Length < Size)
        {
            return false;
        }
        var b = message.Bytes;
        int actionsLength = BinaryPrimitives.ReadUInt16BigEndian(b[ActionsLengthOffset..]);
        if (actionsLength > message.Length - Size)
        {
            return false;
        }
        packetOut = new OfPacketOut
        {
            BufferId = BinaryPrimitives.ReadUInt32BigEndian(b[BufferIdOffset..]),
            InPort = BinaryPrimitives.ReadUInt16BigEndian(b[InPortOffset..]),
            Actions = b.Slice(Size, actionsLength),
            Data = b[(Size + actionsLength)..],
        };
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Length || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow10, OfType.PacketOut, Length, xid))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt32BigEndian(destination[BufferIdOffset..], BufferId);
        BinaryPrimitives.WriteUInt16BigEndian(destination[InPortOffset..], InPort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[ActionsLengthOffset..], (ushort)Actions.Length);
        Actions.CopyTo(destination[Size..]);
        Data.CopyTo(destination[(Size + Actions.Length)..]);
        written = Length;
        return true;
    }
}

/// <summary>flow_mod (ofp_flow_mod): add, modify or delete flows.</summary>
public readonly ref struct OfFlowMod
{
    public const int Size = 72;
    private const int MatchOffset = 8;
    private const int CookieOffset = 48;
    private const int CommandOffset = 56;
    private const int IdleTimeoutOffset = 58;
    private const int HardTimeoutOffset = 60;
    private const int PriorityOffset = 62;
    private const int BufferIdOffset = 64;
    private const int OutPortOffset = 68;
    private const int FlagsOffset = 70;

    /// <summary>The priority OpenFlow 1.0 gives flows when the controller does not care.</summary>
    public const ushort DefaultPriority = 0x8000;

    public OfMatch Match { get; init; }

    public ulong Cookie { get; init; }

    public OfFlowModCommand Command { get; init; }

    public ushort IdleTimeout { get; init; }

    public ushort HardTimeout { get; init; }

    public ushort Priority { get; init; }

    public uint BufferId { get; init; }

    /// <summary>For delete: only flows with an output to this port (<see cref="OfPort.None"/>: any).</summary>
    public ushort OutPort { get; init; }

    public ushort Flags { get; init; }

    public ReadOnlySpan<byte> Actions { get; init; }

    public int Length => Size + Actions.Length;

    public static bool TryParse(OfMessage message, out OfFlowMod flowMod)
    {
        flowMod = default;
        if (message.Type != OfType.FlowMod || message.Length < Size || !OfMatch.TryRead(message.Bytes[MatchOffset..], out var match))
        {
            return false;
        }
        var b = message.Bytes;
        flowMod = new OfFlowMod
        {
            Match = match,
            Cookie = BinaryPrimitives.ReadUInt64BigEndian(b[CookieOffset..]),
            Command = (OfFlowModCommand)BinaryPrimitives.ReadUInt16BigEndian(b[CommandOffset..]),
            IdleTimeout = BinaryPrimitives.ReadUInt16BigEndian(b[IdleTimeoutOffset..]),
            HardTimeout = BinaryPrimitives.ReadUInt16BigEndian(b[HardTimeoutOffset..]),
            Priority = BinaryPrimitives.ReadUInt16BigEndian(b[PriorityOffset..]),
            BufferId = BinaryPrimitives.ReadUInt32BigEndian(b[BufferIdOffset..]),
            OutPort = BinaryPrimitives.ReadUInt16BigEndian(b[OutPortOffset..]),
            Flags = BinaryPrimitives.ReadUInt16BigEndian(b[FlagsOffset..]),
            Actions = b[Size..],
        };
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Length || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow10, OfType.FlowMod, Length, xid))
        {
            return false;
        }
        Match.TryWrite(destination[MatchOffset..], out _);
        BinaryPrimitives.WriteUInt64BigEndian(destination[CookieOffset..], Cookie);
        BinaryPrimitives.WriteUInt16BigEndian(destination[CommandOffset..], (ushort)Command);
        BinaryPrimitives.WriteUInt16BigEndian(destination[IdleTimeoutOffset..], IdleTimeout);
        BinaryPrimitives.WriteUInt16BigEndian(destination[HardTimeoutOffset..], HardTimeout);
        BinaryPrimitives.WriteUInt16BigEndian(destination[PriorityOffset..], Priority);
        BinaryPrimitives.WriteUInt32BigEndian(destination[BufferIdOffset..], BufferId);
        BinaryPrimitives.WriteUInt16BigEndian(destination[OutPortOffset..], OutPort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[FlagsOffset..], Flags);
        Actions.CopyTo(destination[Size..]);
        written = Length;
        return true;
    }
}

/// <summary>flow_removed (ofp_flow_removed, 88 bytes): a flow expired or was deleted.</summary>
public readonly record struct OfFlowRemoved(OfMatch Match, ulong Cookie, ushort Priority, OfFlowRemovedReason Reason, uint DurationSeconds, uint DurationNanoseconds, ushort IdleTimeout, ulong PacketCount, ulong ByteCount)
{
    public const int Size = 88;
    private const int MatchOffset = 8;
    private const int CookieOffset = 48;
    private const int PriorityOffset = 56;
    private const int ReasonOffset = 58;
    private const int DurationSecondsOffset = 60;
    private const int DurationNanosecondsOffset = 64;
    private const int IdleTimeoutOffset = 68;
    private const int PacketCountOffset = 72;
    private const int ByteCountOffset = 80;

    public static bool TryParse(OfMessage message, out OfFlowRemoved removed)
    {
        removed = default;
        if (message.Type != OfType.FlowRemoved || message.Length < Size || !OfMatch.TryRead(message.Bytes[MatchOffset..], out var match))
        {
            return false;
        }
        var b = message.Bytes;
        removed = new OfFlowRemoved(
            match,
            BinaryPrimitives.ReadUInt64BigEndian(b[CookieOffset..]),
            BinaryPrimitives.ReadUInt16BigEndian(b[PriorityOffset..]),
            (OfFlowRemovedReason)b[ReasonOffset],
            BinaryPrimitives.ReadUInt32BigEndian(b[DurationSecondsOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(b[DurationNanosecondsOffset..]),
            BinaryPrimitives.ReadUInt16BigEndian(b[IdleTimeoutOffset..]),
            BinaryPrimitives.ReadUInt64BigEndian(b[PacketCountOffset..]),
            BinaryPrimitives.ReadUInt64BigEndian(b[ByteCountOffset..]));
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Size || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow10, OfType.FlowRemoved, Size, xid))
        {
            return false;
        }
        destination[OfMessage.HeaderLength..Size].Clear();
        Match.TryWrite(destination[MatchOffset..], out _);
        BinaryPrimitives.WriteUInt64BigEndian(destination[CookieOffset..], Cookie);
        BinaryPrimitives.WriteUInt16BigEndian(destination[PriorityOffset..], Priority);
        destination[ReasonOffset] = (byte)Reason;
        BinaryPrimitives.WriteUInt32BigEndian(destination[DurationSecondsOffset..], DurationSeconds);
        BinaryPrimitives.WriteUInt32BigEndian(destination[DurationNanosecondsOffset..], DurationNanoseconds);
        BinaryPrimitives.WriteUInt16BigEndian(destination[IdleTimeoutOffset..], IdleTimeout);
        BinaryPrimitives.WriteUInt64BigEndian(destination[PacketCountOffset..], PacketCount);
        BinaryPrimitives.WriteUInt64BigEndian(destination[ByteCountOffset..], ByteCount);
        written = Size;
        return true;
    }
}

/// <summary>port_status (ofp_port_status, 64 bytes): a port was added, removed or changed.</summary>
public readonly record struct OfPortStatus(OfPortReason Reason, OfPhysicalPort Port)
{
    public const int Size = 64;
    private const int ReasonOffset = 8;
    private const int PortOffset = 16;

    public static bool TryParse(OfMessage message, out OfPortStatus status)
    {
        status = default;
        if (message.Type != OfType.PortStatus || message.Length < Size || !OfPhysicalPort.TryRead(message.Bytes[PortOffset..], out var port))
        {
            return false;
        }
        status = new OfPortStatus((OfPortReason)message.Bytes[ReasonOffset], port);
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Size || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow10, OfType.PortStatus, Size, xid))
        {
            return false;
        }
        destination[ReasonOffset..PortOffset].Clear();
        destination[ReasonOffset] = (byte)Reason;
        Port.TryWrite(destination[PortOffset..], out _);
        written = Size;
        return true;
    }
}

/// <summary>port_mod (ofp_port_mod, 32 bytes): change a port's config bits under a mask.</summary>
public readonly record struct OfPortMod(ushort PortNumber, ulong HardwareAddress, uint Config, uint Mask, uint Advertise)
{
    public const int Size = 32;
    private const int PortNumberOffset = 8;
    private const int HardwareAddressOffset = 10;
    private const int ConfigOffset = 16;
    private const int MaskOffset = 20;
    private const int AdvertiseOffset = 24;

    public static bool TryParse(OfMessage message, out OfPortMod portMod)
    {
        portMod = default;
        if (message.Type != OfType.PortMod || message.Length < Size)
        {
            return false;
        }
        var b = message.Bytes;
        portMod = new OfPortMod(
            BinaryPrimitives.ReadUInt16BigEndian(b[PortNumberOffset..]),
            OfMatch.ReadMac(b[HardwareAddressOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(b[ConfigOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(b[MaskOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(b[AdvertiseOffset..]));
        return true;
    }

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Size || !OfMessage.TryWriteHeader(destination, OfVersion.OpenFlow10, OfType.PortMod, Size, xid))
        {
            return false;
        }
        destination[OfMessage.HeaderLength..Size].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(destination[PortNumberOffset..], PortNumber);
        OfMatch.WriteMac(destination[HardwareAddressOffset..], HardwareAddress);
        BinaryPrimitives.WriteUInt32BigEndian(destination[ConfigOffset..], Config);
        BinaryPrimitives.WriteUInt32BigEndian(destination[MaskOffset..], Mask);
        BinaryPrimitives.WriteUInt32BigEndian(destination[AdvertiseOffset..], Advertise);
        written = Size;
        return true;
    }
}
