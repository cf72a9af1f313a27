using System;

namespace Unikernel.Protocols.Net;

/// <summary>
/// The neighbour table (RFC 826): a fixed number of entries that expire, plus a bounded queue of frames waiting for an
/// address to resolve (at most <see cref="MaxQueuedPerDestination"/> per destination). Not thread-safe: the stack calls
/// it under its lock. Times are monotonic nanoseconds.
/// </summary>
/// <remarks>
/// Hostile traffic must not push out the neighbours we need. Entries are weak (<see cref="State.Learned"/>: taken from a
/// request that named us or from an IPv4 frame of an on-link sender, neither of which proves much; and
/// <see cref="State.Pending"/>: a resolution in progress) or confirmed (the answer to our own request). A new entry
/// replaces a free or expired one, else the oldest weak one, and only when there is none the oldest confirmed one;
/// pending entries may hold at most half the table, so a flood of resolutions for absent hosts only churns among
/// itself. The <see cref="Protected"/> address (the gateway) is never replaced.
/// </remarks>
internal sealed class ArpCache
{
    public const long DefaultEntryLifetime = 60_000_000_000L;
    public const long RequestInterval = 1_000_000_000L;
    public const int MaxRequests = 3;
    public const int MaxQueuedPerDestination = 16;

    private readonly Entry[] _entries;
    private readonly Queued[] _queued;
    private readonly long _lifetime;
    private readonly int _maxPending;
    private readonly int _frameSize;

    public ArpCache(int capacity, int pendingCapacity, int frameSize, long lifetime = DefaultEntryLifetime)
    {
        _entries = new Entry[capacity];
        // Frame buffers are made on first use: most appliances never queue more than a few frames.
        _queued = new Queued[pendingCapacity];
        _frameSize = frameSize;
        _lifetime = lifetime;
        _maxPending = Math.Max(1, capacity / 2);
    }

    /// <summary>An address whose entry is never replaced by another (the gateway); 0 for none.</summary>
    public uint Protected { get; set; }

    public int Capacity => _entries.Length;

    /// <summary>Resolved entries (learned or confirmed).</summary>
    public int Count
    {
        get
        {
            var count = 0;
            foreach (ref readonly var entry in _entries.AsSpan())
            {
                count += entry.State is State.Learned or State.Confirmed ? 1 : 0;
            }
            return count;
        }
    }

    public int PendingFrames
    {
        get
        {
            var count = 0;
            foreach (ref readonly var queued in _queued.AsSpan())
            {
                count += queued.Length > 0 ? 1 : 0;
            }
            return count;
        }
    }

    /// <summary>Looks up a resolved, unexpired entry.</summary>
    public bool TryGet(uint address, long now, out MacAddress mac)
    {
        var index = Find(address);
        if (index >= 0 && _entries[index].State is State.Learned or State.Confirmed && now < _entries[index].ExpiresAt)
        {
            mac = _entries[index].Mac;
            return true;
        }
        mac = default;
        return false;
    }

    public bool Contains(uint address) => Find(address) >= 0;

    /// <summary>True when <paramref name="address"/> resolved through our own request (not merely learned).</summary>
    public bool IsConfirmed(uint address)
    {
        var index = Find(address);
        return index >= 0 && _entries[index].State == State.Confirmed;
    }

    /// <summary>When <see cref="Poll"/> next has work (a retry or a give-up); resolved entries expire lazily.</summary>
    public long NextDeadline
    {
        get
        {
            var next = long.MaxValue;
            foreach (ref readonly var entry in _entries.AsSpan())
            {
                if (entry.State == State.Pending)
                {
                    next = Math.Min(next, entry.NextRequestAt);
                }
            }
            return next;
        }
    }

    /// <summary>
    /// Records a mapping from an ARP packet. An existing entry is refreshed (a pending one is confirmed: we asked);
    /// when <paramref name="create"/> is true (a request naming us, RFC 826) a missing one is added as learned.
    /// Returns true when an entry now holds the mapping.
    /// </summary>
    public bool Update(uint address, MacAddress mac, long now, bool create)
    {
        if (address == 0 || !mac.IsUnicast)
        {
            return false;
        }
        var index = Find(address);
        if (index >= 0)
        {
            ref var entry = ref _entries[index];
            if (entry.State == State.Pending)
            {
                entry.State = State.Confirmed;
            }
            Resolve(ref entry, mac, now);
            return true;
        }
        return create && TryAddLearned(address, mac, now);
    }

