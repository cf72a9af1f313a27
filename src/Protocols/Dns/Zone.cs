using System;
using System.Collections.Generic;
using System.Globalization;

namespace Unikernel.Protocols.Dns;

/// <summary>All records of one type at one name.</summary>
public sealed class RRset(ushort type)
{
    public ushort Type { get; } = type;
    public List<DnsRecord> Records { get; } = [];
}

/// <summary>A name in a zone with its RRsets (none for an empty non-terminal).</summary>
public sealed class ZoneNode(DnsName name)
{
    public DnsName Name { get; } = name;
    public List<RRset> Sets { get; } = [];

    public bool IsEmpty => Sets.Count == 0;

    public RRset? Find(ushort type)
    {
        foreach (var set in Sets)
        {
            if (set.Type == type)
            {
                return set;
            }
        }
        return null;
    }
}

/// <summary>An authoritative zone: immutable once built, safe to read from many threads.</summary>
public sealed class Zone
{
    private readonly Dictionary<string, ZoneNode> _nodes;
    private readonly Dictionary<string, ZoneNode>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    private Zone(DnsName origin, DnsRecord soa, Dictionary<string, ZoneNode> nodes, int recordCount, string source)
    {
        Origin = origin;
        Soa = soa;
        _nodes = nodes;
        _lookup = nodes.GetAlternateLookup<ReadOnlySpan<char>>();
        RecordCount = recordCount;
        Source = source;
        Apex = nodes[origin.Key];
        // DNSSEC (pre-signed zones): the NSEC chain in canonical order (RFC 4034 section 6.1) for denial proofs.
        var nsec = new List<ZoneNode>();
        foreach (var node in nodes.Values)
        {
            if (node.Find(DnsType.NSEC) is not null)
            {
                nsec.Add(node);
            }
        }
        nsec.Sort((a, b) => DnsName.CompareCanonical(a.Name.Key, b.Name.Key));
        _nsecChain = [.. nsec];
        IsSigned = Apex.Find(DnsType.DNSKEY) is not null && Apex.Find(DnsType.RRSIG) is not null;
        // NSEC3 (RFC 5155): the parameters from NSEC3PARAM at the apex, the chain in hash order (base32hex keeps it).
        if (nsec.Count == 0 && Apex.Find(DnsType.NSEC3PARAM)?.Records[0].Data is { Length: >= 5 } p && p[0] == 1 && p.Length == 5 + p[4])
        {
            _nsec3Iterations = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(p.AsSpan(2));
            _nsec3Salt = p.AsSpan(5).ToArray(); // not p[5..]: RuntimeHelpers.GetSubArray pulls the runtime type loader (~100 KB) into the image
            var chain = new List<ZoneNode>();
            foreach (var node in nodes.Values)
            {
                if (node.Find(DnsType.NSEC3) is not null)
                {
                    chain.Add(node);
                }
            }
            chain.Sort((a, b) => string.CompareOrdinal(a.Name.Key, b.Name.Key)); // same suffix: the hash label orders them
            _nsec3Chain = [.. chain];
        }
    }

    private readonly ZoneNode[] _nsec3Chain = [];
    private readonly byte[] _nsec3Salt = [];
    private readonly int _nsec3Iterations;

    /// <summary>Denial of existence uses NSEC3 (RFC 5155) rather than NSEC.</summary>
    public bool UsesNsec3 => _nsec3Chain.Length > 0;

    /// <summary>The key of the NSEC3 owner for the name with key <paramref name="key"/>: base32hex(hash) + the apex.</summary>
    private string Nsec3Key(ReadOnlySpan<char> key)
    {
        var data = new byte[key.Length + _nsec3Salt.Length];
        for (var i = 0; i < key.Length; i++)
        {
            data[i] = (byte)key[i]; // keys are the lower-cased wire form: the canonical form RFC 5155 5 hashes
        }
        _nsec3Salt.CopyTo(data, key.Length);
        var hash = TsigHash.HashData(TsigAlgorithm.HmacSha1, data); // our managed SHA-1: the BCL's needs libcrypto, which VM images lack
        for (var k = 0; k < _nsec3Iterations; k++)
        {
            hash = TsigHash.HashData(TsigAlgorithm.HmacSha1, [.. hash, .. _nsec3Salt]);
        }
        var label = DnsText.Split(RecordData.ToText(DnsType.NSEC3, [1, 0, 0, 0, 0, (byte)hash.Length, .. hash]), ' ')[4].ToLowerInvariant();
        return (char)label.Length + label + Origin.Key;
    }

