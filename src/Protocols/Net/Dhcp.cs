using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Net;

public enum DhcpMessageType : byte
{
    None = 0,
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

public static class DhcpOption
{
    public const byte Pad = 0;
    public const byte SubnetMask = 1;
    public const byte Router = 3;
    public const byte DomainNameServer = 6;
    public const byte RequestedIPAddress = 50;
    public const byte LeaseTime = 51;
    public const byte MessageType = 53;
    public const byte ServerIdentifier = 54;
    public const byte ParameterRequestList = 55;
    public const byte MaxMessageSize = 57;
    public const byte RenewalTime = 58;
    public const byte RebindingTime = 59;
    public const byte ClientIdentifier = 61;
    public const byte End = 255;
}

/// <summary>A checked view of a DHCP message (RFC 2131): the fixed BOOTP part and the magic cookie are present.</summary>
public readonly ref struct DhcpPacket
{
    public const int OperationOffset = 0;
    public const int HardwareTypeOffset = 1;
    public const int HardwareLengthOffset = 2;
    public const int TransactionIdOffset = 4;
    public const int SecondsOffset = 8;
    public const int FlagsOffset = 10;
    public const int ClientAddressOffset = 12;
    public const int YourAddressOffset = 16;
    public const int ServerAddressOffset = 20;
    public const int RelayAddressOffset = 24;
    public const int ClientHardwareAddressOffset = 28;
    public const int FixedLength = 236;
    public const int OptionsOffset = FixedLength + 4;
    public const uint MagicCookie = 0x63825363;
    public const ushort ServerPort = 67;
    public const ushort ClientPort = 68;

    private readonly ReadOnlySpan<byte> _bytes;

    private DhcpPacket(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out DhcpPacket packet) => TryCreate(bytes, out packet, out _);

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out DhcpPacket packet, out ParseError error)
    {
        packet = default;
        error = bytes.Length < OptionsOffset ? ParseError.Truncated
            : BinaryPrimitives.ReadUInt32BigEndian(bytes[FixedLength..]) != MagicCookie ? ParseError.Malformed
            : ParseError.None;
        if (error != ParseError.None)
        {
            return false;
        }
        packet = new DhcpPacket(bytes);
        return true;
    }

    public byte Operation => _bytes[OperationOffset];

    public byte HardwareType => _bytes[HardwareTypeOffset];

    public byte HardwareLength => _bytes[HardwareLengthOffset];

    public uint TransactionId => BinaryPrimitives.ReadUInt32BigEndian(_bytes[TransactionIdOffset..]);

    public ushort Seconds => BinaryPrimitives.ReadUInt16BigEndian(_bytes[SecondsOffset..]);

    public ushort Flags => BinaryPrimitives.ReadUInt16BigEndian(_bytes[FlagsOffset..]);

    public uint ClientAddress => BinaryPrimitives.ReadUInt32BigEndian(_bytes[ClientAddressOffset..]);

    public uint YourAddress => BinaryPrimitives.ReadUInt32BigEndian(_bytes[YourAddressOffset..]);

    public uint ServerAddress => BinaryPrimitives.ReadUInt32BigEndian(_bytes[ServerAddressOffset..]);

    public uint RelayAddress => BinaryPrimitives.ReadUInt32BigEndian(_bytes[RelayAddressOffset..]);

    public MacAddress ClientHardwareAddress => MacAddress.Read(_bytes[ClientHardwareAddressOffset..]);

    public ReadOnlySpan<byte> Options => _bytes[OptionsOffset..];
}

/// <summary>
/// A parsed DHCP message with the options the client uses. Addresses are numbers (0 = absent), times are seconds
/// (0 = absent).
/// </summary>
public record struct DhcpRepr
{
    public const byte BootRequest = 1;
    public const byte BootReply = 2;
    public const ushort BroadcastFlag = 0x8000;