    /// <summary>
    /// Learns the MAC of an on-link sender from an IPv4 frame it sent (so a reply needs no ARP). Never changes the MAC
    /// of an entry that has one (only ARP does); resolves a pending entry. Returns true when an entry holds the mapping.
    /// </summary>
    public bool Learn(uint address, MacAddress mac, long now)
    {
        if (address == 0 || !mac.IsUnicast)
        {
            return false;
        }
        var index = Find(address);
        if (index >= 0)
        {
            ref var entry = ref _entries[index];
            if (entry.State == State.Pending)
            {
                entry.State = State.Learned;
                Resolve(ref entry, mac, now);
                return true;
            }
            if (entry.Mac != mac)
            {
                return false;
            }
            if (now >= entry.ExpiresAt - (_lifetime / 2))
            {
                // Refreshing costs a write; doing it once per half lifetime is enough.
                entry.ExpiresAt = now + _lifetime;
            }
            return true;
        }
        return TryAddLearned(address, mac, now);
    }

    /// <summary>True when frames wait for <paramref name="address"/> (so a caller that just resolved it should release them).</summary>
    public bool HasQueued(uint address)
    {
        var index = Find(address);
        return index >= 0 && _entries[index].QueuedFrames > 0;
    }

    /// <summary>
    /// Marks <paramref name="address"/> as being resolved. <see cref="ResolveStart.Started"/>: a request should go out
    /// now; <see cref="ResolveStart.InProgress"/>: one already is; <see cref="ResolveStart.TableFull"/>: no entry can be
    /// spared (every one is protected), so nothing can wait for this address.
    /// </summary>
    public ResolveStart BeginResolve(uint address, long now)
    {
        var index = Find(address);
        if (index >= 0 && _entries[index].State == State.Pending)
        {
            return ResolveStart.InProgress;
        }
        if (index < 0 && (index = Allocate(now, pending: true)) < 0)
        {
            return ResolveStart.TableFull;
        }
        ref var entry = ref _entries[index];
        entry.Address = address;
        entry.Mac = default;
        entry.State = State.Pending;
        entry.Requests = 1;
        entry.Since = now;
        entry.NextRequestAt = now + RequestInterval;
        return ResolveStart.Started;
    }

    /// <summary>Queues a frame (its destination MAC filled in later); false when the address is not being resolved, or its share or the queue is full.</summary>
    public bool TryQueue(uint nextHop, ReadOnlySpan<byte> frame)
    {
        var index = Find(nextHop);
        if (index < 0 || _entries[index].State != State.Pending || _entries[index].QueuedFrames >= MaxQueuedPerDestination)
        {
            return false;
        }
        for (var i = 0; i < _queued.Length; i++)
        {
            ref var queued = ref _queued[i];
            if (queued.Length == 0 && frame.Length <= _frameSize)
            {
                queued.Frame ??= new byte[_frameSize];
                frame.CopyTo(queued.Frame);
                queued.Length = frame.Length;
                queued.NextHop = nextHop;
                _entries[index].QueuedFrames++;
                return true;
            }
        }
        return false;
    }

    /// <summary>Takes the next queued frame for <paramref name="nextHop"/>; the span is valid until the next call.</summary>
    public bool TryDequeue(uint nextHop, out Span<byte> frame)
    {
        for (var i = 0; i < _queued.Length; i++)
        {
            ref var queued = ref _queued[i];
            if (queued.Length > 0 && queued.NextHop == nextHop)
            {
                frame = queued.Frame.AsSpan(0, queued.Length);
                queued.Length = 0;
                var index = Find(nextHop);
                if (index >= 0 && _entries[index].QueuedFrames > 0)
                {
                    _entries[index].QueuedFrames--;
                }
                return true;
            }
        }
        frame = default;
        return false;
    }

    /// <summary>Drops the frames queued for <paramref name="nextHop"/>; returns how many.</summary>
    public int DropQueued(uint nextHop)
    {
        var dropped = 0;
        for (var i = 0; i < _queued.Length; i++)
        {
            if (_queued[i].Length > 0 && _queued[i].NextHop == nextHop)
            {
                _queued[i].Length = 0;
                dropped++;
            }
        }
        var index = Find(nextHop);
        if (index >= 0)
        {
            _entries[index].QueuedFrames = 0;
        }
        return dropped;
    }