    /// <summary>The node whose denial record matches the name (NSEC at the name, or NSEC3 of its hash), or covers it.</summary>
    public ZoneNode? DenialMatching(ReadOnlySpan<char> key)
    {
        if (UsesNsec3)
        {
            return Find(Nsec3Key(key));
        }
        var node = Find(key);
        return node?.Find(DnsType.NSEC) is not null ? node : NsecAtOrBefore(key);
    }

    /// <summary>The node whose denial record covers the name (NSEC before it, or NSEC3 before its hash, wrapping).</summary>
    public ZoneNode? DenialCovering(ReadOnlySpan<char> key)
    {
        if (!UsesNsec3)
        {
            return NsecAtOrBefore(key);
        }
        var target = Nsec3Key(key);
        var chain = _nsec3Chain;
        var found = chain.Length - 1;
        for (int lo = 0, hi = chain.Length - 1; lo <= hi;)
        {
            var mid = (lo + hi) >>> 1;
            if (string.CompareOrdinal(chain[mid].Name.Key, target) < 0)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return chain[found];
    }

    private readonly ZoneNode[] _nsecChain;

    /// <summary>The apex has DNSKEY and RRSIG records: answers to DO queries carry signatures and proofs.</summary>
    public bool IsSigned { get; }

    /// <summary>
    /// The NSEC node whose owner is the greatest one at or before <paramref name="key"/> in canonical order (so its
    /// NSEC covers or matches the name), or null in a zone without NSEC records.
    /// </summary>
    public ZoneNode? NsecAtOrBefore(ReadOnlySpan<char> key)
    {
        var chain = _nsecChain;
        if (chain.Length == 0)
        {
            return null;
        }
        int lo = 0, hi = chain.Length - 1, found = chain.Length - 1; // before the first: the last one covers (wraps)
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (DnsName.CompareCanonical(chain[mid].Name.Key, key) <= 0)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return chain[found];
    }

    public DnsName Origin { get; }

    public DnsRecord Soa { get; }

    public ZoneNode Apex { get; }

    public int RecordCount { get; }

    /// <summary>Where the zone came from (file name or key).</summary>
    public string Source { get; }

    public IEnumerable<ZoneNode> Nodes => _nodes.Values;

    /// <summary>TTL of the SOA in negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 section 5).</summary>
    public uint NegativeTtl
    {
        get
        {
            var minimum = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(Soa.Data.AsSpan(Soa.Data.Length - 4));
            return Math.Min(Soa.Ttl, minimum);
        }
    }

    /// <summary>Finds a node by lookup key (see <see cref="DnsName.Key"/>) without allocating.</summary>
    public ZoneNode? Find(ReadOnlySpan<char> key) => _lookup.TryGetValue(key, out var node) ? node : null;

    public ZoneNode? Find(DnsName name) => Find(name.Key);

    /// <summary>
    /// Builds a zone from its records, checking RFC rules: all names at or below the origin, one SOA at the apex,
    /// nothing beside a CNAME. Errors are appended to <paramref name="errors"/>; returns null when there are any.
    /// </summary>
    /// <param name="locate">Where a record was written ("file:line:column"), for error messages; null: the source.</param>
    public static Zone? Build(DnsName origin, IEnumerable<DnsRecord> records, string source, List<string> errors, Func<DnsRecord, string>? locate = null)
    {
        string At(DnsRecord r) => locate?.Invoke(r) ?? source;
        var nodes = new Dictionary<string, ZoneNode>(StringComparer.Ordinal);
        var count = 0;
        var firstError = errors.Count;
        DnsRecord? soa = null;
        foreach (var record in records)
        {
            if (!record.Name.IsSubdomainOf(origin))
            {
                errors.Add($"{At(record)}: {record.Name} {DnsType.ToName(record.Type)} is outside the zone {origin}");
                continue;
            }
            if (!RecordData.IsValid(record.Type, record.Data))
            {
                // The loader checks this too; records built by code must not reach the answer path malformed either.
                errors.Add($"{At(record)}: {record.Name} {DnsType.ToName(record.Type)} has malformed RDATA ({DnsType.ToName(record.Type)} is {RecordData.Layout(record.Type)})");
                continue;
            }
            if (record.Type == DnsType.SOA)
            {
                if (!record.Name.Equals(origin))
                {
                    errors.Add($"{At(record)}: SOA at {record.Name} is not at the zone apex {origin}");
                    continue;
                }
                if (soa is not null)
                {
                    if (soa.Data.AsSpan().SequenceEqual(record.Data))
                    {
                        continue;
                    }
                    errors.Add($"{At(record)}: more than one SOA record for {origin}");
                    continue;
                }
                soa = record;
            }
            var node = GetOrAdd(nodes, record.Name, origin);
            var set = node.Find(record.Type);
            if (set is null)
            {
                set = new RRset(record.Type);
                node.Sets.Add(set);
            }
            var duplicate = false;
            foreach (var existing in set.Records)
            {
                duplicate |= existing.Data.AsSpan().SequenceEqual(record.Data);
            }
            if (!duplicate)
            {
                set.Records.Add(record);
                count++;
            }
        }
        if (soa is null)
        {
            errors.Add($"{source}: zone {origin} has no SOA record at its apex");
        }
        foreach (var node in nodes.Values)
        {
            if (node.Find(DnsType.CNAME) is { } cname)
            {
                var others = 0;
                foreach (var set in node.Sets)
                {
                    others += set.Type is DnsType.CNAME or DnsType.RRSIG or DnsType.NSEC ? 0 : 1; // RFC 4035 2.5
                }
                if (others > 0)
                {
                    errors.Add($"{At(cname.Records[0])}: {node.Name} has a CNAME and other data (RFC 1034 section 3.6.2)");
                }
                else if (cname.Records.Count > 1)
                {
                    errors.Add($"{At(cname.Records[1])}: {node.Name} has more than one CNAME");
                }
            }
        }
        if (errors.Count > firstError || soa is null)
        {
            return null;
        }
        foreach (var node in nodes.Values)
        {
            node.Sets.Sort((a, b) => a.Type.CompareTo(b.Type));
        }
        return new Zone(origin, soa, nodes, count, source);
    }

    private static ZoneNode GetOrAdd(Dictionary<string, ZoneNode> nodes, DnsName name, DnsName origin)
    {
        if (nodes.TryGetValue(name.Key, out var node))
        {
            return node;
        }
        node = new ZoneNode(name);
        nodes.Add(name.Key, node);
        // Ancestors up to the apex exist as (possibly empty non-terminal) nodes.
        var parent = name;
        while (!parent.Equals(origin))
        {
            parent = parent.Parent;
            if (nodes.ContainsKey(parent.Key))
            {
                break;
            }
            nodes.Add(parent.Key, new ZoneNode(parent));
        }
        return node;
    }

    public override string ToString() => $"{Origin} ({RecordCount.ToString(CultureInfo.InvariantCulture)} records from {Source})";
}

/// <summary>The zones a server is authoritative for; finds the closest enclosing zone without allocating.</summary>
public sealed class ZoneSet
{
    private readonly Dictionary<string, Zone> _zones = new(StringComparer.Ordinal);
    private Dictionary<string, Zone>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public ZoneSet(IEnumerable<Zone> zones)
    {
        foreach (var zone in zones)
        {
            _zones[zone.Origin.Key] = zone;
        }
        _lookup = _zones.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => _zones.Count;

    public IEnumerable<Zone> Zones => _zones.Values;

    public int RecordCount
    {
        get
        {
            var n = 0;
            foreach (var zone in _zones.Values)
            {
                n += zone.RecordCount;
            }
            return n;
        }
    }

    /// <summary>The most specific zone containing the name with lookup key <paramref name="key"/>.</summary>
    public Zone? FindZone(ReadOnlySpan<char> key)
    {
        var i = 0;
        while (true)
        {
            if (_lookup.TryGetValue(key[i..], out var zone))
            {
                return zone;
            }
            if (i >= key.Length || key[i] == 0)
            {
                return null;
            }
            i += key[i] + 1;
        }
    }
}
