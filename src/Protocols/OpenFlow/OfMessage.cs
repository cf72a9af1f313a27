using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>
/// A checked view of one OpenFlow message (any version): the 8-byte header fits, its length field is at least 8 and
/// the whole message is in the buffer. After <see cref="TryCreate"/> no accessor can fail.
/// </summary>
public readonly ref struct OfMessage
{
    public const int HeaderLength = 8;
    public const int MaxLength = ushort.MaxValue;

    private const int VersionOffset = 0;
    private const int TypeOffset = 1;
    private const int LengthOffset = 2;
    private const int XidOffset = 4;

    private readonly ReadOnlySpan<byte> _bytes;

    private OfMessage(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>A message at the start of <paramref name="bytes"/> (the rest is ignored).</summary>
    public static bool TryCreate(ReadOnlySpan<byte> bytes, out OfMessage message)
    {
        message = default;
        if (bytes.Length < HeaderLength)
        {
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[LengthOffset..]);
        if (length < HeaderLength || length > bytes.Length)
        {
            return false;
        }
        message = new OfMessage(bytes[..length]);
        return true;
    }

    /// <summary>
    /// How many bytes the message at the start of <paramref name="bytes"/> takes: 0 when more bytes are needed to know,
    /// -1 when the header is malformed (length below 8: the stream cannot be re-synchronised).
    /// </summary>
    public static int FrameLength(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 4)
        {
            return 0;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[LengthOffset..]);
        return length < HeaderLength ? -1 : length;
    }

    public byte Version => _bytes[VersionOffset];

    public OfType Type => (OfType)_bytes[TypeOffset];

    public int Length => _bytes.Length;

    public uint Xid => BinaryPrimitives.ReadUInt32BigEndian(_bytes[XidOffset..]);

    public ReadOnlySpan<byte> Body => _bytes[HeaderLength..];

    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>Writes a header; false when it does not fit or the length is out of range.</summary>
    public static bool TryWriteHeader(Span<byte> destination, byte version, OfType type, int length, uint xid)
    {
        if (destination.Length < HeaderLength || length < HeaderLength || length > MaxLength)
        {
            return false;
        }
        destination[VersionOffset] = version;
        destination[TypeOffset] = (byte)type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[LengthOffset..], (ushort)length);
        BinaryPrimitives.WriteUInt32BigEndian(destination[XidOffset..], xid);
        return true;
    }
}

/// <summary>
/// Messages that are a header and an opaque body: hello (the body is ignored in 1.0), echo request/reply, features
/// request, get_config request, barrier request/reply, and vendor (the body starts with the vendor id).
/// </summary>
public readonly ref struct OfSimpleMessage
{
    public OfSimpleMessage(OfType type, ReadOnlySpan<byte> body = default, byte version = OfVersion.OpenFlow10)
    {
        Type = type;
        Body = body;
        Version = version;
    }

    public byte Version { get; }

    public OfType Type { get; }

    public ReadOnlySpan<byte> Body { get; }

    public int Length => OfMessage.HeaderLength + Body.Length;

    public static OfSimpleMessage Parse(OfMessage message) => new(message.Type, message.Body, message.Version);

    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        if (destination.Length < Length || !OfMessage.TryWriteHeader(destination, Version, Type, Length, xid))
        {
            return false;
        }
        Body.CopyTo(destination[OfMessage.HeaderLength..]);
        written = Length;
        return true;
    }
}

/// <summary>An error message (ofp_error_msg): type, code and (usually) the start of the offending message.</summary>
public readonly ref struct OfErrorMessage
{
    public const int Size = 12;
    private const int TypeOffset = 8;
    private const int CodeOffset = 10;

    public OfErrorMessage(OfErrorType type, ushort code, ReadOnlySpan<byte> data, byte version = OfVersion.OpenFlow10)
    {
        ErrorType = type;
        Code = code;
        Data = data;
        Version = version;
    }

    public byte Version { get; }

    public OfErrorType ErrorType { get; }

    public ushort Code { get; }

    public ReadOnlySpan<byte> Data { get; }

    public int Length => Size + Data.Length;

    public static bool TryParse(OfMessage message, out OfErrorMessage error)
    {
        error = default;
        if (message.Type != OfType.Error || message.Length < Size)
        {
            return false;
        }
        var bytes = message.Bytes;
        error = new OfErrorMessage((OfErrorType)BinaryPrimitives.ReadUInt16BigEndian(bytes[TypeOffset..]), BinaryPrimitives.ReadUInt16BigEndian(bytes[CodeOffset..]), bytes[Size..], message.Version);
        return true;
    }

    /// <summary>Writes the error; <see cref="Data"/> is cut to what fits (the spec asks for at least 64 bytes of it).</summary>
    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        var data = Data[..Math.Min(Data.Length, Math.Min(OfMessage.MaxLength, destination.Length) - Size)];
        if (destination.Length < Size || !OfMessage.TryWriteHeader(destination, Version, OfType.Error, Size + data.Length, xid))
        {
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(destination[TypeOffset..], (ushort)ErrorType);
        BinaryPrimitives.WriteUInt16BigEndian(destination[CodeOffset..], Code);
        data.CopyTo(destination[Size..]);
        written = Size + data.Length;
        return true;
    }
}