    /// <summary>
    /// Expires entries and paces retries. Returns an address whose request must be sent again (0 when none) and, through
    /// <paramref name="failed"/>, one whose resolution gave up; call until both are 0.
    /// </summary>
    public uint Poll(long now, out uint failed)
    {
        failed = 0;
        for (var i = 0; i < _entries.Length; i++)
        {
            ref var entry = ref _entries[i];
            if (entry.State is State.Learned or State.Confirmed && now >= entry.ExpiresAt)
            {
                entry = default;
            }
            else if (entry.State == State.Pending && now >= entry.NextRequestAt)
            {
                if (entry.Requests >= MaxRequests)
                {
                    // The caller drops the queued frames (DropQueued) before the entry is reused.
                    failed = entry.Address;
                    entry = default;
                    return 0;
                }
                entry.Requests++;
                entry.NextRequestAt = now + RequestInterval;
                return entry.Address;
            }
        }
        return 0;
    }

    private void Resolve(ref Entry entry, MacAddress mac, long now)
    {
        entry.Mac = mac;
        entry.ExpiresAt = now + _lifetime;
        entry.Since = now;
        entry.Requests = 0;
    }

    /// <summary>Adds a weak (learned) entry, if one can be spared.</summary>
    private bool TryAddLearned(uint address, MacAddress mac, long now)
    {
        var index = Allocate(now, pending: false);
        if (index < 0)
        {
            return false;
        }
        ref var entry = ref _entries[index];
        entry = default;
        entry.Address = address;
        entry.State = State.Learned;
        Resolve(ref entry, mac, now);
        return true;
    }

    private int Find(uint address)
    {
        for (var i = 0; i < _entries.Length; i++)
        {
            if (_entries[i].State != State.Empty && _entries[i].Address == address)
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>
    /// A slot for a new entry: a free or expired one, else the oldest weak entry (only pending ones for a pending entry
    /// once pending entries hold half the table), else the oldest confirmed one; never the protected address. −1: none.
    /// </summary>
    private int Allocate(long now, bool pending)
    {
        var pendingCount = 0;
        foreach (ref readonly var entry in _entries.AsSpan())
        {
            pendingCount += entry.State == State.Pending ? 1 : 0;
        }
        var onlyPending = pending && pendingCount >= _maxPending;
        int weak = -1, confirmed = -1;
        for (var i = 0; i < _entries.Length; i++)
        {
            ref readonly var entry = ref _entries[i];
            if (entry.State == State.Empty || (entry.State is State.Learned or State.Confirmed && now >= entry.ExpiresAt))
            {
                if (!onlyPending)
                {
                    Evict(i);
                    return i;
                }
                continue;
            }
            if (entry.Address == Protected && Protected != 0)
            {
                continue;
            }
            if (entry.State == State.Pending || (entry.State == State.Learned && !onlyPending))
            {
                if (weak < 0 || entry.Since < _entries[weak].Since)
                {
                    weak = i;
                }
            }
            else if (entry.State == State.Confirmed && (confirmed < 0 || entry.Since < _entries[confirmed].Since))
            {
                confirmed = i;
            }
        }
        var victim = weak >= 0 ? weak : onlyPending ? -1 : confirmed;
        if (victim >= 0)
        {
            Evict(victim);
        }
        return victim;
    }

    private void Evict(int index)
    {
        if (_entries[index].State == State.Pending)
        {
            DropQueued(_entries[index].Address);
        }
        _entries[index] = default;
    }

    private enum State : byte
    {
        Empty,
        Pending,
        Learned,
        Confirmed,
    }

    private struct Entry
    {
        public uint Address;
        public MacAddress Mac;
        public State State;
        public long ExpiresAt;
        public long NextRequestAt;

        /// <summary>When the entry was made or last resolved: the age that picks a victim.</summary>
        public long Since;
        public int Requests;
        public int QueuedFrames;
    }

    private struct Queued
    {
        public byte[]? Frame;
        public int Length;
        public uint NextHop;
    }
}

internal enum ResolveStart
{
    Started,
    InProgress,
    TableFull,
}
