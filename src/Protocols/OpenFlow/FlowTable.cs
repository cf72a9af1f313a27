using System;
using System.Collections.Generic;
using System.Threading;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>A flow entry. Counters and last-use time are updated by the data path under the table's lock.</summary>
public sealed class FlowEntry
{
    internal FlowEntry(OfMatch match, ushort priority, ulong cookie, ushort idleTimeout, ushort hardTimeout, ushort flags, byte[] actions, long now)
    {
        Match = match;
        Priority = priority;
        Cookie = cookie;
        IdleTimeout = idleTimeout;
        HardTimeout = hardTimeout;
        Flags = flags;
        Actions = actions;
        Created = now;
        LastUsed = now;
    }

    public OfMatch Match { get; }

    /// <summary>Exact-match entries (no wildcards) always win over wildcarded ones (OpenFlow 1.0 3.4).</summary>
    public ushort Priority { get; }

    public ulong Cookie { get; internal set; }

    public ushort IdleTimeout { get; }

    public ushort HardTimeout { get; }

    public ushort Flags { get; }

    /// <summary>The action list in wire format (validated when the flow was added).</summary>
    public byte[] Actions { get; internal set; }

    public long Created { get; }

    public long LastUsed { get; internal set; }

    public ulong PacketCount { get; internal set; }

    public ulong ByteCount { get; internal set; }

    public bool IsExact => Match.Wildcards == 0;

    /// <summary>True when an output action sends to <paramref name="port"/> (<see cref="OfPort.None"/>: always).</summary>
    public bool OutputsTo(ushort port)
    {
        if (port == OfPort.None)
        {
            return true;
        }
        var reader = new OfActionReader(Actions);
        while (reader.TryRead(out var action, out _))
        {
            if (action.Type is OfActionType.Output or OfActionType.Enqueue && action.Port == port)
            {
                return true;
            }
        }
        return false;
    }
}

