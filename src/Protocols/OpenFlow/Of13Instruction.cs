using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>OpenFlow 1.3 action types (ofp_action_type).</summary>
public enum Of13ActionType : ushort
{
    Output = 0,
    CopyTtlOut = 11,
    CopyTtlIn = 12,
    SetMplsTtl = 15,
    DecMplsTtl = 16,
    PushVlan = 17,
    PopVlan = 18,
    PushMpls = 19,
    PopMpls = 20,
    SetQueue = 21,
    Group = 22,
    SetNwTtl = 23,
    DecNwTtl = 24,
    SetField = 25,
    PushPbb = 26,
    PopPbb = 27,
    Experimenter = 0xffff,
}

/// <summary>
/// One OpenFlow 1.3 action: output (port, max_len: 16 bytes), set_field (an OXM padded to 8), the 8-byte actions with
/// one number (push_vlan/mpls/pbb and pop_mpls: an ethertype; set_queue, group: 32 bits; set_mpls_ttl, set_nw_ttl: 8
/// bits) and the ones with none (copy/dec TTL, pop_vlan, pop_pbb). Experimenter actions keep their body as a span.
/// </summary>
public readonly ref struct Of13Action
{
    public const int HeaderLength = 4;
    public const int OutputLength = 16;
    public const int ShortLength = 8;

    public Of13ActionType Type { get; init; }

    /// <summary>Output: the port.</summary>
    public uint Port { get; init; }

    /// <summary>Output to the controller: bytes of the packet to send (<see cref="Of13ControllerMaxLength.NoBuffer"/>: all, unbuffered).</summary>
    public ushort MaxLength { get; init; }

    /// <summary>The ethertype, queue, group or TTL of the actions that have one.</summary>
    public uint Value { get; init; }

    /// <summary>set_field: the OXM TLV (its header included).</summary>
    public ReadOnlySpan<byte> Field { get; init; }

    /// <summary>Experimenter: the body after the experimenter id.</summary>
    public ReadOnlySpan<byte> Body { get; init; }

    public static Of13Action Output(uint port, ushort maxLength = 0) => new() { Type = Of13ActionType.Output, Port = port, MaxLength = maxLength };

    public static Of13Action SetField(ReadOnlySpan<byte> oxm) => new() { Type = Of13ActionType.SetField, Field = oxm };

    public int Length => Type switch
    {
        Of13ActionType.Output => OutputLength,
        Of13ActionType.SetField => (HeaderLength + Field.Length + 7) / 8 * 8,
        Of13ActionType.Experimenter => (ShortLength + Body.Length + 7) / 8 * 8,
        _ => ShortLength,
    };

    private static bool Known(Of13ActionType type) => type is Of13ActionType.Output or Of13ActionType.CopyTtlOut or Of13ActionType.CopyTtlIn or Of13ActionType.SetMplsTtl
        or Of13ActionType.DecMplsTtl or Of13ActionType.PushVlan or Of13ActionType.PopVlan or Of13ActionType.PushMpls or Of13ActionType.PopMpls or Of13ActionType.SetQueue
        or Of13ActionType.Group or Of13ActionType.SetNwTtl or Of13ActionType.DecNwTtl or Of13ActionType.SetField or Of13ActionType.PushPbb or Of13ActionType.PopPbb
        or Of13ActionType.Experimenter;

    /// <summary>Reads one action; <paramref name="error"/> is the ofp_bad_action_code when false (-1: the list ended early).</summary>
    public static bool TryRead(ReadOnlySpan<byte> bytes, out Of13Action action, out int consumed, out int error)
    {
        action = default;
        consumed = 0;
        error = OfErrorCode.BadActionLength;
        if (bytes.Length < HeaderLength)
        {
            return false;
        }
        var type = (Of13ActionType)BinaryPrimitives.ReadUInt16BigEndian(bytes);
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]);
        if (length < ShortLength || length % 8 != 0 || length > bytes.Length)
        {
            return false;
        }
        if (!Known(type))
        {
            error = OfErrorCode.BadActionType;
            return false;
        }
        var a = bytes[..length];
        switch (type)
        {
            case Of13ActionType.Output:
                if (length != OutputLength)
                {
                    return false;
                }
                action = new Of13Action { Type = type, Port = BinaryPrimitives.ReadUInt32BigEndian(a[4..]), MaxLength = BinaryPrimitives.ReadUInt16BigEndian(a[8..]) };
                break;
            case Of13ActionType.SetField:
                if (!Oxm.TryRead(a[HeaderLength..], out _, out var oxmLength) || (HeaderLength + oxmLength + 7) / 8 * 8 != length)
                {
                    return false;
                }
                action = new Of13Action { Type = type, Field = a.Slice(HeaderLength, oxmLength) };
                break;
            case Of13ActionType.Experimenter:
                action = new Of13Action { Type = type, Value = BinaryPrimitives.ReadUInt32BigEndian(a[4..]), Body = a[ShortLength..] };
                break;
            default:
                if (length != ShortLength)
                {
                    return false;
                }
                action = new Of13Action { Type = type, Value = ValueOf(type, a) };
                break;
        }
        consumed = length;
        error = -1;
        return true;
    }

    private static uint ValueOf(Of13ActionType type, ReadOnlySpan<byte> a) => type switch
    {
        Of13ActionType.PushVlan or Of13ActionType.PushMpls or Of13ActionType.PopMpls or Of13ActionType.PushPbb => BinaryPrimitives.ReadUInt16BigEndian(a[4..]),
        Of13ActionType.SetQueue or Of13ActionType.Group => BinaryPrimitives.ReadUInt32BigEndian(a[4..]),
        Of13ActionType.SetMplsTtl or Of13ActionType.SetNwTtl => a[4],
        _ => 0,
    };

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        var length = Length;
        if (destination.Length < length)
        {
            return false;
        }
        var a = destination[..length];
        a.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(a, (ushort)Type);
        BinaryPrimitives.WriteUInt16BigEndian(a[2..], (ushort)length);
        switch (Type)
        {
            case Of13ActionType.Output:
                BinaryPrimitives.WriteUInt32BigEndian(a[4..], Port);
                BinaryPrimitives.WriteUInt16BigEndian(a[8..], MaxLength);
                break;
            case Of13ActionType.SetField:
                Field.CopyTo(a[HeaderLength..]);
                break;
            case Of13ActionType.Experimenter:
                BinaryPrimitives.WriteUInt32BigEndian(a[4..], Value);
                Body.CopyTo(a[ShortLength..]);
                break;
            case Of13ActionType.PushVlan or Of13ActionType.PushMpls or Of13ActionType.PopMpls or Of13ActionType.PushPbb:
                BinaryPrimitives.WriteUInt16BigEndian(a[4..], (ushort)Value);
                break;
            case Of13ActionType.SetQueue or Of13ActionType.Group:
                BinaryPrimitives.WriteUInt32BigEndian(a[4..], Value);
                break;
            case Of13ActionType.SetMplsTtl or Of13ActionType.SetNwTtl:
                a[4] = (byte)Value;
                break;
        }
        written = length;
        return true;
    }

    /// <summary>-1 when every action of the list is well-formed, else the ofp_bad_action_code of the first that is not.</summary>
    public static int Validate(ReadOnlySpan<byte> actions)
    {
        while (!actions.IsEmpty)
        {
            if (!TryRead(actions, out _, out var consumed, out var error))
            {
                return error;
            }
            actions = actions[consumed..];
        }
        return -1;
    }
}

