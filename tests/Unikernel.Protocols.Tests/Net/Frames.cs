using System.Buffers.Binary;
using Unikernel.Protocols.Net;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>Builds the frames a hostile (or ordinary) peer would send, for feeding a stack through its test hooks.</summary>
internal static class Frames
{
    public static byte[] Ethernet(MacAddress destination, MacAddress source, ushort etherType, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[Math.Max(EthernetFrame.MinimumLength, EthernetFrame.HeaderLength + payload.Length)];
        new EthernetRepr(destination, source, etherType).TryWrite(frame, out _);
        payload.CopyTo(frame.AsSpan(EthernetFrame.HeaderLength));
        return frame;
    }

    public static byte[] IPv4(MacAddress destinationMac, MacAddress sourceMac, uint source, uint destination, byte protocol, ReadOnlySpan<byte> payload,
        ushort identification = 0, bool moreFragments = false, int fragmentOffset = 0)
    {
        var packet = new byte[IPv4Repr.HeaderLength + payload.Length];
        new IPv4Repr(source, destination, protocol, payload.Length, 64, identification, false, moreFragments, fragmentOffset).TryWrite(packet, out _);
        payload.CopyTo(packet.AsSpan(IPv4Repr.HeaderLength));
        return Ethernet(destinationMac, sourceMac, EtherType.IPv4, packet);
    }

    /// <summary>An IPv4 fragment whose header carries <paramref name="optionWords"/> 4-byte words of NOP options.</summary>
    public static byte[] IPv4WithOptions(MacAddress destinationMac, MacAddress sourceMac, uint source, uint destination, byte protocol,
        ReadOnlySpan<byte> payload, ushort identification, bool moreFragments, int fragmentOffset, int optionWords)
    {
        var headerLength = IPv4Repr.HeaderLength + (4 * optionWords);
        var packet = new byte[headerLength + payload.Length];
        new IPv4Repr(source, destination, protocol, payload.Length, 64, identification, false, moreFragments, fragmentOffset).TryWrite(packet, out _);
        packet[IPv4Packet.VersionAndHeaderLengthOffset] = (byte)(0x40 | (headerLength / 4));
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(IPv4Packet.TotalLengthOffset), (ushort)packet.Length);
        packet.AsSpan(IPv4Repr.HeaderLength, 4 * optionWords).Fill(1); // NOP options
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(IPv4Packet.ChecksumOffset), 0);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(IPv4Packet.ChecksumOffset), InternetChecksum.Compute(packet.AsSpan(0, headerLength)));
        payload.CopyTo(packet.AsSpan(headerLength));
        return Ethernet(destinationMac, sourceMac, EtherType.IPv4, packet);
    }

    public static byte[] Udp(MacAddress destinationMac, MacAddress sourceMac, uint source, uint destination, ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> data)
    {
        var udp = new byte[UdpPacket.HeaderLength + data.Length];
        new UdpRepr(sourcePort, destinationPort, data).TryWrite(udp, source, destination, out _);
        return IPv4(destinationMac, sourceMac, source, destination, IPProtocol.Udp, udp);
    }

    public static byte[] EchoRequest(MacAddress destinationMac, MacAddress sourceMac, uint source, uint destination, ushort identifier, ushort sequence)
    {
        var icmp = new byte[IcmpPacket.HeaderLength + 16];
        IcmpRepr.Echo(true, identifier, sequence, new byte[16]).TryWrite(icmp, out _);
        return IPv4(destinationMac, sourceMac, source, destination, IPProtocol.Icmp, icmp);
    }

    public static byte[] Arp(MacAddress destinationMac, MacAddress sourceMac, ArpOperation operation, MacAddress senderMac, uint sender, MacAddress targetMac, uint target)
    {
        var arp = new byte[ArpPacket.EthernetIPv4Length];
        new ArpRepr(operation, senderMac, sender, targetMac, target).TryWrite(arp, out _);
        return Ethernet(destinationMac, sourceMac, EtherType.Arp, arp);
    }

    public static bool IsArp(byte[] frame) => BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(EthernetFrame.EtherTypeOffset)) == EtherType.Arp;

    public static bool IsIPv4(byte[] frame) => BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(EthernetFrame.EtherTypeOffset)) == EtherType.IPv4;

    public static MacAddress Source(byte[] frame) => MacAddress.Read(frame.AsSpan(EthernetFrame.SourceOffset));

    public static MacAddress Destination(byte[] frame) => MacAddress.Read(frame.AsSpan(EthernetFrame.DestinationOffset));
}
