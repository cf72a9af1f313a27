using System;
using System.Buffers.Binary;
using System.Numerics;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>
/// Applies OpenFlow 1.0 set-field actions to a frame in place (the buffer has room for a VLAN tag). IPv4 header and
/// TCP/UDP checksums are updated incrementally (RFC 1624) so a rewritten packet is still valid.
/// </summary>
public static class FrameRewriter
{
    public const int VlanTagLength = 4;

    /// <summary>Applies <paramref name="action"/> to the frame of <paramref name="length"/> bytes in <paramref name="buffer"/>; returns the new length.</summary>
    public static int Apply(in OfAction action, Span<byte> buffer, int length)
    {
        if (length < 14)
        {
            return length;
        }
        var frame = buffer[..length];
        var tagged = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == 0x8100 && length >= 18;
        switch (action.Type)
        {
            case OfActionType.SetDlSrc:
                OfMatch.WriteMac(frame[6..], action.Mac);
                return length;
            case OfActionType.SetDlDst:
                OfMatch.WriteMac(frame, action.Mac);
                return length;
            case OfActionType.SetVlanVid or OfActionType.SetVlanPcp:
                if (!tagged)
                {
                    if (length + VlanTagLength > buffer.Length)
                    {
                        return length;
                    }
                    buffer[12..length].CopyTo(buffer[16..]);
                    BinaryPrimitives.WriteUInt16BigEndian(buffer[12..], 0x8100);
                    BinaryPrimitives.WriteUInt16BigEndian(buffer[14..], 0);
                    length += VlanTagLength;
                }
                var tci = BinaryPrimitives.ReadUInt16BigEndian(buffer[14..]);
                tci = action.Type == OfActionType.SetVlanVid
                    ? (ushort)((tci & 0xf000) | (action.Value16 & 0x0fff))
                    : (ushort)((tci & 0x1fff) | ((action.Value8 & 7) << 13));
                BinaryPrimitives.WriteUInt16BigEndian(buffer[14..], tci);
                return length;
            case OfActionType.StripVlan:
                if (tagged)
                {
                    buffer[16..length].CopyTo(buffer[12..]);
                    length -= VlanTagLength;
                }
                return length;
        }
        var l3 = tagged ? 18 : 14;
        if (BinaryPrimitives.ReadUInt16BigEndian(frame[(l3 - 2)..]) != 0x0800 || length < l3 + 20)
        {
            return length;
        }
        var ip = frame[l3..];
        var headerLength = (ip[0] & 0xf) * 4;
        if (ip[0] >> 4 != 4 || headerLength < 20 || ip.Length < headerLength)
        {
            return length;
        }
        var protocol = ip[9];
        var firstFragment = (BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x1fff) == 0;
        var transport = ip[headerLength..];
        var checksumOffset = protocol switch { 6 when transport.Length >= 20 => 16, 17 when transport.Length >= 8 => 6, _ => -1 };
        if (!firstFragment)
        {
            checksumOffset = -1;
        }
        switch (action.Type)
        {
            case OfActionType.SetNwSrc or OfActionType.SetNwDst:
                var at = action.Type == OfActionType.SetNwSrc ? 12 : 16;
                var old = BinaryPrimitives.ReadUInt32BigEndian(ip[at..]);
                BinaryPrimitives.WriteUInt32BigEndian(ip[at..], action.Value32);
                Update32(ip[10..], old, action.Value32);
                // The transport checksum covers the pseudo-header's addresses (UDP checksum 0 means "none").
                if (checksumOffset >= 0 && !(protocol == 17 && BinaryPrimitives.ReadUInt16BigEndian(transport[6..]) == 0))
                {
                    Update32(transport[checksumOffset..], old, action.Value32);
                }
                break;
            case OfActionType.SetNwTos:
                var oldWord = BinaryPrimitives.ReadUInt16BigEndian(ip);
                ip[1] = (byte)((ip[1] & 0x03) | (action.Value8 & 0xfc));
                Update16(ip[10..], oldWord, BinaryPrimitives.ReadUInt16BigEndian(ip));
                break;
            case OfActionType.SetTpSrc or OfActionType.SetTpDst:
                if (checksumOffset < 0)
                {
                    break;
                }
                var portAt = action.Type == OfActionType.SetTpSrc ? 0 : 2;
                var oldPort = BinaryPrimitives.ReadUInt16BigEndian(transport[portAt..]);
                BinaryPrimitives.WriteUInt16BigEndian(transport[portAt..], action.Value16);
                if (!(protocol == 17 && BinaryPrimitives.ReadUInt16BigEndian(transport[6..]) == 0))
                {
                    Update16(transport[checksumOffset..], oldPort, action.Value16);
                }
                break;
        }
        return length;
    }

