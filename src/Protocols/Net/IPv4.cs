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
    public const int VersionAndHeaderLengthOffset = 0;
    public const int TypeOfServiceOffset = 1;
    public const int TotalLengthOffset = 2;
    public const int IdentificationOffset = 4;
    public const int FlagsAndFragmentOffset = 6;
    public const int TimeToLiveOffset = 8;
    public const int ProtocolOffset = 9;
    public const int ChecksumOffset = 10;
    public const int SourceOffset = 12;
    public const int DestinationOffset = 16;
    public const int MinHeaderLength = 20;
    public const int MaxLength = 65535;

    internal const int DontFragmentFlag = 0x4000;
    internal const int MoreFragmentsFlag = 0x2000;
    internal const int FragmentOffsetMask = 0x1FFF;

    private readonly ReadOnlySpan<byte> _bytes;

    private IPv4Packet(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out IPv4Packet packet) => TryCreate(bytes, out packet, out _);

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out IPv4Packet packet, out ParseError error)
    {
        packet = default;
        if (bytes.Length < MinHeaderLength)
        {
            error = ParseError.Truncated;
            return false;
        }
        if (bytes[VersionAndHeaderLengthOffset] >> 4 != 4)
        {
            error = ParseError.Unsupported;
            return false;
        }
        var headerLength = (bytes[VersionAndHeaderLengthOffset] & 0xF) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(bytes[TotalLengthOffset..]);
        if (headerLength < MinHeaderLength || totalLength < headerLength)
        {
            error = ParseError.BadLength;
            return false;
        }
        if (totalLength > bytes.Length)
        {
            error = ParseError.Truncated;
            return false;
        }
        packet = new IPv4Packet(bytes[..totalLength]);
        error = ParseError.None;
        return true;
    }

    public int HeaderLength => (_bytes[VersionAndHeaderLengthOffset] & 0xF) * 4;

    public byte TypeOfService => _bytes[TypeOfServiceOffset];

    public int TotalLength => _bytes.Length;

    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_bytes[IdentificationOffset..]);

    public bool DontFragment => (BinaryPrimitives.ReadUInt16BigEndian(_bytes[FlagsAndFragmentOffset..]) & DontFragmentFlag) != 0;

    public bool MoreFragments => (BinaryPrimitives.ReadUInt16BigEndian(_bytes[FlagsAndFragmentOffset..]) & MoreFragmentsFlag) != 0;

    /// <summary>The fragment offset in bytes.</summary>
    public int FragmentOffset => (BinaryPrimitives.ReadUInt16BigEndian(_bytes[FlagsAndFragmentOffset..]) & FragmentOffsetMask) * 8;

    public bool IsFragment => MoreFragments || FragmentOffset != 0;

    public byte TimeToLive => _bytes[TimeToLiveOffset];

    public byte Protocol => _bytes[ProtocolOffset];

    public ushort HeaderChecksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[ChecksumOffset..]);

    public uint Source => BinaryPrimitives.ReadUInt32BigEndian(_bytes[SourceOffset..]);

    public uint Destination => BinaryPrimitives.ReadUInt32BigEndian(_bytes[DestinationOffset..]);

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
    public static bool TryParse(IPv4Packet packet, out IPv4Repr repr) => TryParse(packet, out repr, out _);

    public static bool TryParse(IPv4Packet packet, out IPv4Repr repr, out ParseError error)
    {
        if (!packet.IsChecksumValid)
        {
            repr = default;
            error = ParseError.BadChecksum;
            return false;
        }
        repr = new IPv4Repr(packet.Source, packet.Destination, packet.Protocol, packet.Payload.Length, packet.TimeToLive,
            packet.Identification, packet.DontFragment, packet.MoreFragments, packet.FragmentOffset);
        error = ParseError.None;
        return true;
    }

    /// <summary>Writes the 20-byte header with its checksum; the payload goes after it.</summary>
    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        var total = HeaderLength + PayloadLength;
        if (destination.Length < HeaderLength || PayloadLength < 0 || total > IPv4Packet.MaxLength
            || FragmentOffset < 0 || FragmentOffset % 8 != 0 || FragmentOffset / 8 > IPv4Packet.FragmentOffsetMask)
        {
            return false;
        }
        destination[IPv4Packet.VersionAndHeaderLengthOffset] = 0x40 | (HeaderLength / 4);
        destination[IPv4Packet.TypeOfServiceOffset] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination[IPv4Packet.TotalLengthOffset..], (ushort)total);
        BinaryPrimitives.WriteUInt16BigEndian(destination[IPv4Packet.IdentificationOffset..], Identification);
        var flags = (DontFragment ? IPv4Packet.DontFragmentFlag : 0) | (MoreFragments ? IPv4Packet.MoreFragmentsFlag : 0) | (FragmentOffset / 8);
        BinaryPrimitives.WriteUInt16BigEndian(destination[IPv4Packet.FlagsAndFragmentOffset..], (ushort)flags);
        destination[IPv4Packet.TimeToLiveOffset] = TimeToLive;
        destination[IPv4Packet.ProtocolOffset] = Protocol;
        BinaryPrimitives.WriteUInt16BigEndian(destination[IPv4Packet.ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(destination[IPv4Packet.SourceOffset..], Source);
        BinaryPrimitives.WriteUInt32BigEndian(destination[IPv4Packet.DestinationOffset..], Destination);
        BinaryPrimitives.WriteUInt16BigEndian(destination[IPv4Packet.ChecksumOffset..], InternetChecksum.Compute(destination[..HeaderLength]));
        written = HeaderLength;
        return true;
    }
}
