using System;
using System.Buffers.Binary;

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