    /// <summary>
    /// Applies an OpenFlow 1.3 set_field (an unmasked OpenFlow-basic OXM) to the frame of <paramref name="length"/>
    /// bytes in <paramref name="buffer"/> in place; returns the new length. A field the packet does not have (an
    /// IPv6 address on IPv4, a TCP port on UDP, a truncated header) leaves the frame as it is. Checksums stay valid:
    /// the IPv4 header checksum and the TCP, UDP and ICMPv6 checksums (over the IPv4 or IPv6 pseudo-header) are
    /// updated incrementally (RFC 1624); SCTP's CRC32c (RFC 4960, no pseudo-header) is computed again over the
    /// whole SCTP packet.
    /// </summary>
    public static int SetField(OxmField field, ReadOnlySpan<byte> value, Span<byte> buffer, int length)
    {
        if (length < 14)
        {
            return length;
        }
        var number = Oxm.ReadNumber(value);
        switch (field)
        {
            case OxmField.EthDst:
                return Apply(OfAction.SetDlDst(number), buffer, length);
            case OxmField.EthSrc:
                return Apply(OfAction.SetDlSrc(number), buffer, length);
        }
        var frame = buffer[..length];
        var tagged = length >= 18 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) is 0x8100 or 0x88a8;
        var l3 = tagged ? 18 : 14;
        var ethType = BinaryPrimitives.ReadUInt16BigEndian(frame[(l3 - 2)..]);
        switch (field)
        {
            case OxmField.VlanVid when tagged:
                BinaryPrimitives.WriteUInt16BigEndian(frame[14..], (ushort)((BinaryPrimitives.ReadUInt16BigEndian(frame[14..]) & 0xf000) | (int)(number & 0x0fff)));
                return length;
            case OxmField.VlanPcp when tagged:
                BinaryPrimitives.WriteUInt16BigEndian(frame[14..], (ushort)((BinaryPrimitives.ReadUInt16BigEndian(frame[14..]) & 0x1fff) | (int)((number & 7) << 13)));
                return length;
            case OxmField.ArpOp or OxmField.ArpSha or OxmField.ArpSpa or OxmField.ArpTha or OxmField.ArpTpa:
                // Ethernet/IPv4 ARP only (hardware type 1, protocol 0x0800, lengths 6 and 4), as the fields are extracted.
                var arp = frame[l3..];
                if (ethType != 0x0806 || arp.Length < 28 || BinaryPrimitives.ReadUInt16BigEndian(arp) != 1 || BinaryPrimitives.ReadUInt16BigEndian(arp[2..]) != 0x0800 || arp[4] != 6 || arp[5] != 4)
                {
                    return length;
                }
                switch (field)
                {
                    case OxmField.ArpOp:
                        BinaryPrimitives.WriteUInt16BigEndian(arp[6..], (ushort)number);
                        break;
                    case OxmField.ArpSha:
                        OfMatch.WriteMac(arp[8..], number);
                        break;
                    case OxmField.ArpSpa:
                        BinaryPrimitives.WriteUInt32BigEndian(arp[14..], (uint)number);
                        break;
                    case OxmField.ArpTha:
                        OfMatch.WriteMac(arp[18..], number);
                        break;
                    default:
                        BinaryPrimitives.WriteUInt32BigEndian(arp[24..], (uint)number);
                        break;
                }
                return length;
        }
        if (!TryLocate(frame, l3, ethType, out var ip))
        {
            return length;
        }
        var l4 = frame.Slice(ip.Transport, ip.TransportLength);
        var ipHeader = frame[l3..];
        switch (field)
        {
            case OxmField.IpDscp or OxmField.IpEcn when !ip.V6:
                var word = BinaryPrimitives.ReadUInt16BigEndian(ipHeader);
                ipHeader[1] = field == OxmField.IpDscp ? (byte)((ipHeader[1] & 0x03) | (int)((number & 0x3f) << 2)) : (byte)((ipHeader[1] & 0xfc) | (int)(number & 3));
                Update16(ipHeader[10..], word, BinaryPrimitives.ReadUInt16BigEndian(ipHeader));
                break;
            case OxmField.IpDscp or OxmField.IpEcn or OxmField.Ipv6FlowLabel when ip.V6:
                // Version, traffic class and flow label: no checksum covers them.
                var first = BinaryPrimitives.ReadUInt32BigEndian(ipHeader);
                var trafficClass = (first >> 20) & 0xff;
                first = field switch
                {
                    OxmField.IpDscp => (first & 0xf00fffff) | (((trafficClass & 3) | (uint)((number & 0x3f) << 2)) << 20),
                    OxmField.IpEcn => (first & 0xf00fffff) | (((trafficClass & 0xfc) | (uint)(number & 3)) << 20),
                    _ => (first & 0xfff00000) | (uint)(number & 0xfffff),
                };
                BinaryPrimitives.WriteUInt32BigEndian(ipHeader, first);
                break;
            case OxmField.Ipv4Src or OxmField.Ipv4Dst when !ip.V6:
                var at = field == OxmField.Ipv4Src ? 12 : 16;
                Span<byte> old4 = stackalloc byte[4];
                ipHeader.Slice(at, 4).CopyTo(old4);
                BinaryPrimitives.WriteUInt32BigEndian(ipHeader[at..], (uint)number);
                UpdateWords(ipHeader[10..], old4, ipHeader.Slice(at, 4));
                UpdatePseudoHeader(l4, ip, old4, ipHeader.Slice(at, 4));
                break;
            case OxmField.Ipv6Src or OxmField.Ipv6Dst when ip.V6 && value.Length == 16:
                var address = ipHeader.Slice(field == OxmField.Ipv6Src ? 8 : 24, 16);
                Span<byte> old6 = stackalloc byte[16];
                address.CopyTo(old6);
                value.CopyTo(address);
                UpdatePseudoHeader(l4, ip, old6, address);
                break;
            case OxmField.TcpSrc or OxmField.TcpDst when ip.Protocol == 6 && l4.Length >= 20:
            case OxmField.UdpSrc or OxmField.UdpDst when ip.Protocol == 17 && l4.Length >= 8:
                var portAt = field is OxmField.TcpSrc or OxmField.UdpSrc ? 0 : 2;
                var oldPort = BinaryPrimitives.ReadUInt16BigEndian(l4[portAt..]);
                BinaryPrimitives.WriteUInt16BigEndian(l4[portAt..], (ushort)number);
                UpdateTransport(l4, ip.Protocol, oldPort, (ushort)number);
                break;
            case OxmField.SctpSrc or OxmField.SctpDst when ip.Protocol == 132 && l4.Length >= 12:
                BinaryPrimitives.WriteUInt16BigEndian(l4[(field == OxmField.SctpSrc ? 0 : 2)..], (ushort)number);
                SctpChecksum(l4);
                break;
            case OxmField.Icmpv4Type or OxmField.Icmpv4Code when !ip.V6 && ip.Protocol == 1 && l4.Length >= 4:
            case OxmField.Icmpv6Type or OxmField.Icmpv6Code when ip.V6 && ip.Protocol == 58 && l4.Length >= 4:
                var typeCode = BinaryPrimitives.ReadUInt16BigEndian(l4);
                l4[field is OxmField.Icmpv4Type or OxmField.Icmpv6Type ? 0 : 1] = (byte)number;
                Update16(l4[2..], typeCode, BinaryPrimitives.ReadUInt16BigEndian(l4));
                break;
            case OxmField.Ipv6NdTarget when ip.V6 && ip.Protocol == 58 && l4.Length >= 24 && l4[0] is 135 or 136 && value.Length == 16:
                var target = l4.Slice(8, 16);
                Span<byte> oldTarget = stackalloc byte[16];
                target.CopyTo(oldTarget);
                value.CopyTo(target);
                UpdateWords(l4[2..], oldTarget, target);
                break;
        }
        return length;
    }

    /// <summary>Where an IP packet's transport header is: its offset in the frame, its length (as the IP header says, cut to the frame), the protocol.</summary>
    private readonly record struct IpLayout(bool V6, byte Protocol, int Transport, int TransportLength);

    /// <summary>
    /// An IPv4 or IPv6 packet at <paramref name="l3"/>. The transport is empty for IPv4 fragments after the first and
    /// for IPv6 extension headers other than the transports (as <see cref="Of13PacketFields"/> extracts them).
    /// </summary>
    private static bool TryLocate(ReadOnlySpan<byte> frame, int l3, ushort ethType, out IpLayout layout)
    {
        layout = default;
        var ip = frame[l3..];
        if (ethType == 0x0800 && ip.Length >= 20 && ip[0] >> 4 == 4)
        {
            var headerLength = (ip[0] & 0xf) * 4;
            if (headerLength < 20 || headerLength > ip.Length)
            {
                return false;
            }
            var total = Math.Min(ip.Length, BinaryPrimitives.ReadUInt16BigEndian(ip[2..]));
            var first = (BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x1fff) == 0;
            layout = new IpLayout(false, ip[9], l3 + headerLength, first ? Math.Max(0, total - headerLength) : 0);
            return true;
        }
        if (ethType == 0x86dd && ip.Length >= 40 && ip[0] >> 4 == 6)
        {
            var payload = Math.Min(ip.Length - 40, BinaryPrimitives.ReadUInt16BigEndian(ip[4..]));
            layout = new IpLayout(true, ip[6], l3 + 40, payload);
            return true;
        }
        return false;
    }

    /// <summary>An address of the pseudo-header changed: the TCP, UDP or ICMPv6 (IPv6 only) checksum follows; SCTP's covers no pseudo-header.</summary>
    private static void UpdatePseudoHeader(Span<byte> l4, IpLayout ip, ReadOnlySpan<byte> old, ReadOnlySpan<byte> value)
    {
        var at = ip.Protocol switch
        {
            6 when l4.Length >= 20 => 16,
            17 when l4.Length >= 8 && BinaryPrimitives.ReadUInt16BigEndian(l4[6..]) != 0 => 6, // UDP checksum 0: none (IPv4)
            58 when ip.V6 && l4.Length >= 4 => 2,
            _ => -1,
        };
        if (at >= 0)
        {
            UpdateWords(l4[at..], old, value);
            FixUdpZero(l4, ip.Protocol);
        }
    }

    /// <summary>A 16-bit word of a TCP or UDP header changed (a port).</summary>
    private static void UpdateTransport(Span<byte> l4, byte protocol, ushort old, ushort value)
    {
        if (protocol == 6)
        {
            Update16(l4[16..], old, value);
        }
        else if (BinaryPrimitives.ReadUInt16BigEndian(l4[6..]) != 0)
        {
            Update16(l4[6..], old, value);
            FixUdpZero(l4, protocol);
        }
    }

    /// <summary>A UDP checksum that computes to 0 is sent as 0xffff (RFC 768; 0 means "no checksum").</summary>
    private static void FixUdpZero(Span<byte> l4, byte protocol)
    {
        if (protocol == 17 && BinaryPrimitives.ReadUInt16BigEndian(l4[6..]) == 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(l4[6..], 0xffff);
        }
    }

    /// <summary>Updates <paramref name="checksum"/> for bytes that changed from <paramref name="old"/> to <paramref name="value"/> (even lengths, word aligned in the sum).</summary>
    private static void UpdateWords(Span<byte> checksum, ReadOnlySpan<byte> old, ReadOnlySpan<byte> value)
    {
        for (var i = 0; i + 1 < old.Length; i += 2)
        {
            Update16(checksum, BinaryPrimitives.ReadUInt16BigEndian(old[i..]), BinaryPrimitives.ReadUInt16BigEndian(value[i..]));
        }
    }

    /// <summary>Writes the CRC32c of an SCTP packet (RFC 4960 appendix B: over the whole packet with the checksum field 0, stored least significant byte first as the reflected CRC comes out).</summary>
    internal static void SctpChecksum(Span<byte> sctp)
    {
        sctp.Slice(8, 4).Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(sctp[8..], Crc32C(sctp));
    }

    /// <summary>CRC-32C (Castagnoli, reflected, initial and final value all ones); hardware instructions where the CPU has them.</summary>
    internal static uint Crc32C(ReadOnlySpan<byte> bytes)
    {
        var crc = uint.MaxValue;
        var i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(bytes[i..]));
        }
        for (; i < bytes.Length; i++)
        {
            crc = BitOperations.Crc32C(crc, bytes[i]);
        }
        return ~crc;
    }

    /// <summary>HC' = ~(~HC + ~m + m') (RFC 1624 eq. 3) for a 16-bit field.</summary>
    internal static void Update16(Span<byte> checksum, ushort old, ushort value)
    {
        uint sum = (ushort)~BinaryPrimitives.ReadUInt16BigEndian(checksum);
        sum += (ushort)~old;
        sum += value;
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(checksum, (ushort)~sum);
    }

    private static void Update32(Span<byte> checksum, uint old, uint value)
    {
        Update16(checksum, (ushort)(old >> 16), (ushort)(value >> 16));
        Update16(checksum, (ushort)old, (ushort)value);
    }
}