/// <summary>set_config and get_config_reply (ofp_switch_config).</summary>
public readonly record struct OfSwitchConfig(ushort Flags, ushort MissSendLength, byte Version = OfVersion.OpenFlow10)
{
    public const int Size = 12;
    private const int FlagsOffset = 8;
    private const int MissSendLengthOffset = 10;

    public static bool TryParse(OfMessage message, out OfSwitchConfig config)
    {
        config = default;
        if (message.Type is not (OfType.SetConfig or OfType.GetConfigReply) || message.Length < Size)
        {
            return false;
        }
        config = new OfSwitchConfig(BinaryPrimitives.ReadUInt16BigEndian(message.Bytes[FlagsOffset..]), BinaryPrimitives.ReadUInt16BigEndian(message.Bytes[MissSendLengthOffset..]), message.Version);
        return true;
    }

    public bool TryWrite(Span<byte> destination, OfType type, uint xid, out int written)
    {
        written = 0;
        if (type is not (OfType.SetConfig or OfType.GetConfigReply) || !OfMessage.TryWriteHeader(destination, Version, type, Size, xid) || destination.Length < Size)
        {
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(destination[FlagsOffset..], Flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[MissSendLengthOffset..], MissSendLength);
        written = Size;
        return true;
    }
}

/// <summary>
/// A hello with its elements (OpenFlow 1.3.1+ section 7.5.1): the version bitmap element (type 1) lists every version a
/// peer speaks; a 1.0 hello has no elements. Negotiation (section 6.3.1): with bitmaps on both sides, the highest
/// version in both; otherwise the lower of the two header versions.
/// </summary>
public readonly ref struct OfHello
{
    private const ushort VersionBitmapType = 1;
    private const int ElementHeaderLength = 4;

    public OfHello(byte version, uint versionBitmap)
    {
        Version = version;
        VersionBitmap = versionBitmap;
    }

    /// <summary>The header's version: the highest the peer speaks.</summary>
    public byte Version { get; }

    /// <summary>Bit n set: version n is spoken (versions 0..31); 0 when the hello carries no bitmap.</summary>
    public uint VersionBitmap { get; }

    /// <summary>Parses a hello; unknown elements are skipped, a malformed element list ends the parse (the header version stands).</summary>
    public static bool TryParse(OfMessage message, out OfHello hello)
    {
        hello = default;
        if (message.Type != OfType.Hello)
        {
            return false;
        }
        uint bitmap = 0;
        var body = message.Body;
        while (body.Length >= ElementHeaderLength)
        {
            var type = BinaryPrimitives.ReadUInt16BigEndian(body);
            int length = BinaryPrimitives.ReadUInt16BigEndian(body[2..]);
            if (length < ElementHeaderLength || length > body.Length)
            {
                break;
            }
            if (type == VersionBitmapType && length >= ElementHeaderLength + 4)
            {
                bitmap = BinaryPrimitives.ReadUInt32BigEndian(body[ElementHeaderLength..]); // the first word covers versions 0..31
            }
            var padded = (length + 7) / 8 * 8;
            body = body[Math.Min(padded, body.Length)..];
        }
        hello = new OfHello(message.Version, bitmap);
        return true;
    }

    /// <summary>Writes the hello, with a version bitmap element when <see cref="VersionBitmap"/> is not 0.</summary>
    public bool TryWrite(Span<byte> destination, uint xid, out int written)
    {
        written = 0;
        var length = OfMessage.HeaderLength + (VersionBitmap == 0 ? 0 : 8);
        if (destination.Length < length || !OfMessage.TryWriteHeader(destination, Version, OfType.Hello, length, xid))
        {
            return false;
        }
        if (VersionBitmap != 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination[8..], VersionBitmapType);
            BinaryPrimitives.WriteUInt16BigEndian(destination[10..], 8);
            BinaryPrimitives.WriteUInt32BigEndian(destination[12..], VersionBitmap);
        }
        written = length;
        return true;
    }

    /// <summary>The version to speak with a peer whose hello is <paramref name="peer"/>, when we speak the versions in <paramref name="ours"/>; 0: none in common.</summary>
    public static byte Negotiate(uint ours, OfHello peer)
    {
        var common = peer.VersionBitmap != 0
            ? ours & peer.VersionBitmap
            : ours & (peer.Version >= 31 ? uint.MaxValue : (2u << peer.Version) - 1);
        return common == 0 ? (byte)0 : (byte)(31 - System.Numerics.BitOperations.LeadingZeroCount(common));
    }
}
