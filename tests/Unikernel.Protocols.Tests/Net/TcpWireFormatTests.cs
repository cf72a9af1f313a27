using Unikernel.Protocols.Net;

namespace Unikernel.Protocols.Tests.Net;

public class TcpWireFormatTests
{
    private static readonly uint A = IPv4Address.Parse("10.0.0.1");
    private static readonly uint B = IPv4Address.Parse("10.0.0.2");

    // A Linux-style SYN 10.0.0.1:50000 → 10.0.0.2:80 (checksum computed independently with Python).
    private const string GoldenSyn = "c35000501234567800000000a002faf0" + "0cbf" + "0000" + "020405b40402080a000000010000000001030307";

    // Data with timestamps and one SACK block, 10.0.0.1:80 → 10.0.0.2:50000.
    private const string GoldenData = "0050c350000003e812345679b01801f5" + "aad6" + "0000" + "0101080a0000000a00000001" + "0101050a000003e8000007d0" + "68656c6c6f";

    [Fact]
    public void Syn_with_options_matches_golden_bytes()
    {
        var golden = Convert.FromHexString(GoldenSyn);
        Assert.True(TcpPacket.TryCreate(golden, out var packet));
        Assert.True(packet.IsChecksumValid(A, B));
        Assert.Equal(40, packet.HeaderLength);
        Assert.True(TcpRepr.TryParse(packet, A, B, out var repr));
        Assert.Equal(50000, repr.SourcePort);
        Assert.Equal(80, repr.DestinationPort);
        Assert.Equal(0x12345678u, repr.SequenceNumber);
        Assert.Equal(TcpFlags.Syn, repr.Flags);
        Assert.Equal(64240, repr.WindowSize);
        Assert.Equal(1460, repr.MaxSegmentSize);
        Assert.True(repr.SackPermitted);
        Assert.True(repr.HasTimestamps);
        Assert.Equal(1u, repr.TimestampValue);
        Assert.Equal(0u, repr.TimestampEcho);
        Assert.Equal(7, repr.WindowScale);
        Assert.Equal(1, repr.SegmentLength);
        var written = new byte[repr.Length];
        Assert.True(repr.TryWrite(written, A, B, out var length));
        Assert.Equal(golden.Length, length);
        Assert.Equal(GoldenSyn, Convert.ToHexString(written).ToLowerInvariant());
        Assert.False(repr.TryWrite(new byte[39], A, B, out _));
        Assert.False(TcpRepr.TryParse(packet, A, B + 1, out _)); // another pseudo-header: bad checksum
    }

    [Fact]
    public void Data_segment_with_timestamps_and_sack_matches_golden_bytes()
    {
        var repr = new TcpRepr(80, 50000, 1000, 0x12345679, TcpFlags.Psh | TcpFlags.Ack, 501)
        {
            HasTimestamps = true,
            TimestampValue = 10,
            TimestampEcho = 1,
            Payload = "hello"u8,
        };
        Assert.True(repr.Sack.TryAdd(1000, 2000));
        var written = new byte[repr.Length];
        Assert.True(repr.TryWrite(written, A, B, out var length));
        Assert.Equal(GoldenData, Convert.ToHexString(written.AsSpan(0, length)).ToLowerInvariant());
        Assert.True(TcpPacket.TryCreate(written, out var packet));
        Assert.True(TcpRepr.TryParse(packet, A, B, out var parsed));
        Assert.Equal(1, parsed.Sack.Count);
        Assert.Equal((1000u, 2000u), parsed.Sack[0]);
        Assert.Equal("hello"u8.ToArray(), parsed.Payload.ToArray());
        Assert.Equal(5, parsed.SegmentLength);
    }

    [Fact]
    public void Checked_view_rejects_short_and_inconsistent_headers()
    {
        var golden = Convert.FromHexString(GoldenSyn);
        Assert.False(TcpPacket.TryCreate(golden.AsSpan(0, 19), out _));
        Assert.False(TcpPacket.TryCreate(golden.AsSpan(0, 39), out _)); // data offset 40 past the buffer
        var bad = (byte[])golden.Clone();
        bad[12] = 0x40; // data offset 16 bytes < 20
        Assert.False(TcpPacket.TryCreate(bad, out _));
    }

