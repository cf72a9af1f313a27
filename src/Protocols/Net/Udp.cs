using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Net;

/// <summary>A checked view of a UDP datagram (RFC 768): the header fits and its length field covers it and fits the buffer.</summary>
public readonly ref struct UdpPacket
{
    public const int HeaderLength = 8;

    private readonly ReadOnlySpan<byte> _bytes;

    private UdpPacket(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out UdpPacket packet)
    {
        packet = default;
        if (bytes.Length < HeaderLength)
        {
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]);
        if (length < HeaderLength || length > bytes.Length)
        {
            return false;
        }
        packet = new UdpPacket(bytes[..length]);
        return true;
    }

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_bytes);

    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]);

    public int Length => _bytes.Length;

    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]);

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
    public static bool TryParse(UdpPacket packet, uint source, uint destination, out UdpRepr repr)
    {
        if (!packet.IsChecksumValid(source, destination))
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
        BinaryPrimitives.WriteUInt16BigEndian(destination, SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)Length);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], 0);
        if (!Payload.Overlaps(destination[UdpPacket.HeaderLength..], out var offset) || offset != 0)
        {
            Payload.CopyTo(destination[UdpPacket.HeaderLength..]);
        }
        var sum = InternetChecksum.Add(InternetChecksum.PseudoHeader(source, destinationAddress, IPProtocol.Udp, Length), destination[..Length]);
        var checksum = InternetChecksum.Finish(sum);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], checksum == 0 ? (ushort)0xFFFF : checksum);
        written = Length;
        return true;
    }
}
