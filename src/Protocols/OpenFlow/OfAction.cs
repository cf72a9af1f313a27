using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>OpenFlow 1.0 action types (ofp_action_type).</summary>
public enum OfActionType : ushort
{
    Output = 0,
    SetVlanVid = 1,
    SetVlanPcp = 2,
    StripVlan = 3,
    SetDlSrc = 4,
    SetDlDst = 5,
    SetNwSrc = 6,
    SetNwDst = 7,
    SetNwTos = 8,
    SetTpSrc = 9,
    SetTpDst = 10,
    Enqueue = 11,
    Vendor = 0xffff,
}

/// <summary>
/// One parsed OpenFlow 1.0 action. A value type: a flow's action list is stored as its wire bytes and walked with
/// <see cref="OfActionReader"/>, so nothing is allocated per packet. Only the fields of <see cref="Type"/> are meaningful.
/// </summary>
public readonly record struct OfAction(OfActionType Type, ushort Port = 0, ushort MaxLength = 0, ushort Value16 = 0, byte Value8 = 0, ulong Mac = 0, uint Value32 = 0)
{
    private const int TypeOffset = 0;
    private const int LengthOffset = 2;
    private const int BodyOffset = 4;

    public static OfAction Output(ushort port, ushort maxLength = 0) => new(OfActionType.Output, Port: port, MaxLength: maxLength);

    public static OfAction SetVlanVid(ushort vid) => new(OfActionType.SetVlanVid, Value16: vid);

    public static OfAction SetVlanPcp(byte pcp) => new(OfActionType.SetVlanPcp, Value8: pcp);

    public static OfAction StripVlan() => new(OfActionType.StripVlan);

    public static OfAction SetDlSrc(ulong mac) => new(OfActionType.SetDlSrc, Mac: mac);

    public static OfAction SetDlDst(ulong mac) => new(OfActionType.SetDlDst, Mac: mac);

    public static OfAction SetNwSrc(uint address) => new(OfActionType.SetNwSrc, Value32: address);

    public static OfAction SetNwDst(uint address) => new(OfActionType.SetNwDst, Value32: address);

    public static OfAction SetNwTos(byte tos) => new(OfActionType.SetNwTos, Value8: tos);

    public static OfAction SetTpSrc(ushort port) => new(OfActionType.SetTpSrc, Value16: port);

    public static OfAction SetTpDst(ushort port) => new(OfActionType.SetTpDst, Value16: port);

    public static OfAction Enqueue(ushort port, uint queueId) => new(OfActionType.Enqueue, Port: port, Value32: queueId);

    /// <summary>The action's wire length (a multiple of 8).</summary>
    public int Length => Type is OfActionType.SetDlSrc or OfActionType.SetDlDst or OfActionType.Enqueue ? 16 : 8;

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        var length = Length;
        if (destination.Length < length || Type == OfActionType.Vendor)
        {
            return false;
        }
        destination[..length].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(destination[TypeOffset..], (ushort)Type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[LengthOffset..], (ushort)length);
        var body = destination[BodyOffset..length];
        switch (Type)
        {
            case OfActionType.Output:
                BinaryPrimitives.WriteUInt16BigEndian(body, Port);
                BinaryPrimitives.WriteUInt16BigEndian(body[2..], MaxLength);
                break;
            case OfActionType.SetVlanVid or OfActionType.SetTpSrc or OfActionType.SetTpDst:
                BinaryPrimitives.WriteUInt16BigEndian(body, Value16);
                break;
            case OfActionType.SetVlanPcp or OfActionType.SetNwTos:
                body[0] = Value8;
                break;
            case OfActionType.SetDlSrc or OfActionType.SetDlDst:
                OfMatch.WriteMac(body, Mac);
                break;
            case OfActionType.SetNwSrc or OfActionType.SetNwDst:
                BinaryPrimitives.WriteUInt32BigEndian(body, Value32);
                break;
            case OfActionType.Enqueue:
                BinaryPrimitives.WriteUInt16BigEndian(body, Port);
                BinaryPrimitives.WriteUInt32BigEndian(body[8..], Value32);
                break;
            case OfActionType.StripVlan:
                break;
            default:
                return false;
        }
        written = length;
        return true;
    }

    /// <summary>Writes a list of actions; false when they do not fit.</summary>
    public static bool TryWriteList(ReadOnlySpan<OfAction> actions, Span<byte> destination, out int written)
    {
        written = 0;
        foreach (var action in actions)
        {
            if (!action.TryWrite(destination[written..], out var n))
            {
                written = 0;
                return false;
            }
            written += n;
        }
        return true;
    }

    /// <summary>
    /// Checks an action list from the wire: lengths are multiples of 8 and cover the list exactly, types are known
    /// and lengths right for their type. Returns the ofp_bad_action_code to report, or -1 when the list is valid.
    /// </summary>
    public static int Validate(ReadOnlySpan<byte> actions)
    {
        var reader = new OfActionReader(actions);
        while (reader.TryRead(out var action, out var error))
        {
            if (action.Type == OfActionType.Output && action.Port == 0)
            {
                return OfErrorCode.BadActionOutPort;
            }
        }
        return reader.Error;
    }

    internal static int ExpectedLength(ushort type) => type switch
    {
        (ushort)OfActionType.SetDlSrc or (ushort)OfActionType.SetDlDst or (ushort)OfActionType.Enqueue => 16,
        <= (ushort)OfActionType.Enqueue => 8,
        _ => -1,
    };

    internal static OfAction Read(ReadOnlySpan<byte> bytes)
    {
        var type = (OfActionType)BinaryPrimitives.ReadUInt16BigEndian(bytes);
        var body = bytes[BodyOffset..];
        return type switch
        {
            OfActionType.Output => Output(BinaryPrimitives.ReadUInt16BigEndian(body), BinaryPrimitives.ReadUInt16BigEndian(body[2..])),
            OfActionType.SetVlanVid or OfActionType.SetTpSrc or OfActionType.SetTpDst => new(type, Value16: BinaryPrimitives.ReadUInt16BigEndian(body)),
            OfActionType.SetVlanPcp or OfActionType.SetNwTos => new(type, Value8: body[0]),
            OfActionType.SetDlSrc or OfActionType.SetDlDst => new(type, Mac: OfMatch.ReadMac(body)),
            OfActionType.SetNwSrc or OfActionType.SetNwDst => new(type, Value32: BinaryPrimitives.ReadUInt32BigEndian(body)),
            OfActionType.Enqueue => Enqueue(BinaryPrimitives.ReadUInt16BigEndian(body), BinaryPrimitives.ReadUInt32BigEndian(body[8..])),
            _ => new(type),
        };
    }
}

