using System;

namespace Unikernel.Protocols.Net;

/// <summary>
/// IPv4 reassembly (RFC 815) bounded by memory rather than by a handful of slots. Fragment data lives in an arena of
/// <see cref="BlockSize"/>-byte blocks (<see cref="MemoryLimit"/> bytes in all, allocated on the first fragment); up to
/// <see cref="MaxDatagrams"/> datagrams are in progress, each with a deadline. When a fragment does not fit, the oldest
/// incomplete datagram is evicted — the sender's own oldest first once that sender holds more than its share
/// (a quarter of the blocks or of the datagrams), so one sender cannot starve the rest. A fragment that overlaps one
/// already received (other than an exact duplicate) discards the whole datagram, as RFC 5722 asks for IPv6; a datagram
/// whose header and data would exceed 65,535 bytes is discarded. Not thread-safe: the stack calls it under its lock.
/// </summary>
internal sealed class Reassembler
{
    public const long DefaultTimeout = 30_000_000_000L;
    public const int MaxFragmentsPerDatagram = 128;
    public const int BlockSize = 512;
    public const int DefaultMemoryLimit = 512 * 1024;
    public const int MaxDatagrams = 64;
    private const int ShareDivisor = 4;
    private const int None = -1;

    private readonly long _timeout;
    private readonly int _blockCount;
    private readonly Datagram[] _datagrams = new Datagram[MaxDatagrams];
    private readonly Fragment[] _fragments;
    private readonly int[] _nextBlock;
    private readonly byte[] _expiredHeader = new byte[60];
    private readonly byte[] _expiredFirstBytes = new byte[8];
    private byte[]? _arena;
    private byte[]? _output;
    private int _freeBlock;
    private int _freeBlocks;
    private int _freeFragment;
    private long _arrivals;

    public Reassembler(int memoryLimit = DefaultMemoryLimit, long timeout = DefaultTimeout)
    {
        _timeout = timeout;
        _blockCount = Math.Max(1, memoryLimit / BlockSize);
        _nextBlock = new int[_blockCount];
        for (var i = 0; i < _blockCount; i++)
        {
            _nextBlock[i] = i + 1 < _blockCount ? i + 1 : None;
        }
        _freeBlock = 0;
        _freeBlocks = _blockCount;
        // Every fragment holds at least one block, except an empty last fragment: one record per block, plus one per datagram.
        _fragments = new Fragment[_blockCount + MaxDatagrams];
        for (var i = 0; i < _fragments.Length; i++)
        {
            _fragments[i].Next = i + 1 < _fragments.Length ? i + 1 : None;
        }
        _freeFragment = 0;
        for (var i = 0; i < _datagrams.Length; i++)
        {
            _datagrams[i] = new Datagram();
        }
    }

    public long Timeouts { get; private set; }

    public long Overlaps { get; private set; }

    /// <summary>Fragments dropped: malformed, inconsistent with the datagram, over the per-datagram bounds or over 65,535 bytes.</summary>
    public long Dropped { get; private set; }

    /// <summary>Incomplete datagrams evicted to make room for newer fragments.</summary>
    public long Evicted { get; private set; }

    public int MemoryLimit => _blockCount * BlockSize;

    /// <summary>Bytes of the arena held by incomplete datagrams.</summary>
    public int MemoryInUse => (_blockCount - _freeBlocks) * BlockSize;

