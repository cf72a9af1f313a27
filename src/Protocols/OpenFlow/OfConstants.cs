namespace Unikernel.Protocols.OpenFlow;

/// <summary>OpenFlow protocol versions (the header's first byte).</summary>
public static class OfVersion
{
    public const byte OpenFlow10 = 0x01;
    public const byte OpenFlow13 = 0x04;
}

/// <summary>OpenFlow 1.0 message types (ofp_type).</summary>
public enum OfType : byte
{
    Hello = 0,
    Error = 1,
    EchoRequest = 2,
    EchoReply = 3,
    Vendor = 4,
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
    PortMod = 15,
    StatsRequest = 16,
    StatsReply = 17,
    BarrierRequest = 18,
    BarrierReply = 19,
    QueueGetConfigRequest = 20,
    QueueGetConfigReply = 21,
}

/// <summary>Reserved port numbers (ofp_port) of OpenFlow 1.0.</summary>
public static class OfPort
{
    public const ushort Max = 0xff00;
    public const ushort InPort = 0xfff8;
    public const ushort Table = 0xfff9;
    public const ushort Normal = 0xfffa;
    public const ushort Flood = 0xfffb;
    public const ushort All = 0xfffc;
    public const ushort Controller = 0xfffd;
    public const ushort Local = 0xfffe;
    public const ushort None = 0xffff;
}

public static class OfBuffer
{
    /// <summary>buffer_id meaning "the packet is not buffered at the switch".</summary>
    public const uint None = 0xffffffff;
}

public enum OfFlowModCommand : ushort
{
    Add = 0,
    Modify = 1,
    ModifyStrict = 2,
    Delete = 3,
    DeleteStrict = 4,
}

public static class OfFlowModFlags
{
    public const ushort SendFlowRemoved = 1;
    public const ushort CheckOverlap = 2;
    public const ushort Emergency = 4;
}

public enum OfPacketInReason : byte
{
    NoMatch = 0,
    Action = 1,

    /// <summary>OFPR_INVALID_TTL (1.1 and later): dec_nw_ttl found a TTL or hop limit of 0 or 1.</summary>
    InvalidTtl = 2,
}

public enum OfFlowRemovedReason : byte
{
    IdleTimeout = 0,
    HardTimeout = 1,
    Delete = 2,
}

public enum OfPortReason : byte
{
    Add = 0,
    Delete = 1,
    Modify = 2,
}

/// <summary>ofp_port_config bits.</summary>
public static class OfPortConfig
{
    public const uint PortDown = 1 << 0;
    public const uint NoStp = 1 << 1;
    public const uint NoReceive = 1 << 2;
    public const uint NoReceiveStp = 1 << 3;
    public const uint NoFlood = 1 << 4;
    public const uint NoForward = 1 << 5;
    public const uint NoPacketIn = 1 << 6;
}

/// <summary>ofp_port_state bits.</summary>
public static class OfPortState
{
    public const uint LinkDown = 1 << 0;
}

/// <summary>ofp_capabilities bits.</summary>
public static class OfCapabilities
{
    public const uint FlowStats = 1 << 0;
    public const uint TableStats = 1 << 1;
    public const uint PortStats = 1 << 2;
    public const uint Stp = 1 << 3;
    public const uint IpReassembly = 1 << 5;
    public const uint QueueStats = 1 << 6;
    public const uint ArpMatchIp = 1 << 7;
}

/// <summary>ofp_config_flags.</summary>
public static class OfConfigFlags
{
    public const ushort FragmentsNormal = 0;
    public const ushort FragmentsDrop = 1;
    public const ushort FragmentsReassemble = 2;

    /// <summary>OFPC_INVALID_TTL_TO_CONTROLLER (1.1 and later): a packet whose TTL dec_nw_ttl cannot decrement goes to the controller (packet_in reason invalid TTL) rather than nowhere.</summary>
    public const ushort InvalidTtlToController = 1 << 2;
}

public enum OfStatsType : ushort
{
    Description = 0,
    Flow = 1,
    Aggregate = 2,
    Table = 3,
    Port = 4,
    Queue = 5,
    Vendor = 0xffff,
}

public static class OfStatsFlags
{
    public const ushort ReplyMore = 1;
}

public enum OfErrorType : ushort
{
    HelloFailed = 0,
    BadRequest = 1,
    BadAction = 2,
    FlowModFailed = 3,
    PortModFailed = 4,
    QueueOpFailed = 5,
}

/// <summary>Error codes, per <see cref="OfErrorType"/>.</summary>
public static class OfErrorCode
{
    public const ushort HelloIncompatible = 0;
    public const ushort HelloPermission = 1;

    public const ushort BadRequestVersion = 0;
    public const ushort BadRequestType = 1;
    public const ushort BadRequestStat = 2;
    public const ushort BadRequestVendor = 3;
    public const ushort BadRequestSubtype = 4;
    public const ushort BadRequestPermission = 5;
    public const ushort BadRequestLength = 6;
    public const ushort BadRequestBufferEmpty = 7;
    public const ushort BadRequestBufferUnknown = 8;

    public const ushort BadActionType = 0;
    public const ushort BadActionLength = 1;
    public const ushort BadActionVendor = 2;
    public const ushort BadActionVendorType = 3;
    public const ushort BadActionOutPort = 4;
    public const ushort BadActionArgument = 5;
    public const ushort BadActionPermission = 6;
    public const ushort BadActionTooMany = 7;
    public const ushort BadActionQueue = 8;

    public const ushort FlowModAllTablesFull = 0;
    public const ushort FlowModOverlap = 1;
    public const ushort FlowModPermission = 2;
    public const ushort FlowModBadEmergencyTimeout = 3;
    public const ushort FlowModBadCommand = 4;
    public const ushort FlowModUnsupported = 5;
}
