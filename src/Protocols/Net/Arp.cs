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
    public const int HardwareTypeOffset = 0;
    public const int ProtocolTypeOffset = 2;
    public const int HardwareLengthOffset = 4;
    public const int ProtocolLengthOffset = 5;
    public const int OperationOffset = 6;

    /// <summary>Where the variable-length addresses start (sender hardware, sender protocol, target hardware, target protocol).</summary>
    public const int AddressesOffset = 8;

    /// <summary>The length of an Ethernet/IPv4 ARP packet.</summary>
    public const int EthernetIPv4Length = 28;

    // Offsets of the addresses in an Ethernet/IPv4 packet (hardware length 6, protocol length 4).
    internal const int EthernetSenderHardwareOffset = AddressesOffset;
    internal const int EthernetSenderProtocolOffset = EthernetSenderHardwareOffset + MacAddress.Length;
    internal const int EthernetTargetHardwareOffset = EthernetSenderProtocolOffset + 4;
    internal const int EthernetTargetProtocolOffset = EthernetTargetHardwareOffset + MacAddress.Length;

    private readonly ReadOnlySpan<byte> _bytes;

    private ArpPacket(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out ArpPacket packet) => TryCreate(bytes, out packet, out _);

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out ArpPacket packet, out ParseError error)
    {
        packet = default;
        if (bytes.Length < AddressesOffset)
        {
            error = ParseError.Truncated;
            return false;
        }
        var total = AddressesOffset + (2 * (bytes[HardwareLengthOffset] + bytes[ProtocolLengthOffset]));
        if (bytes.Length < total)
        {
            error = ParseError.Truncated;
            return false;
        }
        packet = new ArpPacket(bytes[..total]);
        error = ParseError.None;
        return true;
    }

    public ushort HardwareType => BinaryPrimitives.ReadUInt16BigEndian(_bytes[HardwareTypeOffset..]);

    public ushort ProtocolType => BinaryPrimitives.ReadUInt16BigEndian(_bytes[ProtocolTypeOffset..]);

    public byte HardwareLength => _bytes[HardwareLengthOffset];

    public byte ProtocolLength => _bytes[ProtocolLengthOffset];

    public ushort Operation => BinaryPrimitives.ReadUInt16BigEndian(_bytes[OperationOffset..]);

    public ReadOnlySpan<byte> SenderHardwareAddress => _bytes.Slice(AddressesOffset, HardwareLength);

    public ReadOnlySpan<byte> SenderProtocolAddress => _bytes.Slice(AddressesOffset + HardwareLength, ProtocolLength);

    public ReadOnlySpan<byte> TargetHardwareAddress => _bytes.Slice(AddressesOffset + HardwareLength + ProtocolLength, HardwareLength);

    public ReadOnlySpan<byte> TargetProtocolAddress => _bytes.Slice(AddressesOffset + (2 * HardwareLength) + ProtocolLength, ProtocolLength);
}

/// <summary>A parsed Ethernet/IPv4 ARP packet.</summary>
public readonly record struct ArpRepr(
    ArpOperation Operation, MacAddress SenderHardwareAddress, uint SenderProtocolAddress, MacAddress TargetHardwareAddress, uint TargetProtocolAddress)
{
    public static bool TryParse(ReadOnlySpan<byte> bytes, out ArpRepr repr) => TryParse(bytes, out repr, out _);

    public static bool TryParse(ReadOnlySpan<byte> bytes, out ArpRepr repr, out ParseError error)
    {
        repr = default;
        if (!ArpPacket.TryCreate(bytes, out var packet, out error))
        {
            return false;
        }
        if (packet.HardwareType != 1 || packet.ProtocolType != EtherType.IPv4 || packet.HardwareLength != MacAddress.Length || packet.ProtocolLength != 4
            || packet.Operation is not ((ushort)ArpOperation.Request or (ushort)ArpOperation.Reply))
        {
            error = ParseError.Unsupported;
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
        BinaryPrimitives.WriteUInt16BigEndian(destination[ArpPacket.HardwareTypeOffset..], 1);
        BinaryPrimitives.WriteUInt16BigEndian(destination[ArpPacket.ProtocolTypeOffset..], EtherType.IPv4);
        destination[ArpPacket.HardwareLengthOffset] = MacAddress.Length;
        destination[ArpPacket.ProtocolLengthOffset] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(destination[ArpPacket.OperationOffset..], (ushort)Operation);
        SenderHardwareAddress.Write(destination[ArpPacket.EthernetSenderHardwareOffset..]);
        IPv4Address.Write(destination[ArpPacket.EthernetSenderProtocolOffset..], SenderProtocolAddress);
        TargetHardwareAddress.Write(destination[ArpPacket.EthernetTargetHardwareOffset..]);
        IPv4Address.Write(destination[ArpPacket.EthernetTargetProtocolOffset..], TargetProtocolAddress);
        written = ArpPacket.EthernetIPv4Length;
        return true;
    }
}
