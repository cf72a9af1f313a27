using System;

namespace Unikernel.Protocols.Net;

/// <summary>
/// IPv4 reassembly (RFC 815) with a fixed number of slots and buffers: at most <c>slots × 64 KiB</c> of memory, each
/// datagram given a deadline. A fragment that overlaps one already received (other than an exact duplicate) discards the
/// whole datagram, as RFC 5722 asks for IPv6. Not thread-safe: the stack calls it under its lock.
/// </summary>
internal sealed class Reassembler
{
    public const long DefaultTimeout = 30_000_000_000L;
    public const int MaxFragmentsPerDatagram = 128;
    private const int MaxPayload = IPv4Packet.MaxLength - IPv4Packet.MinHeaderLength;

    private readonly Slot[] _slots;
    private readonly long _timeout;

    public Reassembler(int slots, long timeout = DefaultTimeout)
    {
        _slots = new Slot[slots];
        for (var i = 0; i < slots; i++)
        {
            _slots[i] = new Slot();
        }
        _timeout = timeout;
    }

    public long Timeouts { get; private set; }

    public long Overlaps { get; private set; }

    /// <summary>Fragments dropped because no slot was free, or malformed, or over the per-datagram bounds.</summary>
    public long Dropped { get; private set; }

    public int InProgress
    {
        get
        {
            var count = 0;
            foreach (var slot in _slots)
            {
                count += slot.InUse ? 1 : 0;
            }
            return count;
        }
    }

    /// <summary>
    /// Adds a fragment. When it completes a datagram, returns true with the datagram's first header and whole payload
    /// (valid until the next call).
    /// </summary>
    public bool Add(IPv4Packet packet, long now, out ReadOnlySpan<byte> header, out ReadOnlySpan<byte> payload)
    {
        header = default;
        payload = default;
        var offset = packet.FragmentOffset;
        var data = packet.Payload;
        var end = offset + data.Length;
        if (end > MaxPayload || (packet.MoreFragments && (data.Length == 0 || data.Length % 8 != 0)))
        {
            Dropped++;
            return false;
        }
        var slot = Find(packet, now);
        if (slot is null)
        {
            Dropped++;
            return false;
        }
        for (var i = 0; i < slot.RangeCount; i++)
        {
            var (start, stop) = slot.Ranges[i];
            if (start == offset && stop == end)
            {
                return false;
            }
            if (offset < stop && start < end)
            {
                Overlaps++;
                slot.Reset();
                return false;
            }
        }
        if (slot.RangeCount == MaxFragmentsPerDatagram
            || (!packet.MoreFragments && slot.TotalLength >= 0 && slot.TotalLength != end)
            || (slot.TotalLength >= 0 && end > slot.TotalLength)
            || (!packet.MoreFragments && end < slot.HighestEnd))
        {
            Dropped++;
            slot.Reset();
            return false;
        }
        slot.Buffer ??= new byte[MaxPayload];
        data.CopyTo(slot.Buffer.AsSpan(offset));
        slot.Ranges[slot.RangeCount++] = (offset, end);
        slot.Received += data.Length;
        slot.HighestEnd = Math.Max(slot.HighestEnd, end);
        if (!packet.MoreFragments)
        {
            slot.TotalLength = end;
        }
        if (offset == 0)
        {
            packet.Header.CopyTo(slot.Header);
            slot.HeaderLength = packet.HeaderLength;
            slot.FirstLength = data.Length;
        }
        if (slot.TotalLength >= 0 && slot.Received == slot.TotalLength)
        {
            // No overlaps and the lengths add up to the total, so the ranges tile [0, total).
            header = slot.Header.AsSpan(0, slot.HeaderLength);
            payload = slot.Buffer.AsSpan(0, slot.TotalLength);
            slot.Reset();
            return true;
        }
        return false;
    }

    public long NextDeadline
    {
        get
        {
            var next = long.MaxValue;
            foreach (var slot in _slots)
            {
                if (slot.InUse)
                {
                    next = Math.Min(next, slot.Deadline);
                }
            }
            return next;
        }
    }

    /// <summary>
    /// Discards one datagram past its deadline; call until false. When its first fragment had arrived, returns that
    /// fragment's header and first 8 data bytes (for ICMP time exceeded, RFC 1122 §3.3.2), else empty spans. The spans
    /// are valid until the next call.
    /// </summary>
    public bool TryExpire(long now, out ReadOnlySpan<byte> header, out ReadOnlySpan<byte> firstBytes)
    {
        foreach (var slot in _slots)
        {
            if (slot.InUse && now >= slot.Deadline)
            {
                Timeouts++;
                header = slot.Header.AsSpan(0, slot.HeaderLength);
                firstBytes = slot.HeaderLength > 0 ? slot.Buffer.AsSpan(0, Math.Min(8, slot.FirstLength)) : default;
                slot.Reset();
                return true;
            }
        }
        header = default;
        firstBytes = default;
        return false;
    }

    private Slot? Find(IPv4Packet packet, long now)
    {
        Slot? free = null;
        foreach (var slot in _slots)
        {
            if (slot.InUse)
            {
                if (now >= slot.Deadline)
                {
                    Timeouts++;
                    slot.Reset();
                }
                else if (slot.Source == packet.Source && slot.Destination == packet.Destination
                    && slot.Identification == packet.Identification && slot.Protocol == packet.Protocol)
                {
                    return slot;
                }
            }
            if (!slot.InUse && (free is null || (free.Buffer is null && slot.Buffer is not null)))
            {
                free = slot;
            }
        }
        if (free is not null)
        {
            free.InUse = true;
            free.Source = packet.Source;
            free.Destination = packet.Destination;
            free.Identification = packet.Identification;
            free.Protocol = packet.Protocol;
            free.Deadline = now + _timeout;
        }
        return free;
    }

    private sealed class Slot
    {
        public bool InUse;
        public uint Source;
        public uint Destination;
        public ushort Identification;
        public byte Protocol;
        public long Deadline;
        public byte[]? Buffer;
        public readonly byte[] Header = new byte[60];
        public int HeaderLength;
        public int FirstLength;
        public readonly (int Start, int End)[] Ranges = new (int, int)[MaxFragmentsPerDatagram];
        public int RangeCount;
        public int Received;
        public int TotalLength = -1;
        public int HighestEnd;

        public void Reset()
        {
            InUse = false;
            RangeCount = 0;
            Received = 0;
            TotalLength = -1;
            HighestEnd = 0;
            HeaderLength = 0;
        }
    }
}
