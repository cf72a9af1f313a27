using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Net;

public static class EtherType
{
    public const ushort IPv4 = 0x0800;
    public const ushort Arp = 0x0806;
    public const ushort IPv6 = 0x86DD;
}

/// <summary>A checked view of an Ethernet II frame: once created, no accessor can fail.</summary>
public readonly ref struct EthernetFrame
{
    public const int DestinationOffset = 0;
    public const int SourceOffset = 6;
    public const int EtherTypeOffset = 12;
    public const int HeaderLength = 14;

    /// <summary>The shortest frame on the wire without its FCS (shorter ones are padded).</summary>
    public const int MinimumLength = 60;

    private readonly ReadOnlySpan<byte> _bytes;

    private EthernetFrame(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out EthernetFrame frame) => TryCreate(bytes, out frame, out _);

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out EthernetFrame frame, out ParseError error)
    {
        error = bytes.Length >= HeaderLength ? ParseError.None : ParseError.Truncated;
        frame = error == ParseError.None ? new EthernetFrame(bytes) : default;
        return error == ParseError.None;
    }

    public MacAddress Destination => MacAddress.Read(_bytes[DestinationOffset..]);

    public MacAddress Source => MacAddress.Read(_bytes[SourceOffset..]);

    public ushort EtherType => BinaryPrimitives.ReadUInt16BigEndian(_bytes[EtherTypeOffset..]);

    public ReadOnlySpan<byte> Payload => _bytes[HeaderLength..];
}

/// <summary>The parsed header of an Ethernet II frame.</summary>
public readonly record struct EthernetRepr(MacAddress Destination, MacAddress Source, ushort EtherType)
{
    public static bool TryParse(ReadOnlySpan<byte> bytes, out EthernetRepr repr)
    {
        if (!EthernetFrame.TryCreate(bytes, out var frame))
        {
            repr = default;
            return false;
        }
        repr = new EthernetRepr(frame.Destination, frame.Source, frame.EtherType);
        return true;
    }

    /// <summary>Writes the 14-byte header; the payload goes after it.</summary>
    public bool TryWrite(Span<byte> destination, out int written)
    {
        if (destination.Length < EthernetFrame.HeaderLength)
        {
            written = 0;
            return false;
        }
        Destination.Write(destination[EthernetFrame.DestinationOffset..]);
        Source.Write(destination[EthernetFrame.SourceOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[EthernetFrame.EtherTypeOffset..], EtherType);
        written = EthernetFrame.HeaderLength;
        return true;
    }
}