    public int InProgress
    {
        get
        {
            var count = 0;
            foreach (var datagram in _datagrams)
            {
                count += datagram.InUse ? 1 : 0;
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
        if (packet.MoreFragments && (data.Length == 0 || data.Length % 8 != 0))
        {
            Dropped++;
            return false;
        }
        var datagram = Find(packet, now);
        // Only the first fragment's header is the datagram's (later ones may carry copies of some options).
        if (end + (offset == 0 ? packet.HeaderLength : IPv4Packet.MinHeaderLength) > IPv4Packet.MaxLength)
        {
            // The datagram cannot be valid (RFC 791: 65,535 bytes at most): drop what we have of it too.
            Dropped++;
            Release(datagram);
            return false;
        }
        for (var f = datagram.FirstFragment; f != None; f = _fragments[f].Next)
        {
            var start = _fragments[f].Offset;
            var stop = start + _fragments[f].Length;
            if (start == offset && stop == end)
            {
                return false;
            }
            if (offset < stop && start < end)
            {
                Overlaps++;
                Release(datagram);
                return false;
            }
        }
        if (datagram.FragmentCount == MaxFragmentsPerDatagram
            || (!packet.MoreFragments && datagram.TotalLength >= 0 && datagram.TotalLength != end)
            || (datagram.TotalLength >= 0 && end > datagram.TotalLength)
            || (!packet.MoreFragments && end < datagram.HighestEnd)
            || (datagram.HeaderLength > 0 && end + datagram.HeaderLength > IPv4Packet.MaxLength))
        {
            Dropped++;
            Release(datagram);
            return false;
        }
        var blocks = (data.Length + BlockSize - 1) / BlockSize;
        if (!MakeRoom(datagram, blocks))
        {
            Dropped++;
            Release(datagram);
            return false;
        }
        Store(datagram, offset, data, blocks);
        datagram.Received += data.Length;
        datagram.HighestEnd = Math.Max(datagram.HighestEnd, end);
        if (!packet.MoreFragments)
        {
            datagram.TotalLength = end;
        }
        if (offset == 0)
        {
            packet.Header.CopyTo(datagram.Header);
            datagram.HeaderLength = packet.HeaderLength;
            if (datagram.HighestEnd + datagram.HeaderLength > IPv4Packet.MaxLength)
            {
                Dropped++;
                Release(datagram);
                return false;
            }
        }
        if (datagram.TotalLength < 0 || datagram.Received != datagram.TotalLength)
        {
            return false;
        }
        // No overlaps and the lengths add up to the total, so the fragments tile [0, total).
        _output ??= new byte[IPv4Packet.MaxLength];
        for (var f = datagram.FirstFragment; f != None; f = _fragments[f].Next)
        {
            CopyOut(_fragments[f], _output.AsSpan(_fragments[f].Offset, _fragments[f].Length));
        }
        datagram.Header.AsSpan(0, datagram.HeaderLength).CopyTo(_expiredHeader);
        header = _expiredHeader.AsSpan(0, datagram.HeaderLength);
        payload = _output.AsSpan(0, datagram.TotalLength);
        Release(datagram);
        return true;
    }

    public long NextDeadline
    {
        get
        {
            var next = long.MaxValue;
            foreach (var datagram in _datagrams)
            {
                if (datagram.InUse)
                {
                    next = Math.Min(next, datagram.Deadline);
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
        foreach (var datagram in _datagrams)
        {
            if (datagram.InUse && now >= datagram.Deadline)
            {
                Timeouts++;
                header = default;
                firstBytes = default;
                if (datagram.HeaderLength > 0)
                {
                    datagram.Header.AsSpan(0, datagram.HeaderLength).CopyTo(_expiredHeader);
                    header = _expiredHeader.AsSpan(0, datagram.HeaderLength);
                    for (var f = datagram.FirstFragment; f != None; f = _fragments[f].Next)
                    {
                        if (_fragments[f].Offset == 0)
                        {
                            var length = Math.Min(8, _fragments[f].Length);
                            CopyOut(_fragments[f], _expiredFirstBytes.AsSpan(0, length));
                            firstBytes = _expiredFirstBytes.AsSpan(0, length);
                        }
                    }
                }
                Release(datagram);
                return true;
            }
        }
        header = default;
        firstBytes = default;
        return false;
    }

    /// <summary>The datagram this fragment belongs to, started when new (evicting the oldest when all are in use).</summary>
    private Datagram Find(IPv4Packet packet, long now)
    {
        Datagram? free = null;
        foreach (var datagram in _datagrams)
        {
            if (datagram.InUse)
            {
                if (now >= datagram.Deadline)
                {
                    Timeouts++;
                    Release(datagram);
                }
                else if (datagram.Source == packet.Source && datagram.Destination == packet.Destination
                    && datagram.Identification == packet.Identification && datagram.Protocol == packet.Protocol)
                {
                    return datagram;
                }
            }
            if (!datagram.InUse)
            {
                free ??= datagram;
            }
        }
        if (free is null || SourceDatagrams(packet.Source) >= MaxDatagrams / ShareDivisor)
        {
            // Over this sender's share of datagrams, its own oldest goes; otherwise (all in use) the oldest of all.
            var victim = Oldest(packet.Source, exclude: null) ?? Oldest(null, exclude: null)!;
            Evicted++;
            Release(victim);
            free ??= victim;
        }
        free.InUse = true;
        free.Source = packet.Source;
        free.Destination = packet.Destination;
        free.Identification = packet.Identification;
        free.Protocol = packet.Protocol;
        free.Deadline = now + _timeout;
        free.Arrival = _arrivals++;
        return free;
    }

    /// <summary>Frees blocks (and a fragment record) for <paramref name="blocks"/> more blocks of <paramref name="datagram"/>; false when it cannot fit even alone.</summary>
    private bool MakeRoom(Datagram datagram, int blocks)
    {
        var share = _blockCount / ShareDivisor;
        while (SourceBlocks(datagram.Source) + blocks > share)
        {
            if (Oldest(datagram.Source, exclude: datagram) is not { } own)
            {
                // This datagram alone is over the share: a sender may still use free memory, but may not evict for it.
                break;
            }
            Evicted++;
            Release(own);
        }
        while (_freeBlocks < blocks || _freeFragment == None)
        {
            if (Oldest(null, exclude: datagram) is not { } oldest)
            {
                return false;
            }
            Evicted++;
            Release(oldest);
        }
        return true;
    }

    private void Store(Datagram datagram, int offset, ReadOnlySpan<byte> data, int blocks)
    {
        _arena ??= new byte[_blockCount * BlockSize];
        var f = _freeFragment;
        _freeFragment = _fragments[f].Next;
        ref var fragment = ref _fragments[f];
        fragment.Offset = offset;
        fragment.Length = data.Length;
        fragment.FirstBlock = None;
        var last = None;
        for (var i = 0; i < blocks; i++)
        {
            var block = _freeBlock;
            _freeBlock = _nextBlock[block];
            _freeBlocks--;
            _nextBlock[block] = None;
            if (last == None)
            {
                fragment.FirstBlock = block;
            }
            else
            {
                _nextBlock[last] = block;
            }
            last = block;
            var chunk = data.Slice(i * BlockSize, Math.Min(BlockSize, data.Length - (i * BlockSize)));
            chunk.CopyTo(_arena.AsSpan(block * BlockSize));
        }
        fragment.Blocks = blocks;
        fragment.Next = datagram.FirstFragment;
        datagram.FirstFragment = f;
        datagram.FragmentCount++;
        datagram.Blocks += blocks;
    }

    private void CopyOut(in Fragment fragment, Span<byte> destination)
    {
        var block = fragment.FirstBlock;
        for (var copied = 0; copied < destination.Length; copied += BlockSize)
        {
            var length = Math.Min(BlockSize, destination.Length - copied);
            _arena.AsSpan(block * BlockSize, length).CopyTo(destination[copied..]);
            block = _nextBlock[block];
        }
    }

    private void Release(Datagram datagram)
    {
        var f = datagram.FirstFragment;
        while (f != None)
        {
            var next = _fragments[f].Next;
            var block = _fragments[f].FirstBlock;
            while (block != None)
            {
                var nextBlock = _nextBlock[block];
                _nextBlock[block] = _freeBlock;
                _freeBlock = block;
                _freeBlocks++;
                block = nextBlock;
            }
            _fragments[f] = default;
            _fragments[f].Next = _freeFragment;
            _freeFragment = f;
            f = next;
        }
        datagram.Reset();
    }

    private Datagram? Oldest(uint? source, Datagram? exclude)
    {
        Datagram? oldest = null;
        foreach (var datagram in _datagrams)
        {
            if (datagram.InUse && datagram != exclude && (source is null || datagram.Source == source)
                && (oldest is null || datagram.Arrival < oldest.Arrival))
            {
                oldest = datagram;
            }
        }
        return oldest;
    }

    private int SourceBlocks(uint source)
    {
        var blocks = 0;
        foreach (var datagram in _datagrams)
        {
            blocks += datagram.InUse && datagram.Source == source ? datagram.Blocks : 0;
        }
        return blocks;
    }

    private int SourceDatagrams(uint source)
    {
        var count = 0;
        foreach (var datagram in _datagrams)
        {
            count += datagram.InUse && datagram.Source == source ? 1 : 0;
        }
        return count;
    }

    private struct Fragment
    {
        public int Offset;
        public int Length;
        public int FirstBlock;
        public int Blocks;
        public int Next;
    }

    private sealed class Datagram
    {
        public bool InUse;
        public uint Source;
        public uint Destination;
        public ushort Identification;
        public byte Protocol;
        public long Deadline;
        public long Arrival;
        public readonly byte[] Header = new byte[60];
        public int HeaderLength;
        public int FirstFragment = None;
        public int FragmentCount;
        public int Blocks;
        public int Received;
        public int TotalLength = -1;
        public int HighestEnd;

        public void Reset()
        {
            InUse = false;
            FirstFragment = None;
            FragmentCount = 0;
            Blocks = 0;
            Received = 0;
            TotalLength = -1;
            HighestEnd = 0;
            HeaderLength = 0;
        }
    }
}