    [Theory]
    [InlineData("0205", false)] // MSS whose length byte runs past the options
    [InlineData("02", false)] // a kind without a length byte
    [InlineData("0201", false)] // a length below 2
    [InlineData("020305", true)] // MSS with a wrong length: ignored, like Linux
    [InlineData("030201", true)] // window scale with a wrong length: ignored
    [InlineData("0101010100", true)] // NOPs then the end of the list
    [InlineData("030310", true)] // window scale 16 is clamped to 14
    public void Option_lengths_are_checked(string options, bool valid)
    {
        var bytes = new byte[20 + (options.Length / 2 + 3) / 4 * 4];
        bytes[12] = (byte)(bytes.Length / 4 << 4);
        Convert.FromHexString(options).CopyTo(bytes, 20);
        Assert.True(TcpPacket.TryCreate(bytes, out var packet));
        Assert.Equal(valid, TcpRepr.TryParseUnchecked(packet, out var repr));
        if (valid)
        {
            Assert.Equal(0, repr.MaxSegmentSize);
            Assert.True(repr.WindowScale is -1 or 14);
        }
    }

    [Fact]
    public void Sequence_arithmetic_wraps()
    {
        Assert.True(TcpSeq.Lt(0xFFFF_FFF0, 0x10));
        Assert.True(TcpSeq.Gt(0x10, 0xFFFF_FFF0));
        Assert.True(TcpSeq.Le(5, 5) && TcpSeq.Ge(5, 5));
        Assert.Equal(0x10u, TcpSeq.Max(0xFFFF_FFF0, 0x10));
        Assert.Equal(0xFFFF_FFF0u, TcpSeq.Min(0xFFFF_FFF0, 0x10));
    }