    public byte Operation { get; set; }
    public uint TransactionId { get; set; }
    public ushort Seconds { get; set; }
    public ushort Flags { get; set; }
    public uint ClientAddress { get; set; }
    public uint YourAddress { get; set; }
    public uint ServerAddress { get; set; }
    public uint RelayAddress { get; set; }
    public MacAddress ClientHardwareAddress { get; set; }
    public DhcpMessageType MessageType { get; set; }
    public uint SubnetMask { get; set; }
    public uint Router { get; set; }
    public uint DnsServer { get; set; }
    public uint RequestedAddress { get; set; }
    public uint ServerIdentifier { get; set; }
    public uint LeaseSeconds { get; set; }
    public uint RenewalSeconds { get; set; }
    public uint RebindingSeconds { get; set; }
    public ushort MaxMessageSize { get; set; }

    /// <summary>Asks for subnet mask, router, DNS, lease time, T1 and T2 (option 55) and sends a client identifier (61).</summary>
    public bool ClientOptions { get; set; }

    public static bool TryParse(ReadOnlySpan<byte> bytes, out DhcpRepr repr) => TryParse(bytes, out repr, out _);

    public static bool TryParse(ReadOnlySpan<byte> bytes, out DhcpRepr repr, out ParseError error)
    {
        repr = default;
        if (!DhcpPacket.TryCreate(bytes, out var packet, out error))
        {
            return false;
        }
        if (packet.HardwareType != 1 || packet.HardwareLength != MacAddress.Length)
        {
            error = ParseError.Unsupported;
            return false;
        }
        repr.Operation = packet.Operation;
        repr.TransactionId = packet.TransactionId;
        repr.Seconds = packet.Seconds;
        repr.Flags = packet.Flags;
        repr.ClientAddress = packet.ClientAddress;
        repr.YourAddress = packet.YourAddress;
        repr.ServerAddress = packet.ServerAddress;
        repr.RelayAddress = packet.RelayAddress;
        repr.ClientHardwareAddress = packet.ClientHardwareAddress;
        var options = packet.Options;
        var i = 0;
        while (i < options.Length)
        {
            var code = options[i];
            if (code == DhcpOption.End)
            {
                break;
            }
            if (code == DhcpOption.Pad)
            {
                i++;
                continue;
            }
            if (i + 2 > options.Length || i + 2 + options[i + 1] > options.Length)
            {
                error = ParseError.Malformed;
                return false;
            }
            var value = options.Slice(i + 2, options[i + 1]);
            i += 2 + value.Length;
            switch (code)
            {
                case DhcpOption.MessageType when value.Length == 1:
                    repr.MessageType = (DhcpMessageType)value[0];
                    break;
                case DhcpOption.SubnetMask when value.Length == 4:
                    repr.SubnetMask = IPv4Address.Read(value);
                    break;
                case DhcpOption.Router when value.Length >= 4:
                    repr.Router = IPv4Address.Read(value);
                    break;
                case DhcpOption.DomainNameServer when value.Length >= 4:
                    repr.DnsServer = IPv4Address.Read(value);
                    break;
                case DhcpOption.RequestedIPAddress when value.Length == 4:
                    repr.RequestedAddress = IPv4Address.Read(value);
                    break;
                case DhcpOption.ServerIdentifier when value.Length == 4:
                    repr.ServerIdentifier = IPv4Address.Read(value);
                    break;
                case DhcpOption.LeaseTime when value.Length == 4:
                    repr.LeaseSeconds = BinaryPrimitives.ReadUInt32BigEndian(value);
                    break;
                case DhcpOption.RenewalTime when value.Length == 4:
                    repr.RenewalSeconds = BinaryPrimitives.ReadUInt32BigEndian(value);
                    break;
                case DhcpOption.RebindingTime when value.Length == 4:
                    repr.RebindingSeconds = BinaryPrimitives.ReadUInt32BigEndian(value);
                    break;
                case DhcpOption.MaxMessageSize when value.Length == 2:
                    repr.MaxMessageSize = BinaryPrimitives.ReadUInt16BigEndian(value);
                    break;
                case DhcpOption.ParameterRequestList:
                case DhcpOption.ClientIdentifier:
                    repr.ClientOptions = true;
                    break;
            }
        }
        error = repr.MessageType != DhcpMessageType.None ? ParseError.None : ParseError.Malformed;
        return error == ParseError.None;
    }

