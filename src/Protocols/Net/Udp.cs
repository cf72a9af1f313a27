using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Net;

/// <summary>A checked view of a UDP datagram (RFC 768): the header fits and its length field covers it and fits the buffer.</summary>
public readonly ref struct UdpPacket
{
    public const int SourcePortOffset = 0;
    public const int DestinationPortOffset = 2;
    public const int LengthOffset = 4;
    public const int ChecksumOffset = 6;
    public const int HeaderLength = 8;

    private readonly ReadOnlySpan<byte> _bytes;

    private UdpPacket(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out UdpPacket packet) => TryCreate(bytes, out packet, out _);

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out UdpPacket packet, out ParseError error)
    {
        packet = default;
        if (bytes.Length < HeaderLength)
        {
            error = ParseError.Truncated;
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[LengthOffset..]);
        if (length < HeaderLength)
        {
            error = ParseError.BadLength;
            return false;
        }
        if (length > bytes.Length)
        {
            error = ParseError.Truncated;
            return false;
        }
        packet = new UdpPacket(bytes[..length]);
        error = ParseError.None;
        return true;
    }

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[SourcePortOffset..]);

    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[DestinationPortOffset..]);

    public int Length => _bytes.Length;

    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[ChecksumOffset..]);

    public ReadOnlySpan<byte> Payload => _bytes[HeaderLength..];

    /// <summary>True when the checksum is absent (0, allowed over IPv4) or correct for the pseudo-header.</summary>
    public bool IsChecksumValid(uint source, uint destination) =>
        Checksum == 0 || InternetChecksum.Finish(InternetChecksum.Add(InternetChecksum.PseudoHeader(source, destination, IPProtocol.Udp, _bytes.Length), _bytes)) == 0;
}

/// <summary>A parsed UDP datagram.</summary>
public readonly ref struct UdpRepr
{
    public UdpRepr(ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        SourcePort = sourcePort;
        DestinationPort = destinationPort;
        Payload = payload;
    }

    public ushort SourcePort { get; }

    public ushort DestinationPort { get; }

    public ReadOnlySpan<byte> Payload { get; }

    public int Length => UdpPacket.HeaderLength + Payload.Length;

    /// <summary>Parses a checked datagram; false when the checksum is wrong.</summary>
    public static bool TryParse(UdpPacket packet, uint source, uint destination, out UdpRepr repr) => TryParse(packet, source, destination, out repr, out _);

    public static bool TryParse(UdpPacket packet, uint source, uint destination, out UdpRepr repr, out ParseError error)
    {
        error = packet.IsChecksumValid(source, destination) ? ParseError.None : ParseError.BadChecksum;
        if (error != ParseError.None)
        {
            repr = default;
            return false;
        }
        repr = new UdpRepr(packet.SourcePort, packet.DestinationPort, packet.Payload);
        return true;
    }

    /// <summary>Writes header, payload and checksum (for the pseudo-header of <paramref name="source"/> and <paramref name="destination"/>).</summary>
    public bool TryWrite(Span<byte> destination, uint source, uint destinationAddress, out int written)
    {
        written = 0;
        if (destination.Length < Length || Length > IPv4Packet.MaxLength - IPv4Repr.HeaderLength)
        {
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(destination[UdpPacket.SourcePortOffset..], SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[UdpPacket.DestinationPortOffset..], DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[UdpPacket.LengthOffset..], (ushort)Length);
        BinaryPrimitives.WriteUInt16BigEndian(destination[UdpPacket.ChecksumOffset..], 0);
        if (!Payload.Overlaps(destination[UdpPacket.HeaderLength..], out var offset) || offset != 0)
        {
            Payload.CopyTo(destination[UdpPacket.HeaderLength..]);
        }
        var sum = InternetChecksum.Add(InternetChecksum.PseudoHeader(source, destinationAddress, IPProtocol.Udp, Length), destination[..Length]);
        var checksum = InternetChecksum.Finish(sum);
        BinaryPrimitives.WriteUInt16BigEndian(destination[UdpPacket.ChecksumOffset..], checksum == 0 ? (ushort)0xFFFF : checksum);
        written = Length;
        return true;
    }
}
