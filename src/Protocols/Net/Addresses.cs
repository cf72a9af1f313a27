using System;
using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Unikernel.Protocols.Net;

/// <summary>A 48-bit Ethernet address held in a number (first octet most significant).</summary>
public readonly struct MacAddress : IEquatable<MacAddress>
{
    public const int Length = 6;
    private const ulong Mask = 0xFFFF_FFFF_FFFFUL;

    public static readonly MacAddress Broadcast = new(Mask);

    public MacAddress(ulong value) => Value = value & Mask;

    public ulong Value { get; }

    public bool IsBroadcast => Value == Mask;

    /// <summary>The group bit (multicast and broadcast).</summary>
    public bool IsMulticast => ((Value >> 40) & 1) != 0;

    public bool IsUnicast => !IsMulticast && Value != 0;

    public static MacAddress Read(ReadOnlySpan<byte> bytes) =>
        new(((ulong)BinaryPrimitives.ReadUInt16BigEndian(bytes) << 32) | BinaryPrimitives.ReadUInt32BigEndian(bytes[2..]));

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(Value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], (uint)Value);
    }

    public bool Equals(MacAddress other) => Value == other.Value;

    public override bool Equals(object? obj) => obj is MacAddress other && Equals(other);

    public override int GetHashCode() => Value.GetHashCode();

    public static bool operator ==(MacAddress left, MacAddress right) => left.Value == right.Value;

    public static bool operator !=(MacAddress left, MacAddress right) => left.Value != right.Value;

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Length];
        Write(bytes);
        return string.Create(CultureInfo.InvariantCulture,
            $"{bytes[0]:x2}:{bytes[1]:x2}:{bytes[2]:x2}:{bytes[3]:x2}:{bytes[4]:x2}:{bytes[5]:x2}");
    }
}

/// <summary>IPv4 addresses as numbers (first octet most significant), the form the stack uses everywhere.</summary>
public static class IPv4Address
{
    public const uint Any = 0;
    public const uint Broadcast = 0xFFFF_FFFF;

    public static uint Read(ReadOnlySpan<byte> bytes) => BinaryPrimitives.ReadUInt32BigEndian(bytes);

    public static void Write(Span<byte> destination, uint address) => BinaryPrimitives.WriteUInt32BigEndian(destination, address);

    public static uint Parse(string text)
    {
        if (!IPAddress.TryParse(text, out var address) || address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new FormatException($"'{text}' is not an IPv4 address");
        }
        return FromIPAddress(address);
    }

    public static uint FromIPAddress(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[4];
        if (address.AddressFamily != AddressFamily.InterNetwork || !address.TryWriteBytes(bytes, out _))
        {
            throw new ArgumentException($"'{address}' is not an IPv4 address", nameof(address));
        }
        return Read(bytes);
    }

    public static IPAddress ToIPAddress(uint address)
    {
        Span<byte> bytes = stackalloc byte[4];
        Write(bytes, address);
        return new IPAddress(bytes);
    }

    public static bool IsMulticast(uint address) => address >> 28 == 0xE;

    public static uint MaskFromPrefix(int prefixLength) => prefixLength == 0 ? 0 : uint.MaxValue << (32 - prefixLength);

    public static string Format(uint address) =>
        string.Create(CultureInfo.InvariantCulture, $"{address >> 24}.{(address >> 16) & 0xFF}.{(address >> 8) & 0xFF}.{address & 0xFF}");

    /// <summary>Parses "ADDR/PREFIX" (a bare address means /32).</summary>
    public static (uint Address, int PrefixLength) ParseCidr(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var address = Parse(slash < 0 ? text : text[..slash]);
        var prefix = 32;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > 32))
        {
            throw new FormatException($"'{text}' is not ADDR/PREFIX with a prefix length from 0 to 32");
        }
        return (address, prefix);
    }
}