    /// <summary>An upper bound of what <see cref="TryWrite"/> writes.</summary>
    public const int MaxLength = DhcpPacket.OptionsOffset + 80;

    /// <summary>Messages are padded to the 300 bytes of a BOOTP message, which some servers still expect.</summary>
    public const int MinLength = 300;

    public readonly bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < MaxLength)
        {
            return false;
        }
        destination[..DhcpPacket.OptionsOffset].Clear();
        destination[DhcpPacket.OperationOffset] = Operation;
        destination[DhcpPacket.HardwareTypeOffset] = 1;
        destination[DhcpPacket.HardwareLengthOffset] = MacAddress.Length;
        BinaryPrimitives.WriteUInt32BigEndian(destination[DhcpPacket.TransactionIdOffset..], TransactionId);
        BinaryPrimitives.WriteUInt16BigEndian(destination[DhcpPacket.SecondsOffset..], Seconds);
        BinaryPrimitives.WriteUInt16BigEndian(destination[DhcpPacket.FlagsOffset..], Flags);
        IPv4Address.Write(destination[DhcpPacket.ClientAddressOffset..], ClientAddress);
        IPv4Address.Write(destination[DhcpPacket.YourAddressOffset..], YourAddress);
        IPv4Address.Write(destination[DhcpPacket.ServerAddressOffset..], ServerAddress);
        IPv4Address.Write(destination[DhcpPacket.RelayAddressOffset..], RelayAddress);
        ClientHardwareAddress.Write(destination[DhcpPacket.ClientHardwareAddressOffset..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination[DhcpPacket.FixedLength..], DhcpPacket.MagicCookie);
        var at = DhcpPacket.OptionsOffset;
        destination[at++] = DhcpOption.MessageType;
        destination[at++] = 1;
        destination[at++] = (byte)MessageType;
        if (ClientOptions)
        {
            destination[at++] = DhcpOption.ClientIdentifier;
            destination[at++] = 7;
            destination[at++] = 1;
            ClientHardwareAddress.Write(destination[at..]);
            at += 6;
            destination[at++] = DhcpOption.ParameterRequestList;
            destination[at++] = 6;
            destination[at++] = DhcpOption.SubnetMask;
            destination[at++] = DhcpOption.Router;
            destination[at++] = DhcpOption.DomainNameServer;
            destination[at++] = DhcpOption.LeaseTime;
            destination[at++] = DhcpOption.RenewalTime;
            destination[at++] = DhcpOption.RebindingTime;
        }
        at = WriteAddress(destination, at, DhcpOption.SubnetMask, SubnetMask);
        at = WriteAddress(destination, at, DhcpOption.Router, Router);
        at = WriteAddress(destination, at, DhcpOption.DomainNameServer, DnsServer);
        at = WriteAddress(destination, at, DhcpOption.RequestedIPAddress, RequestedAddress);
        at = WriteAddress(destination, at, DhcpOption.ServerIdentifier, ServerIdentifier);
        at = WriteAddress(destination, at, DhcpOption.LeaseTime, LeaseSeconds);
        at = WriteAddress(destination, at, DhcpOption.RenewalTime, RenewalSeconds);
        at = WriteAddress(destination, at, DhcpOption.RebindingTime, RebindingSeconds);
        if (MaxMessageSize != 0)
        {
            destination[at++] = DhcpOption.MaxMessageSize;
            destination[at++] = 2;
            BinaryPrimitives.WriteUInt16BigEndian(destination[at..], MaxMessageSize);
            at += 2;
        }
        destination[at++] = DhcpOption.End;
        if (at < MinLength)
        {
            destination[at..MinLength].Clear();
            at = MinLength;
        }
        written = at;
        return true;
    }

    /// <summary>Writes a 4-byte option (an address or a time) when its value is not zero.</summary>
    private static int WriteAddress(Span<byte> destination, int at, byte code, uint value)
    {
        if (value == 0)
        {
            return at;
        }
        destination[at] = code;
        destination[at + 1] = 4;
        BinaryPrimitives.WriteUInt32BigEndian(destination[(at + 2)..], value);
        return at + 6;
    }
}