/// <summary>
/// One OpenFlow 1.0 flow table: exact-match entries in a hash table, wildcarded ones in a list by descending priority
/// (first added first among equals). Bounded by <see cref="Capacity"/>. Thread-safe: every method takes the lock.
/// </summary>
public sealed class FlowTable(int capacity)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<OfMatch, FlowEntry> _exact = [];
    private readonly List<FlowEntry> _wildcarded = [];
    private long _lookups;
    private long _matched;

    public int Capacity { get; } = capacity;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _exact.Count + _wildcarded.Count;
            }
        }
    }

    public long Lookups => Interlocked.Read(ref _lookups);

    public long Matched => Interlocked.Read(ref _matched);

    /// <summary>
    /// The highest-priority entry covering <paramref name="packet"/>, with its counters and idle time updated; null on a
    /// table miss. The returned action bytes are immutable (a modify replaces the array).
    /// </summary>
    public byte[]? Lookup(in OfMatch packet, int frameLength, long now)
    {
        lock (_gate)
        {
            _lookups++;
            if (_exact.Count > 0 && _exact.TryGetValue(packet, out var exact))
            {
                return Hit(exact, frameLength, now);
            }
            foreach (var entry in _wildcarded)
            {
                if (entry.Match.Covers(packet))
                {
                    return Hit(entry, frameLength, now);
                }
            }
            return null;
        }
    }

    private byte[] Hit(FlowEntry entry, int frameLength, long now)
    {
        _matched++;
        entry.PacketCount++;
        entry.ByteCount += (ulong)frameLength;
        entry.LastUsed = now;
        return entry.Actions;
    }

    public enum AddResult
    {
        Added,
        Replaced,
        TableFull,
        Overlap,
    }

    /// <summary>flow_mod add: an entry with the same match and priority is replaced (its counters reset).</summary>
    public AddResult Add(in OfFlowMod flowMod, long now)
    {
        var match = flowMod.Match;
        var entry = new FlowEntry(match, match.Wildcards == 0 ? ushort.MaxValue : flowMod.Priority, flowMod.Cookie, flowMod.IdleTimeout, flowMod.HardTimeout, flowMod.Flags, flowMod.Actions.ToArray(), now);
        lock (_gate)
        {
            if (match.Wildcards == 0)
            {
                var replaced = _exact.ContainsKey(match);
                if (!replaced && Count >= Capacity)
                {
                    return AddResult.TableFull;
                }
                _exact[match] = entry;
                return replaced ? AddResult.Replaced : AddResult.Added;
            }
            var index = _wildcarded.FindIndex(e => e.Priority == entry.Priority && e.Match.SameAs(match));
            if (index >= 0)
            {
                _wildcarded[index] = entry;
                return AddResult.Replaced;
            }
            if ((flowMod.Flags & OfFlowModFlags.CheckOverlap) != 0 && _wildcarded.Exists(e => e.Priority == entry.Priority && Overlaps(e.Match, match)))
            {
                return AddResult.Overlap;
            }
            if (Count >= Capacity)
            {
                return AddResult.TableFull;
            }
            var at = _wildcarded.FindIndex(e => e.Priority < entry.Priority);
            _wildcarded.Insert(at < 0 ? _wildcarded.Count : at, entry);
            return AddResult.Added;
        }
    }

    /// <summary>Two matches overlap when some packet could match both: every field both constrain has the same value.</summary>
    private static bool Overlaps(in OfMatch a, in OfMatch b)
    {
        var both = ~a.Wildcards & ~b.Wildcards;
        bool Same(uint bit, bool equal) => (both & bit) == 0 || equal;
        var srcBits = 32 - Math.Min(32, Math.Max(a.NwSrcWildcardBits, b.NwSrcWildcardBits));
        var dstBits = 32 - Math.Min(32, Math.Max(a.NwDstWildcardBits, b.NwDstWildcardBits));
        var srcMask = srcBits == 0 ? 0u : uint.MaxValue << (32 - srcBits);
        var dstMask = dstBits == 0 ? 0u : uint.MaxValue << (32 - dstBits);
        return Same(OfWildcards.InPort, a.InPort == b.InPort) && Same(OfWildcards.DlSrc, a.DlSrc == b.DlSrc) && Same(OfWildcards.DlDst, a.DlDst == b.DlDst)
            && Same(OfWildcards.DlVlan, a.DlVlan == b.DlVlan) && Same(OfWildcards.DlVlanPcp, a.DlVlanPcp == b.DlVlanPcp) && Same(OfWildcards.DlType, a.DlType == b.DlType)
            && Same(OfWildcards.NwTos, a.NwTos == b.NwTos) && Same(OfWildcards.NwProto, a.NwProto == b.NwProto)
            && Same(OfWildcards.TpSrc, a.TpSrc == b.TpSrc) && Same(OfWildcards.TpDst, a.TpDst == b.TpDst)
            && ((a.NwSrc ^ b.NwSrc) & srcMask) == 0 && ((a.NwDst ^ b.NwDst) & dstMask) == 0;
    }

    /// <summary>flow_mod modify (strict or not): replaces the actions of matching entries; returns how many.</summary>
    public int Modify(in OfFlowMod flowMod, bool strict)
    {
        var actions = flowMod.Actions.ToArray();
        var match = flowMod.Match;
        var priority = flowMod.Priority;
        var cookie = flowMod.Cookie;
        var count = 0;
        lock (_gate)
        {
            foreach (var entry in Snapshot())
            {
                if (Selects(entry, match, priority, strict, OfPort.None))
                {
                    entry.Actions = actions;
                    entry.Cookie = cookie;
                    count++;
                }
            }
        }
        return count;
    }

    /// <summary>flow_mod delete (strict or not), restricted to flows that output to <paramref name="outPort"/>; returns the removed entries.</summary>
    public List<FlowEntry> Delete(in OfMatch match, ushort priority, bool strict, ushort outPort)
    {
        var removed = new List<FlowEntry>();
        lock (_gate)
        {
            foreach (var entry in Snapshot())
            {
                if (Selects(entry, match, priority, strict, outPort))
                {
                    Remove(entry);
                    removed.Add(entry);
                }
            }
        }
        return removed;
    }

    /// <summary>Entries selected by a flow stats or aggregate request (non-strict, by output port).</summary>
    public List<FlowEntry> Select(in OfMatch match, ushort outPort)
    {
        var selected = new List<FlowEntry>();
        lock (_gate)
        {
            foreach (var entry in Snapshot())
            {
                if (Selects(entry, match, 0, strict: false, outPort))
                {
                    selected.Add(entry);
                }
            }
        }
        return selected;
    }

    /// <summary>Removes entries whose idle or hard timeout has passed at <paramref name="now"/> (nanoseconds).</summary>
    public List<(FlowEntry Entry, OfFlowRemovedReason Reason)> Expire(long now)
    {
        var expired = new List<(FlowEntry, OfFlowRemovedReason)>();
        lock (_gate)
        {
            foreach (var entry in Snapshot())
            {
                if (entry.HardTimeout > 0 && now - entry.Created >= entry.HardTimeout * 1_000_000_000L)
                {
                    Remove(entry);
                    expired.Add((entry, OfFlowRemovedReason.HardTimeout));
                }
                else if (entry.IdleTimeout > 0 && now - entry.LastUsed >= entry.IdleTimeout * 1_000_000_000L)
                {
                    Remove(entry);
                    expired.Add((entry, OfFlowRemovedReason.IdleTimeout));
                }
            }
        }
        return expired;
    }

    private static bool Selects(FlowEntry entry, in OfMatch match, ushort priority, bool strict, ushort outPort)
    {
        var matches = strict
            ? entry.Match.SameAs(match) && (entry.IsExact || entry.Priority == priority)
            : match.Includes(entry.Match);
        return matches && entry.OutputsTo(outPort);
    }

    private List<FlowEntry> Snapshot()
    {
        var all = new List<FlowEntry>(_exact.Count + _wildcarded.Count);
        all.AddRange(_exact.Values);
        all.AddRange(_wildcarded);
        return all;
    }

    private void Remove(FlowEntry entry)
    {
        if (entry.IsExact)
        {
            _exact.Remove(entry.Match);
        }
        else
        {
            _wildcarded.Remove(entry);
        }
    }
}
