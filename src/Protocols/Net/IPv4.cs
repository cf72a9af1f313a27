using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Net;

public static class IPProtocol
{
    public const byte Icmp = 1;
    public const byte Tcp = 6;
    public const byte Udp = 17;
}

/// <summary>
/// A checked view of an IPv4 packet (RFC 791): version 4, a header length of at least 20 bytes that fits, and a total
/// length that covers the header and fits the buffer (trailing link padding is cut off). The checksum is not checked here.
/// </summary>
public readonly ref struct IPv4Packet
{
    public const int MinHeaderLength = 20;
    public const int MaxLength = 65535;

    private readonly ReadOnlySpan<byte> _bytes;

    private IPv4Packet(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out IPv4Packet packet)
    {
        packet = default;
        if (bytes.Length < MinHeaderLength || bytes[0] >> 4 != 4)
        {
            return false;
        }
        var headerLength = (bytes[0] & 0xF) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]);
        if (headerLength < MinHeaderLength || totalLength < headerLength || totalLength > bytes.Length)
        {
            return false;
        }
        packet = new IPv4Packet(bytes[..totalLength]);
        return true;
    }

    public int HeaderLength => (_bytes[0] & 0xF) * 4;

    public byte TypeOfService => _bytes[1];

    public int TotalLength => _bytes.Length;

    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_bytes[4..]);

    public bool DontFragment => (_bytes[6] & 0x40) != 0;

    public bool MoreFragments => (_bytes[6] & 0x20) != 0;

    /// <summary>The fragment offset in bytes.</summary>
    public int FragmentOffset => (BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]) & 0x1FFF) * 8;

    public bool IsFragment => MoreFragments || FragmentOffset != 0;

    public byte TimeToLive => _bytes[8];

    public byte Protocol => _bytes[9];

    public ushort HeaderChecksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[10..]);

    public uint Source => BinaryPrimitives.ReadUInt32BigEndian(_bytes[12..]);

    public uint Destination => BinaryPrimitives.ReadUInt32BigEndian(_bytes[16..]);

    public bool IsChecksumValid => InternetChecksum.Compute(Header) == 0;

    public ReadOnlySpan<byte> Header => _bytes[..HeaderLength];

    public ReadOnlySpan<byte> Payload => _bytes[HeaderLength..];

    public ReadOnlySpan<byte> Bytes => _bytes;
}

/// <summary>A parsed IPv4 header (options are not kept; we never send any).</summary>
public readonly record struct IPv4Repr(
    uint Source, uint Destination, byte Protocol, int PayloadLength, byte TimeToLive = 64,
    ushort Identification = 0, bool DontFragment = false, bool MoreFragments = false, int FragmentOffset = 0)
{
    public const int HeaderLength = IPv4Packet.MinHeaderLength;

    /// <summary>Parses a checked packet; false when the header checksum is wrong.</summary>
    public static bool TryParse(IPv4Packet packet, out IPv4Repr repr)
    {
        if (!packet.IsChecksumValid)
        {
            repr = default;
            return false;
        }
        repr = new IPv4Repr(packet.Source, packet.Destination, packet.Protocol, packet.Payload.Length, packet.TimeToLive,
            packet.Identification, packet.DontFragment, packet.MoreFragments, packet.FragmentOffset);
        return true;
    }

    /// <summary>Writes the 20-byte header with its checksum; the payload goes after it.</summary>
    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        var total = HeaderLength + PayloadLength;
        if (destination.Length < HeaderLength || PayloadLength < 0 || total > IPv4Packet.MaxLength
            || FragmentOffset < 0 || FragmentOffset % 8 != 0 || FragmentOffset / 8 > 0x1FFF)
        {
            return false;
        }
        destination[0] = 0x45;
        destination[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)total);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], Identification);
        var flags = (DontFragment ? 0x4000 : 0) | (MoreFragments ? 0x2000 : 0) | (FragmentOffset / 8);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)flags);
        destination[8] = TimeToLive;
        destination[9] = Protocol;
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], Source);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], Destination);
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], InternetChecksum.Compute(destination[..HeaderLength]));
        written = HeaderLength;
        return true;
    }
}
