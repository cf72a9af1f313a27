using System;

namespace Unikernel.Protocols.Net;

/// <summary>
/// The neighbour table (RFC 826): a fixed number of entries that expire, plus a bounded queue of frames waiting for an
/// address to resolve. Not thread-safe: the stack calls it under its lock. Times are monotonic nanoseconds.
/// </summary>
internal sealed class ArpCache
{
    public const long DefaultEntryLifetime = 60_000_000_000L;
    public const long RequestInterval = 1_000_000_000L;
    public const int MaxRequests = 3;

    private readonly Entry[] _entries;
    private readonly Pending[] _pending;
    private readonly long _lifetime;

    public ArpCache(int capacity, int pendingCapacity, int frameSize, long lifetime = DefaultEntryLifetime)
    {
        _entries = new Entry[capacity];
        _pending = new Pending[pendingCapacity];
        for (var i = 0; i < _pending.Length; i++)
        {
            _pending[i].Frame = new byte[frameSize];
        }
        _lifetime = lifetime;
    }

    public int Count
    {
        get
        {
            var count = 0;
            foreach (ref readonly var entry in _entries.AsSpan())
            {
                count += entry.State == State.Resolved ? 1 : 0;
            }
            return count;
        }
    }

    public int PendingFrames
    {
        get
        {
            var count = 0;
            foreach (ref readonly var pending in _pending.AsSpan())
            {
                count += pending.Length > 0 ? 1 : 0;
            }
            return count;
        }
    }

    /// <summary>Looks up a resolved, unexpired entry.</summary>
    public bool TryGet(uint address, long now, out MacAddress mac)
    {
        var index = Find(address);
        if (index >= 0 && _entries[index].State == State.Resolved && now < _entries[index].ExpiresAt)
        {
            mac = _entries[index].Mac;
            return true;
        }
        mac = default;
        return false;
    }

    public bool Contains(uint address) => Find(address) >= 0;

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
    /// Records a mapping (from a reply or a request naming us). When <paramref name="create"/> is false only an existing
    /// entry is refreshed (RFC 826's merge flag). Returns true when an entry now holds the mapping.
    /// </summary>
    public bool Update(uint address, MacAddress mac, long now, bool create)
    {
        if (address == 0 || !mac.IsUnicast)
        {
            return false;
        }
        var index = Find(address);
        if (index < 0)
        {
            if (!create)
            {
                return false;
            }
            index = Allocate(now);
        }
        ref var entry = ref _entries[index];
        entry.Address = address;
        entry.Mac = mac;
        entry.State = State.Resolved;
        entry.ExpiresAt = now + _lifetime;
        entry.Requests = 0;
        return true;
    }

    /// <summary>
    /// Marks <paramref name="address"/> as being resolved. Returns true when a request should go out now (a new
    /// resolution); false when one is already in progress.
    /// </summary>
    public bool BeginResolve(uint address, long now)
    {
        var index = Find(address);
        if (index >= 0 && _entries[index].State == State.Pending)
        {
            return false;
        }
        if (index < 0)
        {
            index = Allocate(now);
        }
        ref var entry = ref _entries[index];
        entry.Address = address;
        entry.Mac = default;
        entry.State = State.Pending;
        entry.Requests = 1;
        entry.NextRequestAt = now + RequestInterval;
        return true;
    }

    /// <summary>Queues a frame (its destination MAC filled in later); false when the queue is full.</summary>
    public bool TryQueue(uint nextHop, ReadOnlySpan<byte> frame)
    {
        for (var i = 0; i < _pending.Length; i++)
        {
            ref var pending = ref _pending[i];
            if (pending.Length == 0 && frame.Length <= pending.Frame.Length)
            {
                frame.CopyTo(pending.Frame);
                pending.Length = frame.Length;
                pending.NextHop = nextHop;
                return true;
            }
        }
        return false;
    }

    /// <summary>Takes the next queued frame for <paramref name="nextHop"/>; the span is valid until the next call.</summary>
    public bool TryDequeue(uint nextHop, out Span<byte> frame)
    {
        for (var i = 0; i < _pending.Length; i++)
        {
            ref var pending = ref _pending[i];
            if (pending.Length > 0 && pending.NextHop == nextHop)
            {
                frame = pending.Frame.AsSpan(0, pending.Length);
                pending.Length = 0;
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
        for (var i = 0; i < _pending.Length; i++)
        {
            if (_pending[i].Length > 0 && _pending[i].NextHop == nextHop)
            {
                _pending[i].Length = 0;
                dropped++;
            }
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
            if (entry.State == State.Resolved && now >= entry.ExpiresAt)
            {
                entry = default;
            }
            else if (entry.State == State.Pending && now >= entry.NextRequestAt)
            {
                if (entry.Requests >= MaxRequests)
                {
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

    /// <summary>A free slot, else the resolved entry closest to expiry, else the oldest pending one.</summary>
    private int Allocate(long now)
    {
        var victim = -1;
        var victimExpiry = long.MaxValue;
        for (var i = 0; i < _entries.Length; i++)
        {
            ref readonly var entry = ref _entries[i];
            if (entry.State == State.Empty || (entry.State == State.Resolved && now >= entry.ExpiresAt))
            {
                return i;
            }
            var expiry = entry.State == State.Resolved ? entry.ExpiresAt : long.MaxValue - 1;
            if (victim < 0 || expiry < victimExpiry)
            {
                victim = i;
                victimExpiry = expiry;
            }
        }
        if (_entries[victim].State == State.Pending)
        {
            DropQueued(_entries[victim].Address);
        }
        _entries[victim] = default;
        return victim;
    }

    private enum State : byte
    {
        Empty,
        Pending,
        Resolved,
    }

    private struct Entry
    {
        public uint Address;
        public MacAddress Mac;
        public State State;
        public long ExpiresAt;
        public long NextRequestAt;
        public int Requests;
    }

    private struct Pending
    {
        public byte[] Frame;
        public int Length;
        public uint NextHop;
    }
}
