using Unikernel.Protocols.Net;

namespace Unikernel.Protocols.Tests.Net;

public class WireFormatTests
{
    private static readonly uint A = IPv4Address.Parse("10.0.0.1");
    private static readonly uint B = IPv4Address.Parse("10.0.0.2");

    [Fact]
    public void Ethernet_header_round_trips()
    {
        var golden = Convert.FromHexString("ffffffffffff020000000001" + "0806");
        Assert.True(EthernetRepr.TryParse(golden, out var repr));
        Assert.True(repr.Destination.IsBroadcast);
        Assert.Equal("02:00:00:00:00:01", repr.Source.ToString());
        Assert.Equal(EtherType.Arp, repr.EtherType);
        var written = new byte[14];
        Assert.True(repr.TryWrite(written, out var length));
        Assert.Equal(14, length);
        Assert.Equal(golden, written);
        Assert.False(repr.TryWrite(new byte[13], out _));
        Assert.False(EthernetFrame.TryCreate(golden.AsSpan(0, 13), out _));
    }

    [Fact]
    public void Arp_request_matches_golden_bytes()
    {
        // who-has 10.0.0.2 tell 10.0.0.1, from 02:00:00:00:00:01.
        var golden = Convert.FromHexString("0001080006040001" + "020000000001" + "0a000001" + "000000000000" + "0a000002");
        var repr = new ArpRepr(ArpOperation.Request, new MacAddress(0x020000000001), A, default, B);
        var written = new byte[28];
        Assert.True(repr.TryWrite(written, out var length));
        Assert.Equal(28, length);
        Assert.Equal(golden, written);
        Assert.True(ArpRepr.TryParse(golden, out var parsed));
        Assert.Equal(repr, parsed);
        golden[7] = 3;
        Assert.False(ArpRepr.TryParse(golden, out _));
    }

    [Fact]
    public void IPv4_header_checksum_matches_golden_bytes()
    {
        // The classic example header (checksum 0xb861).
        var golden = Convert.FromHexString("4500007300004000401" + "1b861c0a80001c0a800c7");
        var packetBytes = new byte[0x73];
        golden.CopyTo(packetBytes, 0);
        Assert.True(IPv4Packet.TryCreate(packetBytes, out var packet));
        Assert.True(packet.IsChecksumValid);
        Assert.True(packet.DontFragment);
        Assert.Equal(IPProtocol.Udp, packet.Protocol);
        Assert.Equal(IPv4Address.Parse("192.168.0.199"), packet.Destination);
        Assert.True(IPv4Repr.TryParse(packet, out var repr));
        var written = new byte[20];
        Assert.True(repr.TryWrite(written, out _));
        Assert.Equal(golden, written);
        packetBytes[10] ^= 1;
        Assert.True(IPv4Packet.TryCreate(packetBytes, out packet));
        Assert.False(IPv4Repr.TryParse(packet, out _));
    }

    [Fact]
    public void IPv4_header_and_fragment_fields_match_golden_bytes()
    {
        var repr = new IPv4Repr(A, B, IPProtocol.Udp, 13, 64, 0xabcd);
        var written = new byte[20];
        Assert.True(repr.TryWrite(written, out _));
        Assert.Equal(Convert.FromHexString("45000021abcd00004011bafc0a0000010a000002"), written);

        var fragment = new IPv4Repr(A, B, IPProtocol.Icmp, 8, 64, 7, MoreFragments: true, FragmentOffset: 1480);
        Assert.True(fragment.TryWrite(written, out _));
        var golden = Convert.FromHexString("4500001c000720b94001461f0a0000010a000002");
        Assert.Equal(golden, written);
        var bytes = new byte[28];
        golden.CopyTo(bytes, 0);
        Assert.True(IPv4Packet.TryCreate(bytes, out var packet));
        Assert.True(packet.IsFragment);
        Assert.True(packet.MoreFragments);
        Assert.Equal(1480, packet.FragmentOffset);
        Assert.False(new IPv4Repr(A, B, 1, 8, FragmentOffset: 3).TryWrite(written, out _));
    }

