using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Net;

public enum ArpOperation : ushort
{
    Request = 1,
    Reply = 2,
}

/// <summary>A checked view of an ARP packet (RFC 826) of any hardware and protocol type.</summary>
public readonly ref struct ArpPacket
{
    /// <summary>The length of an Ethernet/IPv4 ARP packet.</summary>
    public const int EthernetIPv4Length = 28;
    private const int FixedLength = 8;

    private readonly ReadOnlySpan<byte> _bytes;

    private ArpPacket(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out ArpPacket packet)
    {
        packet = default;
        if (bytes.Length < FixedLength)
        {
            return false;
        }
        var total = FixedLength + (2 * (bytes[4] + bytes[5]));
        if (bytes.Length < total)
        {
            return false;
        }
        packet = new ArpPacket(bytes[..total]);
        return true;
    }

    public ushort HardwareType => BinaryPrimitives.ReadUInt16BigEndian(_bytes);

    public ushort ProtocolType => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]);

    public byte HardwareLength => _bytes[4];

    public byte ProtocolLength => _bytes[5];

    public ushort Operation => BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]);

    public ReadOnlySpan<byte> SenderHardwareAddress => _bytes.Slice(FixedLength, HardwareLength);

    public ReadOnlySpan<byte> SenderProtocolAddress => _bytes.Slice(FixedLength + HardwareLength, ProtocolLength);

    public ReadOnlySpan<byte> TargetHardwareAddress => _bytes.Slice(FixedLength + HardwareLength + ProtocolLength, HardwareLength);

    public ReadOnlySpan<byte> TargetProtocolAddress => _bytes.Slice(FixedLength + (2 * HardwareLength) + ProtocolLength, ProtocolLength);
}

/// <summary>A parsed Ethernet/IPv4 ARP packet.</summary>
public readonly record struct ArpRepr(
    ArpOperation Operation, MacAddress SenderHardwareAddress, uint SenderProtocolAddress, MacAddress TargetHardwareAddress, uint TargetProtocolAddress)
{
    public static bool TryParse(ReadOnlySpan<byte> bytes, out ArpRepr repr)
    {
        repr = default;
        if (!ArpPacket.TryCreate(bytes, out var packet)
            || packet.HardwareType != 1 || packet.ProtocolType != EtherType.IPv4 || packet.HardwareLength != 6 || packet.ProtocolLength != 4
            || packet.Operation is not ((ushort)ArpOperation.Request or (ushort)ArpOperation.Reply))
        {
            return false;
        }
        repr = new ArpRepr(
            (ArpOperation)packet.Operation,
            MacAddress.Read(packet.SenderHardwareAddress),
            IPv4Address.Read(packet.SenderProtocolAddress),
            MacAddress.Read(packet.TargetHardwareAddress),
            IPv4Address.Read(packet.TargetProtocolAddress));
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < ArpPacket.EthernetIPv4Length)
        {
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(destination, 1);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], EtherType.IPv4);
        destination[4] = 6;
        destination[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)Operation);
        SenderHardwareAddress.Write(destination[8..]);
        IPv4Address.Write(destination[14..], SenderProtocolAddress);
        TargetHardwareAddress.Write(destination[18..]);
        IPv4Address.Write(destination[24..], TargetProtocolAddress);
        written = ArpPacket.EthernetIPv4Length;
        return true;
    }
}