/// <summary>OpenFlow 1.3 instruction types (ofp_instruction_type).</summary>
public enum Of13InstructionType : ushort
{
    GotoTable = 1,
    WriteMetadata = 2,
    WriteActions = 3,
    ApplyActions = 4,
    ClearActions = 5,
    Meter = 6,
    Experimenter = 0xffff,
}

/// <summary>
/// One OpenFlow 1.3 instruction: goto_table (8 bytes), write_metadata (24), write/apply/clear actions (8 + the action
/// list, kept as a span), meter (8). Experimenter instructions keep their body.
/// </summary>
public readonly ref struct Of13Instruction
{
    public const int HeaderLength = 4;
    private const int ActionsOffset = 8;

    public Of13InstructionType Type { get; init; }

    /// <summary>goto_table: the next table.</summary>
    public byte TableId { get; init; }

    /// <summary>write_metadata: value and mask.</summary>
    public ulong Metadata { get; init; }

    public ulong MetadataMask { get; init; }

    /// <summary>meter: the meter id; experimenter: the experimenter id.</summary>
    public uint Value { get; init; }

    /// <summary>write/apply actions: the action list in wire format (see <see cref="Of13Action"/>).</summary>
    public ReadOnlySpan<byte> Actions { get; init; }

    /// <summary>Experimenter: the body after the experimenter id.</summary>
    public ReadOnlySpan<byte> Body { get; init; }

    public static Of13Instruction GotoTable(byte table) => new() { Type = Of13InstructionType.GotoTable, TableId = table };

    public static Of13Instruction Apply(ReadOnlySpan<byte> actions) => new() { Type = Of13InstructionType.ApplyActions, Actions = actions };

    public static Of13Instruction Write(ReadOnlySpan<byte> actions) => new() { Type = Of13InstructionType.WriteActions, Actions = actions };

    public static Of13Instruction Meter(uint meter) => new() { Type = Of13InstructionType.Meter, Value = meter };

    public int Length => Type switch
    {
        Of13InstructionType.WriteMetadata => 24,
        Of13InstructionType.WriteActions or Of13InstructionType.ApplyActions or Of13InstructionType.ClearActions => ActionsOffset + Actions.Length,
        Of13InstructionType.Experimenter => (8 + Body.Length + 7) / 8 * 8,
        _ => 8,
    };

    /// <summary>Reads one instruction; <paramref name="error"/> is the ofp_bad_instruction_code (or, in its action list, 0x100 + the ofp_bad_action_code) when false.</summary>
    public static bool TryRead(ReadOnlySpan<byte> bytes, out Of13Instruction instruction, out int consumed, out int error)
    {
        instruction = default;
        consumed = 0;
        error = Of13ErrorCode.BadInstructionLength;
        if (bytes.Length < HeaderLength)
        {
            return false;
        }
        var type = (Of13InstructionType)BinaryPrimitives.ReadUInt16BigEndian(bytes);
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]);
        if (length < 8 || length % 8 != 0 || length > bytes.Length)
        {
            return false;
        }
        var b = bytes[..length];
        switch (type)
        {
            case Of13InstructionType.GotoTable when length == 8:
                instruction = new Of13Instruction { Type = type, TableId = b[4] };
                break;
            case Of13InstructionType.WriteMetadata when length == 24:
                instruction = new Of13Instruction { Type = type, Metadata = BinaryPrimitives.ReadUInt64BigEndian(b[8..]), MetadataMask = BinaryPrimitives.ReadUInt64BigEndian(b[16..]) };
                break;
            case Of13InstructionType.WriteActions or Of13InstructionType.ApplyActions or Of13InstructionType.ClearActions:
                var actions = b[ActionsOffset..];
                if (type == Of13InstructionType.ClearActions && !actions.IsEmpty)
                {
                    return false;
                }
                var bad = Of13Action.Validate(actions);
                if (bad >= 0)
                {
                    error = 0x100 + bad;
                    return false;
                }
                instruction = new Of13Instruction { Type = type, Actions = actions };
                break;
            case Of13InstructionType.Meter when length == 8:
                instruction = new Of13Instruction { Type = type, Value = BinaryPrimitives.ReadUInt32BigEndian(b[4..]) };
                break;
            case Of13InstructionType.Experimenter:
                instruction = new Of13Instruction { Type = type, Value = BinaryPrimitives.ReadUInt32BigEndian(b[4..]), Body = b[8..] };
                break;
            case Of13InstructionType.GotoTable or Of13InstructionType.WriteMetadata or Of13InstructionType.Meter:
                return false;
            default:
                error = Of13ErrorCode.BadInstructionUnknown;
                return false;
        }
        consumed = length;
        error = -1;
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
        var b = destination[..length];
        b[..8].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)Type);
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], (ushort)length);
        switch (Type)
        {
            case Of13InstructionType.GotoTable:
                b[4] = TableId;
                break;
            case Of13InstructionType.WriteMetadata:
                BinaryPrimitives.WriteUInt64BigEndian(b[8..], Metadata);
                BinaryPrimitives.WriteUInt64BigEndian(b[16..], MetadataMask);
                break;
            case Of13InstructionType.WriteActions or Of13InstructionType.ApplyActions or Of13InstructionType.ClearActions:
                Actions.CopyTo(b[ActionsOffset..]);
                break;
            case Of13InstructionType.Meter:
                BinaryPrimitives.WriteUInt32BigEndian(b[4..], Value);
                break;
            case Of13InstructionType.Experimenter:
                BinaryPrimitives.WriteUInt32BigEndian(b[4..], Value);
                b[8..].Clear();
                Body.CopyTo(b[8..]);
                break;
        }
        written = length;
        return true;
    }

    /// <summary>-1 when every instruction (and action in it) is well-formed, else the error code of the first that is not (see <see cref="TryRead"/>).</summary>
    public static int Validate(ReadOnlySpan<byte> instructions)
    {
        while (!instructions.IsEmpty)
        {
            if (!TryRead(instructions, out _, out var consumed, out var error))
            {
                return error;
            }
            instructions = instructions[consumed..];
        }
        return -1;
    }
}

/// <summary>Error types and codes that OpenFlow 1.3 adds (ofp_error_type values differ from 1.0's past type 4).</summary>
public static class Of13ErrorCode
{
    public const ushort TypeBadInstruction = 3;
    public const ushort TypeBadMatch = 4;
    public const ushort TypeFlowModFailed = 5;
    public const ushort BadInstructionUnknown = 0;
    public const ushort BadInstructionUnsupported = 1;
    public const ushort BadInstructionTableId = 2;
    public const ushort BadInstructionLength = 7; // OFPBIC_BAD_LEN (6 is OFPBIC_BAD_EXP_TYPE)
}