    [Fact]
    public void IPv4_view_rejects_inconsistent_lengths_and_cuts_padding()
    {
        var bytes = new byte[60];
        new IPv4Repr(A, B, IPProtocol.Udp, 8).TryWrite(bytes, out _);
        Assert.True(IPv4Packet.TryCreate(bytes, out var packet));
        Assert.Equal(28, packet.TotalLength);
        Assert.Equal(8, packet.Payload.Length);
        Assert.False(IPv4Packet.TryCreate(bytes.AsSpan(0, 27), out _));
        bytes[0] = 0x44;
        Assert.False(IPv4Packet.TryCreate(bytes, out _));
        bytes[0] = 0x65;
        Assert.False(IPv4Packet.TryCreate(bytes, out _));
    }

    [Fact]
    public void Icmp_echo_matches_golden_bytes()
    {
        var golden = Convert.FromHexString("08005435123400016162636465666768");
        var written = new byte[16];
        Assert.True(IcmpRepr.Echo(true, 0x1234, 1, "abcdefgh"u8).TryWrite(written, out var length));
        Assert.Equal(16, length);
        Assert.Equal(golden, written);
        Assert.True(IcmpPacket.TryCreate(golden, out var packet));
        Assert.True(IcmpRepr.TryParse(packet, out var parsed));
        Assert.Equal(IcmpType.EchoRequest, parsed.Type);
        Assert.Equal(0x1234, parsed.Identifier);
        Assert.Equal(1, parsed.SequenceNumber);
        Assert.True(parsed.Data.SequenceEqual("abcdefgh"u8));
        golden[9] ^= 0xFF;
        Assert.True(IcmpPacket.TryCreate(golden, out packet));
        Assert.False(IcmpRepr.TryParse(packet, out _));
    }

    [Fact]
    public void Udp_checksum_matches_golden_bytes()
    {
        var golden = Convert.FromHexString("04d20035000da2f868656c6c6f");
        var written = new byte[13];
        Assert.True(new UdpRepr(1234, 53, "hello"u8).TryWrite(written, A, B, out var length));
        Assert.Equal(13, length);
        Assert.Equal(golden, written);
        Assert.True(UdpPacket.TryCreate(golden, out var packet));
        Assert.True(UdpRepr.TryParse(packet, A, B, out var parsed));
        Assert.Equal(1234, parsed.SourcePort);
        Assert.Equal(53, parsed.DestinationPort);
        Assert.True(parsed.Payload.SequenceEqual("hello"u8));
        Assert.False(UdpRepr.TryParse(packet, A, IPv4Address.Parse("10.0.0.3"), out _));
        // A zero checksum means "none" over IPv4.
        golden[6] = 0;
        golden[7] = 0;
        Assert.True(UdpPacket.TryCreate(golden, out packet));
        Assert.True(UdpRepr.TryParse(packet, A, IPv4Address.Parse("10.0.0.3"), out _));
        // The length field must fit the buffer.
        golden[5] = 14;
        Assert.False(UdpPacket.TryCreate(golden, out _));
    }