/// <summary>
/// Walks an OpenFlow 1.0 action list in wire format. Stops at the first malformed action and reports why in
/// <see cref="Error"/> (an ofp_bad_action_code, -1 when the list ended cleanly).
/// </summary>
public ref struct OfActionReader
{
    private readonly ReadOnlySpan<byte> _bytes;
    private int _offset;

    public OfActionReader(ReadOnlySpan<byte> bytes)
    {
        _bytes = bytes;
        _offset = 0;
        Error = -1;
    }

    public int Error { get; private set; }

    public bool TryRead(out OfAction action, out int error)
    {
        action = default;
        error = -1;
        if (_offset >= _bytes.Length || Error >= 0)
        {
            return false;
        }
        var rest = _bytes[_offset..];
        if (rest.Length < 8)
        {
            Error = error = OfErrorCode.BadActionLength;
            return false;
        }
        var type = BinaryPrimitives.ReadUInt16BigEndian(rest);
        int length = BinaryPrimitives.ReadUInt16BigEndian(rest[2..]);
        if (length < 8 || length % 8 != 0 || length > rest.Length)
        {
            Error = error = OfErrorCode.BadActionLength;
            return false;
        }
        if (type == (ushort)OfActionType.Vendor)
        {
            Error = error = OfErrorCode.BadActionVendor;
            return false;
        }
        var expected = OfAction.ExpectedLength(type);
        if (expected < 0)
        {
            Error = error = OfErrorCode.BadActionType;
            return false;
        }
        if (expected != length)
        {
            Error = error = OfErrorCode.BadActionLength;
            return false;
        }
        action = OfAction.Read(rest[..length]);
        _offset += length;
        return true;
    }
}
