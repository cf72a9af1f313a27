using System;
using System.Buffers.Binary;
using System.Collections.Generic;

namespace Unikernel.Protocols.Dns;

/// <summary>
/// The differences between successive versions of each zone (kept in memory across reloads, bounded), so that IXFR
/// (RFC 1995) from a recent serial gets only what changed: for each step the old SOA, the records deleted, the new
/// SOA and the records added. Lost at restart; a serial that does not increase clears the zone's history.
/// </summary>
public sealed class TransferJournal
{
    // A class, not a record: never compared or printed (see RecordTypes.Layout).
    private sealed class Step(uint from, uint to, DnsRecord oldSoa, DnsRecord newSoa, List<DnsRecord> deleted, List<DnsRecord> added)
    {
        public uint From { get; } = from;

        public uint To { get; } = to;

        public DnsRecord OldSoa { get; } = oldSoa;

        public DnsRecord NewSoa { get; } = newSoa;

        public List<DnsRecord> Deleted { get; } = deleted;

        public List<DnsRecord> Added { get; } = added;
    }

    private readonly Dictionary<string, List<Step>> _steps = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    /// <summary>Steps kept per zone.</summary>
    public int MaxSteps { get; init; } = 16;

    /// <summary>Records (deleted + added) kept per zone; older steps go first.</summary>
    public int MaxRecords { get; init; } = 100_000;

    public static uint Serial(Zone zone) => BinaryPrimitives.ReadUInt32BigEndian(zone.Soa.Data.AsSpan(zone.Soa.Data.Length - 20));

    /// <summary>Records the step from <paramref name="before"/> to <paramref name="after"/> (same origin).</summary>
    public void Add(Zone before, Zone after)
    {
        var from = Serial(before);
        var to = Serial(after);
        var key = after.Origin.Key;
        lock (_gate)
        {
            if (to == from)
            {
                return; // the same version (as far as secondaries can tell): the history still leads here
            }
            if (!ZoneTransfers.SerialIsNewer(to, from))
            {
                _steps.Remove(key); // an older serial: the history no longer leads here
                return;
            }
            var old = Index(before);
            var @new = Index(after);
            var deleted = new List<DnsRecord>();
            var added = new List<DnsRecord>();
            foreach (var (k, r) in old)
            {
                if (!@new.ContainsKey(k))
                {
                    deleted.Add(r);
                }
            }
            foreach (var (k, r) in @new)
            {
                if (!old.ContainsKey(k))
                {
                    added.Add(r);
                }
            }
            if (!_steps.TryGetValue(key, out var steps))
            {
                _steps[key] = steps = [];
            }
            if (steps.Count > 0 && steps[^1].To != from)
            {
                steps.Clear(); // a gap (a version never served as such): start again
            }
            steps.Add(new Step(from, to, before.Soa, after.Soa, deleted, added));
            var total = 0;
            foreach (var s in steps)
            {
                total += s.Deleted.Count + s.Added.Count;
            }
            while (steps.Count > 0 && (steps.Count > MaxSteps || total > MaxRecords))
            {
                total -= steps[0].Deleted.Count + steps[0].Added.Count;
                steps.RemoveAt(0);
            }
        }
    }

    /// <summary>
    /// The IXFR answer records from <paramref name="clientSerial"/> to <paramref name="zone"/>'s version (RFC 1995 4:
    /// new SOA, then per step old SOA, deleted, new SOA, added, then the new SOA), or null when the history does not
    /// reach back to that serial or does not end at this version.
    /// </summary>
    public List<DnsRecord>? Differences(Zone zone, uint clientSerial)
    {
        lock (_gate)
        {
            if (!_steps.TryGetValue(zone.Origin.Key, out var steps) || steps.Count == 0 || steps[^1].To != Serial(zone))
            {
                return null;
            }
            var first = steps.FindIndex(s => s.From == clientSerial);
            if (first < 0)
            {
                return null;
            }
            var records = new List<DnsRecord> { zone.Soa };
            for (var i = first; i < steps.Count; i++)
            {
                records.Add(steps[i].OldSoa);
                records.AddRange(steps[i].Deleted);
                records.Add(steps[i].NewSoa);
                records.AddRange(steps[i].Added);
            }
            records.Add(zone.Soa);
            return records;
        }
    }

    /// <summary>Every record but the apex SOA, by owner, type, class, TTL and RDATA.</summary>
    private static Dictionary<string, DnsRecord> Index(Zone zone)
    {
        var index = new Dictionary<string, DnsRecord>(zone.RecordCount, StringComparer.Ordinal);
        foreach (var node in zone.Nodes)
        {
            foreach (var set in node.Sets)
            {
                if (set.Type == DnsType.SOA)
                {
                    continue;
                }
                foreach (var r in set.Records)
                {
                    index[string.Concat(r.Name.Key, "|", r.Type.ToString(System.Globalization.CultureInfo.InvariantCulture), "|", r.Class.ToString(System.Globalization.CultureInfo.InvariantCulture), "|",
                        r.Ttl.ToString(System.Globalization.CultureInfo.InvariantCulture), "|", Convert.ToHexString(r.Data))] = r;
                }
            }
        }
        return index;
    }
}