    [Fact]
    public void Dhcp_discover_has_the_rfc2131_layout()
    {
        var mac = new MacAddress(0x020000000001);
        var discover = new DhcpRepr
        {
            Operation = DhcpRepr.BootRequest,
            TransactionId = 0x11223344,
            ClientHardwareAddress = mac,
            MessageType = DhcpMessageType.Discover,
            ClientOptions = true,
        };
        var buffer = new byte[DhcpRepr.MaxLength];
        Assert.True(discover.TryWrite(buffer, out var length));
        Assert.Equal(300, length);
        var fixedPart = "01010600" + "11223344" + "0000" + "0000" + "00000000" + "00000000" + "00000000" + "00000000" + "020000000001" + new string('0', 20) + new string('0', 128 + 256);
        Assert.Equal(fixedPart, Convert.ToHexString(buffer, 0, 236).ToLowerInvariant());
        var options = "63825363" + "350101" + "3d0701020000000001" + "3706010306333a3b" + "ff";
        Assert.Equal(options, Convert.ToHexString(buffer, 236, options.Length / 2).ToLowerInvariant());
        Assert.All(buffer.AsSpan(236 + (options.Length / 2), 300 - 236 - (options.Length / 2)).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Dhcp_ack_options_parse()
    {
        var ack = new DhcpRepr
        {
            Operation = DhcpRepr.BootReply,
            TransactionId = 7,
            YourAddress = B,
            ClientHardwareAddress = new MacAddress(0x020000000001),
            MessageType = DhcpMessageType.Ack,
            SubnetMask = 0xFFFFFF00,
            Router = A,
            DnsServer = A,
            ServerIdentifier = A,
            LeaseSeconds = 120,
            RenewalSeconds = 5,
            RebindingSeconds = 100,
        };
        var buffer = new byte[DhcpRepr.MaxLength];
        Assert.True(ack.TryWrite(buffer, out var length));
        Assert.True(DhcpRepr.TryParse(buffer.AsSpan(0, length), out var parsed));
        Assert.Equal(ack, parsed);
        // A truncated option is malformed.
        var cut = buffer.AsSpan(0, 240 + 3 + 4).ToArray();
        Assert.False(DhcpRepr.TryParse(cut, out _));
    }

    [Fact]
    public void Checksum_handles_odd_lengths_and_all_offsets()
    {
        var random = new Random(7);
        for (var length = 0; length < 80; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            ulong sum = 0;
            for (var i = 0; i + 1 < length; i += 2)
            {
                sum += (ulong)((data[i] << 8) | data[i + 1]);
            }
            if (length % 2 == 1)
            {
                sum += (ulong)data[^1] << 8;
            }
            while (sum >> 16 != 0)
            {
                sum = (sum & 0xFFFF) + (sum >> 16);
            }
            Assert.Equal((ushort)~sum, InternetChecksum.Compute(data));
        }
    }

    [Fact]
    public void Parsers_never_throw_on_random_or_mutated_input()
    {
        var random = new Random(12345);
        var samples = new List<byte[]>();
        var buffer = new byte[1600];
        new EthernetRepr(MacAddress.Broadcast, new MacAddress(0x020000000001), EtherType.IPv4).TryWrite(buffer, out _);
        new IPv4Repr(A, B, IPProtocol.Udp, 13).TryWrite(buffer.AsSpan(14), out _);
        new UdpRepr(1234, 53, "hello"u8).TryWrite(buffer.AsSpan(34), A, B, out _);
        samples.Add(buffer[..47]);
        new ArpRepr(ArpOperation.Request, new MacAddress(1), A, default, B).TryWrite(buffer, out _);
        samples.Add(buffer[..28]);
        new DhcpRepr { Operation = 2, MessageType = DhcpMessageType.Offer, YourAddress = B, ServerIdentifier = A, LeaseSeconds = 60 }.TryWrite(buffer, out var dhcpLength);
        samples.Add(buffer[..dhcpLength]);
        for (var iteration = 0; iteration < 20_000; iteration++)
        {
            byte[] input;
            if (iteration % 3 == 0)
            {
                input = new byte[random.Next(0, 400)];
                random.NextBytes(input);
            }
            else
            {
                input = (byte[])samples[iteration % samples.Count].Clone();
                for (var flips = random.Next(1, 6); flips > 0 && input.Length > 0; flips--)
                {
                    input[random.Next(input.Length)] = (byte)random.Next(256);
                }
                input = input[..random.Next(0, input.Length + 1)];
            }
            Exercise(input);
            if (input.Length > 14)
            {
                Exercise(input.AsSpan(14));
            }
        }
    }

    private static void Exercise(ReadOnlySpan<byte> input)
    {
        if (EthernetFrame.TryCreate(input, out var frame))
        {
            _ = frame.Destination;
            _ = frame.Source;
            _ = frame.EtherType;
            _ = frame.Payload.Length;
        }
        ArpRepr.TryParse(input, out _);
        if (ArpPacket.TryCreate(input, out var arp))
        {
            _ = arp.SenderHardwareAddress.Length + arp.SenderProtocolAddress.Length + arp.TargetHardwareAddress.Length + arp.TargetProtocolAddress.Length;
        }
        if (IPv4Packet.TryCreate(input, out var ip))
        {
            _ = ip.IsChecksumValid;
            _ = ip.Payload.Length + ip.Header.Length + ip.FragmentOffset;
            IPv4Repr.TryParse(ip, out _);
            if (IcmpPacket.TryCreate(ip.Payload, out var icmp))
            {
                IcmpRepr.TryParse(icmp, out _);
            }
            if (UdpPacket.TryCreate(ip.Payload, out var udp))
            {
                UdpRepr.TryParse(udp, ip.Source, ip.Destination, out _);
                DhcpRepr.TryParse(udp.Payload, out _);
            }
        }
        DhcpRepr.TryParse(input, out _);
    }
}