    [Fact]
    public void Fuzzed_segments_never_throw_from_the_parser_or_the_engine()
    {
        // Fixed seed and count: mutations of real segments and random bytes, parsed and fed to a live connection.
        var random = new Random(20261201);
        var net = new TcpTestNet(7);
        var client = net.Add(A, seed: 1);
        var server = net.Add(B, seed: 2);
        var listener = server.Engine.Listen(new System.Net.IPEndPoint(System.Net.IPAddress.Any, 80));
        var connection = net.Connect(client, server.EndPoint(80));
        var accepted = net.Accept(server, listener);
        var seeds = new List<byte[]> { Convert.FromHexString(GoldenSyn), Convert.FromHexString(GoldenData) };
        client.Record = true;
        lock (client.Gate)
        {
            connection.TryWriteLocked(new byte[3000]);
        }
        net.Advance(TimeSpan.FromMilliseconds(10));
        seeds.AddRange(client.Sent.Select(s => s.Segment));
        var port = (ushort)connection.RemoteEndPoint.Port;
        for (var i = 0; i < 20_000; i++)
        {
            byte[] bytes;
            if (i % 4 == 0)
            {
                bytes = new byte[random.Next(0, 80)];
                random.NextBytes(bytes);
            }
            else
            {
                bytes = (byte[])seeds[random.Next(seeds.Count)].Clone();
                for (var m = random.Next(1, 6); m > 0 && bytes.Length > 0; m--)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }
                if (random.Next(8) == 0)
                {
                    Array.Resize(ref bytes, random.Next(bytes.Length + 1));
                }
            }
            if (TcpPacket.TryCreate(bytes, out var packet))
            {
                _ = TcpRepr.TryParseUnchecked(packet, out var repr);
                _ = repr.SegmentLength;
            }
            // Half go to the live connection's port with a valid checksum, so they reach the state machine.
            if (bytes.Length >= 20 && i % 2 == 1 && TcpPacket.TryCreate(bytes, out packet) && TcpRepr.TryParseUnchecked(packet, out var live))
            {
                live.SourcePort = port;
                live.DestinationPort = 80;
                live.Flags &= unchecked((byte)~TcpFlags.Rst);
                var rewritten = new byte[live.Length];
                if (live.TryWrite(rewritten, A, B, out _))
                {
                    bytes = rewritten;
                }
            }
            server.Inject(A, bytes);
        }
        // The connection still works afterwards (or was legitimately reset by a fuzzed in-window segment).
        var s = accepted;
        if (s.State == TcpState.Established)
        {
            var data = TcpTestNet.RandomBytes(50_000, 1);
            lock (server.Gate)
            {
                while (s.TryReadLocked(new byte[65536], out _) > 0)
                {
                }
            }
            Assert.Equal(data, net.Transfer(server, s, client, connection, data, TimeSpan.FromMinutes(5), close: false)[..data.Length]);
        }
        Assert.True(server.Counters.DropsBadChecksum + server.Counters.DropsMalformed > 1000);
    }

    /// <summary>
    /// A segment for the link to cut (TCP segmentation offload): the checksum field holds the folded pseudo-header sum
    /// of the whole segment, not complemented. Cut as Linux's tcp_gso_segment does (the header copied, the sequence
    /// advanced, FIN and PSH kept for the last piece only, the field moved to each piece's length) and completed as a
    /// device does (the ones' complement of the sum from the TCP header on), every piece has a valid checksum.
    /// </summary>
    [Fact]
    public void Partial_checksum_completes_to_a_valid_checksum_in_every_segment_the_link_cuts()
    {
        const int mss = 1000;
        var payload = new byte[3 * mss + 501];
        new Random(7).NextBytes(payload);
        var repr = new TcpRepr(80, 50000, 0xFFFFF000, 0x12345679, TcpFlags.Psh | TcpFlags.Ack | TcpFlags.Fin, 501)
        {
            HasTimestamps = true,
            TimestampValue = 10,
            TimestampEcho = 1,
            Payload = payload,
            PartialChecksum = true,
        };
        var super = new byte[repr.Length];
        Assert.True(repr.TryWrite(super, A, B, out var written));
        Assert.Equal(super.Length, written);
        var field = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(super.AsSpan(16));
        Assert.Equal((ushort)~InternetChecksum.Finish(InternetChecksum.PseudoHeader(A, B, IPProtocol.Tcp, super.Length)), field);
        var headerLength = repr.HeaderLength;
        var offset = 0;
        var pieces = 0;
        while (offset < payload.Length)
        {
            var length = Math.Min(mss, payload.Length - offset);
            var last = offset + length == payload.Length;
            var piece = new byte[headerLength + length];
            super.AsSpan(0, headerLength).CopyTo(piece);
            payload.AsSpan(offset, length).CopyTo(piece.AsSpan(headerLength));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(piece.AsSpan(4), repr.SequenceNumber + (uint)offset);
            if (!last)
            {
                piece[13] &= unchecked((byte)~(TcpFlags.Fin | TcpFlags.Psh));
            }
            // The pseudo-header sum for this piece's length: field − whole length + piece length, in ones' complement.
            ulong adjusted = field + (ulong)(~super.Length & 0xFFFF) + (ulong)piece.Length;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(piece.AsSpan(16), (ushort)~InternetChecksum.Finish(adjusted));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(piece.AsSpan(16), InternetChecksum.Finish(InternetChecksum.Add(0, piece)));
            Assert.True(TcpPacket.TryCreate(piece, out var packet));
            Assert.True(packet.IsChecksumValid(A, B), $"piece {pieces} has a bad checksum");
            Assert.True(TcpRepr.TryParse(packet, A, B, out var parsed));
            Assert.Equal(repr.SequenceNumber + (uint)offset, parsed.SequenceNumber);
            Assert.Equal(last, parsed.Has(TcpFlags.Fin));
            Assert.Equal(payload.AsSpan(offset, length), parsed.Payload);
            offset += length;
            pieces++;
        }
        Assert.Equal(4, pieces);
    }
}
