using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Net;

public static class IcmpType
{
    public const byte EchoReply = 0;
    public const byte DestinationUnreachable = 3;
    public const byte EchoRequest = 8;
    public const byte TimeExceeded = 11;
}

public static class IcmpTimeExceededCode
{
    public const byte TimeToLive = 0;
    public const byte Reassembly = 1;
}

public static class IcmpUnreachableCode
{
    public const byte Protocol = 2;
    public const byte Port = 3;
    public const byte FragmentationNeeded = 4;
}

/// <summary>A checked view of an ICMPv4 message (RFC 792): at least the 8-byte header.</summary>
public readonly ref struct IcmpPacket
{
    public const int TypeOffset = 0;
    public const int CodeOffset = 1;
    public const int ChecksumOffset = 2;

    /// <summary>Echo: the identifier; errors: unused (or the next-hop MTU for fragmentation needed).</summary>
    public const int IdentifierOffset = 4;

    /// <summary>Echo: the sequence number.</summary>
    public const int SequenceNumberOffset = 6;
    public const int HeaderLength = 8;

    private readonly ReadOnlySpan<byte> _bytes;

    private IcmpPacket(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out IcmpPacket packet) => TryCreate(bytes, out packet, out _);

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out IcmpPacket packet, out ParseError error)
    {
        error = bytes.Length >= HeaderLength ? ParseError.None : ParseError.Truncated;
        packet = error == ParseError.None ? new IcmpPacket(bytes) : default;
        return error == ParseError.None;
    }

    public byte Type => _bytes[TypeOffset];

    public byte Code => _bytes[CodeOffset];

    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[ChecksumOffset..]);

    /// <summary>Echo: the identifier.</summary>
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_bytes[IdentifierOffset..]);

    /// <summary>Echo: the sequence number.</summary>
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_bytes[SequenceNumberOffset..]);

    public bool IsChecksumValid => InternetChecksum.Compute(_bytes) == 0;

    /// <summary>What follows the 8-byte header: echo data, or the original datagram's header and first bytes.</summary>
    public ReadOnlySpan<byte> Data => _bytes[HeaderLength..];
}

/// <summary>A parsed ICMP message of the kinds the stack handles (echo request/reply, destination unreachable).</summary>
public readonly ref struct IcmpRepr
{
    public IcmpRepr(byte type, byte code, ushort identifier, ushort sequenceNumber, ReadOnlySpan<byte> data)
    {
        Type = type;
        Code = code;
        Identifier = identifier;
        SequenceNumber = sequenceNumber;
        Data = data;
    }

    public byte Type { get; }

    public byte Code { get; }

    public ushort Identifier { get; }

    public ushort SequenceNumber { get; }

    public ReadOnlySpan<byte> Data { get; }

    public int Length => IcmpPacket.HeaderLength + Data.Length;

    public static IcmpRepr Echo(bool request, ushort identifier, ushort sequenceNumber, ReadOnlySpan<byte> data) =>
        new(request ? IcmpType.EchoRequest : IcmpType.EchoReply, 0, identifier, sequenceNumber, data);

    /// <summary>Destination unreachable quoting <paramref name="original"/> (its IP header and first bytes).</summary>
    public static IcmpRepr Unreachable(byte code, ReadOnlySpan<byte> original) =>
        new(IcmpType.DestinationUnreachable, code, 0, 0, original);

    /// <summary>Parses a checked message; false when the checksum is wrong.</summary>
    public static bool TryParse(IcmpPacket packet, out IcmpRepr repr) => TryParse(packet, out repr, out _);

    public static bool TryParse(IcmpPacket packet, out IcmpRepr repr, out ParseError error)
    {
        error = packet.IsChecksumValid ? ParseError.None : ParseError.BadChecksum;
        if (error != ParseError.None)
        {
            repr = default;
            return false;
        }
        var echo = packet.Type is IcmpType.EchoRequest or IcmpType.EchoReply;
        repr = new IcmpRepr(packet.Type, packet.Code, echo ? packet.Identifier : (ushort)0, echo ? packet.SequenceNumber : (ushort)0, packet.Data);
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Length)
        {
            return false;
        }
        destination[IcmpPacket.TypeOffset] = Type;
        destination[IcmpPacket.CodeOffset] = Code;
        BinaryPrimitives.WriteUInt16BigEndian(destination[IcmpPacket.ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(destination[IcmpPacket.IdentifierOffset..], Identifier);
        BinaryPrimitives.WriteUInt16BigEndian(destination[IcmpPacket.SequenceNumberOffset..], SequenceNumber);
        if (!Data.Overlaps(destination[IcmpPacket.HeaderLength..], out var offset) || offset != 0)
        {
            Data.CopyTo(destination[IcmpPacket.HeaderLength..]);
        }
        BinaryPrimitives.WriteUInt16BigEndian(destination[IcmpPacket.ChecksumOffset..], InternetChecksum.Compute(destination[..Length]));
        written = Length;
        return true;
    }
}
