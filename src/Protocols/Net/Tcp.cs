using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Net;

/// <summary>TCP control bits (RFC 9293 §3.1; ECE and CWR from RFC 3168).</summary>
public static class TcpFlags
{
    public const byte Fin = 0x01;
    public const byte Syn = 0x02;
    public const byte Rst = 0x04;
    public const byte Psh = 0x08;
    public const byte Ack = 0x10;
    public const byte Urg = 0x20;
    public const byte Ece = 0x40;
    public const byte Cwr = 0x80;
}

/// <summary>Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4): a is before b when the signed difference is negative.</summary>
public static class TcpSeq
{
    public static bool Lt(uint a, uint b) => (int)(a - b) < 0;

    public static bool Le(uint a, uint b) => (int)(a - b) <= 0;

    public static bool Gt(uint a, uint b) => (int)(a - b) > 0;

    public static bool Ge(uint a, uint b) => (int)(a - b) >= 0;

    public static uint Max(uint a, uint b) => Gt(a, b) ? a : b;

    public static uint Min(uint a, uint b) => Lt(a, b) ? a : b;
}

/// <summary>
/// A checked view of a TCP segment (RFC 9293 §3.1): the 20-byte header fits, and the data offset is at least 5 words and
/// fits the buffer. The checksum is not checked here (it needs the IP pseudo-header: <see cref="IsChecksumValid"/>).
/// </summary>
public readonly ref struct TcpPacket
{
    public const int MinHeaderLength = 20;
    public const int MaxOptionsLength = 40;

    private const int SourcePortOffset = 0;
    private const int DestinationPortOffset = 2;
    private const int SequenceOffset = 4;
    private const int AcknowledgmentOffset = 8;
    private const int DataOffsetOffset = 12;
    private const int FlagsOffset = 13;
    private const int WindowOffset = 14;
    private const int ChecksumOffset = 16;
    private const int UrgentOffset = 18;

    private readonly ReadOnlySpan<byte> _bytes;

    private TcpPacket(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryCreate(ReadOnlySpan<byte> bytes, out TcpPacket packet)
    {
        packet = default;
        if (bytes.Length < MinHeaderLength)
        {
            return false;
        }
        var headerLength = (bytes[DataOffsetOffset] >> 4) * 4;
        if (headerLength < MinHeaderLength || headerLength > bytes.Length)
        {
            return false;
        }
        packet = new TcpPacket(bytes);
        return true;
    }

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[SourcePortOffset..]);

    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[DestinationPortOffset..]);

    public uint SequenceNumber => BinaryPrimitives.ReadUInt32BigEndian(_bytes[SequenceOffset..]);

    public uint AcknowledgmentNumber => BinaryPrimitives.ReadUInt32BigEndian(_bytes[AcknowledgmentOffset..]);

    public int HeaderLength => (_bytes[DataOffsetOffset] >> 4) * 4;

    public byte Flags => _bytes[FlagsOffset];

    public ushort WindowSize => BinaryPrimitives.ReadUInt16BigEndian(_bytes[WindowOffset..]);

    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[ChecksumOffset..]);

    public ushort UrgentPointer => BinaryPrimitives.ReadUInt16BigEndian(_bytes[UrgentOffset..]);

    public ReadOnlySpan<byte> Options => _bytes[MinHeaderLength..HeaderLength];

    public ReadOnlySpan<byte> Payload => _bytes[HeaderLength..];

    public ReadOnlySpan<byte> Bytes => _bytes;

    public bool IsChecksumValid(uint source, uint destination) =>
        InternetChecksum.Finish(InternetChecksum.Add(InternetChecksum.PseudoHeader(source, destination, IPProtocol.Tcp, _bytes.Length), _bytes)) == 0;

    internal static void WriteHeader(Span<byte> destination, ushort sourcePort, ushort destinationPort, uint sequence, uint acknowledgment,
        int headerLength, byte flags, ushort window, ushort urgent)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination[SourcePortOffset..], sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[DestinationPortOffset..], destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(destination[SequenceOffset..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(destination[AcknowledgmentOffset..], acknowledgment);
        destination[DataOffsetOffset] = (byte)(headerLength / 4 << 4);
        destination[FlagsOffset] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(destination[WindowOffset..], window);
        BinaryPrimitives.WriteUInt16BigEndian(destination[ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(destination[UrgentOffset..], urgent);
    }

    internal static void WriteChecksum(Span<byte> segment, ushort checksum) =>
        BinaryPrimitives.WriteUInt16BigEndian(segment[ChecksumOffset..], checksum);
}

/// <summary>Option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018).</summary>
public static class TcpOptionKind
{
    public const byte End = 0;
    public const byte Nop = 1;
    public const byte MaxSegmentSize = 2;
    public const byte WindowScale = 3;
    public const byte SackPermitted = 4;
    public const byte Sack = 5;
    public const byte Timestamps = 8;
}

/// <summary>Up to four SACK blocks (RFC 2018), stored inline.</summary>
public struct TcpSackBlocks
{
    public const int Capacity = 4;

    private uint _l0, _r0, _l1, _r1, _l2, _r2, _l3, _r3;

    public int Count { get; private set; }

    public readonly (uint Left, uint Right) this[int index] => index switch
    {
        0 when Count > 0 => (_l0, _r0),
        1 when Count > 1 => (_l1, _r1),
        2 when Count > 2 => (_l2, _r2),
        3 when Count > 3 => (_l3, _r3),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    /// <summary>Adds a block; false when four are already held.</summary>
    public bool TryAdd(uint left, uint right)
    {
        switch (Count)
        {
            case 0: (_l0, _r0) = (left, right); break;
            case 1: (_l1, _r1) = (left, right); break;
            case 2: (_l2, _r2) = (left, right); break;
            case 3: (_l3, _r3) = (left, right); break;
            default: return false;
        }
        Count++;
        return true;
    }
}

/// <summary>
/// A parsed TCP segment with its options. <see cref="MaxSegmentSize"/> 0 and <see cref="WindowScale"/> -1 mean absent.
/// Options with a known kind but a wrong length are ignored (as Linux does); a length byte that is missing, below 2 or
/// running past the header makes the options malformed and <see cref="TryParse"/> fails.
/// </summary>
public ref struct TcpRepr
{
    public ushort SourcePort;
    public ushort DestinationPort;
    public uint SequenceNumber;
    public uint AcknowledgmentNumber;
    public byte Flags;
    public ushort WindowSize;
    public ushort UrgentPointer;
    public ushort MaxSegmentSize;
    public sbyte WindowScale;
    public bool SackPermitted;
    public bool HasTimestamps;
    public uint TimestampValue;
    public uint TimestampEcho;
    public TcpSackBlocks Sack;
    public ReadOnlySpan<byte> Payload;

    /// <summary>
    /// Write a partial checksum: the folded pseudo-header sum, not complemented, with neither header nor payload summed
    /// (Linux's CHECKSUM_PARTIAL, as <c>tcp_v4_send_check</c> leaves it), for a link that completes the checksum of
    /// each segment it cuts the packet into.
    /// </summary>
    public bool PartialChecksum;

    public TcpRepr(ushort sourcePort, ushort destinationPort, uint sequence, uint acknowledgment, byte flags, ushort window)
    {
        SourcePort = sourcePort;
        DestinationPort = destinationPort;
        SequenceNumber = sequence;
        AcknowledgmentNumber = acknowledgment;
        Flags = flags;
        WindowSize = window;
        WindowScale = -1;
    }

    public readonly bool Has(byte flag) => (Flags & flag) != 0;

    /// <summary>Sequence space the segment occupies: data plus one for SYN and one for FIN.</summary>
    public readonly int SegmentLength => Payload.Length + ((Flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((Flags & TcpFlags.Fin) != 0 ? 1 : 0);

    /// <summary>The options' length as written: each option padded with NOPs to a 4-byte boundary, as Linux lays them out.</summary>
    public readonly int OptionsLength
    {
        get
        {
            var length = 0;
            if (MaxSegmentSize != 0)
            {
                length += 4;
            }
            if (SackPermitted || HasTimestamps)
            {
                length += HasTimestamps ? 12 : 4; // [SACKOK|NOP NOP] TS, or NOP NOP SACKOK
            }
            if (WindowScale >= 0)
            {
                length += 4;
            }
            if (Sack.Count > 0)
            {
                length += 4 + 8 * Sack.Count;
            }
            return length;
        }
    }

    public readonly int HeaderLength => TcpPacket.MinHeaderLength + OptionsLength;

    public readonly int Length => HeaderLength + Payload.Length;

    /// <summary>Parses a checked segment; false when the checksum is wrong or the options are malformed.</summary>
    public static bool TryParse(TcpPacket packet, uint source, uint destination, out TcpRepr repr)
    {
        repr = default;
        if (!packet.IsChecksumValid(source, destination))
        {
            return false;
        }
        return TryParseUnchecked(packet, out repr);
    }

    /// <summary>Parses without checking the checksum (for segments already verified, and for fuzzing the option parser).</summary>
    public static bool TryParseUnchecked(TcpPacket packet, out TcpRepr repr)
    {
        repr = new TcpRepr(packet.SourcePort, packet.DestinationPort, packet.SequenceNumber, packet.AcknowledgmentNumber, packet.Flags, packet.WindowSize)
        {
            UrgentPointer = packet.UrgentPointer,
            Payload = packet.Payload,
        };
        var options = packet.Options;
        var i = 0;
        while (i < options.Length)
        {
            var kind = options[i];
            if (kind == TcpOptionKind.End)
            {
                break;
            }
            if (kind == TcpOptionKind.Nop)
            {
                i++;
                continue;
            }
            if (i + 1 >= options.Length)
            {
                return false;
            }
            int length = options[i + 1];
            if (length < 2 || i + length > options.Length)
            {
                return false;
            }
            var body = options.Slice(i + 2, length - 2);
            switch (kind)
            {
                case TcpOptionKind.MaxSegmentSize when body.Length == 2:
                    repr.MaxSegmentSize = BinaryPrimitives.ReadUInt16BigEndian(body);
                    break;
                case TcpOptionKind.WindowScale when body.Length == 1:
                    repr.WindowScale = (sbyte)Math.Min(body[0], (byte)14); // RFC 7323 §2.3: larger shifts are treated as 14
                    break;
                case TcpOptionKind.SackPermitted when body.Length == 0:
                    repr.SackPermitted = true;
                    break;
                case TcpOptionKind.Sack when body.Length >= 8 && body.Length % 8 == 0:
                    for (var b = 0; b + 8 <= body.Length && repr.Sack.Count < TcpSackBlocks.Capacity; b += 8)
                    {
                        repr.Sack.TryAdd(BinaryPrimitives.ReadUInt32BigEndian(body[b..]), BinaryPrimitives.ReadUInt32BigEndian(body[(b + 4)..]));
                    }
                    break;
                case TcpOptionKind.Timestamps when body.Length == 8:
                    repr.HasTimestamps = true;
                    repr.TimestampValue = BinaryPrimitives.ReadUInt32BigEndian(body);
                    repr.TimestampEcho = BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                    break;
            }
            i += length;
        }
        return true;
    }

    /// <summary>
    /// Writes header, options, payload and checksum (for the pseudo-header of <paramref name="source"/> and
    /// <paramref name="destinationAddress"/>). The payload may already sit in place at <c>destination[HeaderLength..]</c>.
    /// </summary>
    public readonly bool TryWrite(Span<byte> destination, uint source, uint destinationAddress, out int written)
    {
        written = 0;
        var headerLength = HeaderLength;
        var length = headerLength + Payload.Length;
        if (destination.Length < length || headerLength > TcpPacket.MinHeaderLength + TcpPacket.MaxOptionsLength
            || length > IPv4Packet.MaxLength - IPv4Repr.HeaderLength)
        {
            return false;
        }
        if (!Payload.Overlaps(destination[headerLength..], out var offset) || offset != 0)
        {
            Payload.CopyTo(destination[headerLength..]);
        }
        TcpPacket.WriteHeader(destination, SourcePort, DestinationPort, SequenceNumber, AcknowledgmentNumber, headerLength, Flags, WindowSize, UrgentPointer);
        var o = destination[TcpPacket.MinHeaderLength..headerLength];
        var i = 0;
        if (MaxSegmentSize != 0)
        {
            o[i++] = TcpOptionKind.MaxSegmentSize;
            o[i++] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(o[i..], MaxSegmentSize);
            i += 2;
        }
        if (HasTimestamps)
        {
            if (SackPermitted)
            {
                o[i++] = TcpOptionKind.SackPermitted;
                o[i++] = 2;
            }
            else
            {
                o[i++] = TcpOptionKind.Nop;
                o[i++] = TcpOptionKind.Nop;
            }
            o[i++] = TcpOptionKind.Timestamps;
            o[i++] = 10;
            BinaryPrimitives.WriteUInt32BigEndian(o[i..], TimestampValue);
            BinaryPrimitives.WriteUInt32BigEndian(o[(i + 4)..], TimestampEcho);
            i += 8;
        }
        else if (SackPermitted)
        {
            o[i++] = TcpOptionKind.Nop;
            o[i++] = TcpOptionKind.Nop;
            o[i++] = TcpOptionKind.SackPermitted;
            o[i++] = 2;
        }
        if (WindowScale >= 0)
        {
            o[i++] = TcpOptionKind.Nop;
            o[i++] = TcpOptionKind.WindowScale;
            o[i++] = 3;
            o[i++] = (byte)WindowScale;
        }
        if (Sack.Count > 0)
        {
            o[i++] = TcpOptionKind.Nop;
            o[i++] = TcpOptionKind.Nop;
            o[i++] = TcpOptionKind.Sack;
            o[i++] = (byte)(2 + 8 * Sack.Count);
            for (var b = 0; b < Sack.Count; b++)
            {
                var (left, right) = Sack[b];
                BinaryPrimitives.WriteUInt32BigEndian(o[i..], left);
                BinaryPrimitives.WriteUInt32BigEndian(o[(i + 4)..], right);
                i += 8;
            }
        }
        if (PartialChecksum)
        {
            TcpPacket.WriteChecksum(destination, (ushort)~InternetChecksum.Finish(InternetChecksum.PseudoHeader(source, destinationAddress, IPProtocol.Tcp, length)));
            written = length;
            return true;
        }
        var sum = InternetChecksum.Add(InternetChecksum.PseudoHeader(source, destinationAddress, IPProtocol.Tcp, length), destination[..length]);
        TcpPacket.WriteChecksum(destination, InternetChecksum.Finish(sum));
        written = length;
        return true;
    }
}
