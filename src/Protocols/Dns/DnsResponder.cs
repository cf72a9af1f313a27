using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Threading;

namespace Unikernel.Protocols.Dns;

/// <summary>
/// The authoritative answering engine: a pure function from a query packet to a response packet (no I/O), safe to
/// call from many threads. Responses to repeated questions come from a bounded memo cache of encoded answers with only
/// the ID, RD/CD bits and the case of the question name patched (the MirageOS trick), so a cache hit is a copy.
/// </summary>
public sealed partial class DnsResponder
{
    /// <summary>Largest UDP payload we advertise and send (the DNS flag day 2020 value).</summary>
    public const int DefaultUdpPayload = 1232;

    /// <summary>Buffer size callers need for a TCP response.</summary>
    public const int MaxTcpMessage = 65535;

    private const int MaxCnameChain = 8;

    /// <summary>The zones and the answers memoised from them: swapped as one, so no query mixes two versions.</summary>
    private sealed class State(ZoneSet zones, MemoCache cache)
    {
        public readonly ZoneSet Zones = zones;
        public readonly MemoCache Cache = cache;
    }

    private readonly int _cacheCapacity;
    private readonly byte[]? _versionText;
    private readonly byte[]? _idText;
    private State _state;
    private long _cacheHits;
    private long _cacheMisses;

    /// <param name="version">TXT answered for CH <c>version.bind</c>/<c>version.server</c>; null: REFUSED.</param>
    /// <param name="id">TXT answered for CH <c>id.server</c>/<c>hostname.bind</c> (RFC 4892); null: REFUSED.</param>
    public DnsResponder(ZoneSet zones, int cacheCapacity = 16384, int udpPayload = DefaultUdpPayload, string? version = null, string? id = null)
    {
        ArgumentNullException.ThrowIfNull(zones);
        ArgumentOutOfRangeException.ThrowIfLessThan(udpPayload, 512);
        _cacheCapacity = cacheCapacity;
        _state = new State(zones, new MemoCache(cacheCapacity));
        UdpPayload = udpPayload;
        _versionText = version is null ? null : RecordData.TextToCharacterStrings(version);
        _idText = id is null ? null : RecordData.TextToCharacterStrings(id);
    }

    public ZoneSet Zones => Volatile.Read(ref _state).Zones;

    /// <summary>
    /// Serves <paramref name="zones"/> from now on, atomically: a query sees either the old zones and their memoised
    /// answers or the new ones, never a mix.
    /// </summary>
    public void Replace(ZoneSet zones)
    {
        ArgumentNullException.ThrowIfNull(zones);
        Volatile.Write(ref _state, new State(zones, new MemoCache(_cacheCapacity)));
    }

    public int UdpPayload { get; }

    public long CacheHits => Interlocked.Read(ref _cacheHits);

    public long CacheMisses => Interlocked.Read(ref _cacheMisses);

    public int CacheCount => Volatile.Read(ref _state).Cache.Count;

    /// <summary>
    /// Answers <paramref name="query"/> into <paramref name="response"/>. <paramref name="tcp"/>: the response may be
    /// up to 65535 bytes (else it is limited to 512 or the EDNS payload size, and truncated with TC when the answer does
    /// not fit). Returns the response length, or 0 when nothing should be sent (not a query, or too short to answer).
    /// <paramref name="response"/> must hold at least <see cref="UdpPayload"/> bytes (UDP) or 65535 (TCP) to avoid
    /// needless truncation; it is never written beyond its length.
    /// </summary>
    public int Respond(ReadOnlySpan<byte> query, Span<byte> response, bool tcp = false)
    {
        if (query.Length < 12 || response.Length < 12 || (query[2] & 0x80) != 0)
        {
            return 0;
        }
        var opcode = (query[2] >> 3) & 0xF;
        int qdCount = BinaryPrimitives.ReadUInt16BigEndian(query[4..]);
        int anCount = BinaryPrimitives.ReadUInt16BigEndian(query[6..]);
        int nsCount = BinaryPrimitives.ReadUInt16BigEndian(query[8..]);
        int arCount = BinaryPrimitives.ReadUInt16BigEndian(query[10..]);
        // The question name is uncompressed at offset 12 (a pointer there could only point into the header): read it
        // and build the lower-cased cache key in one pass.
        Span<byte> key = stackalloc byte[DnsName.MaxLength + 8];
        var qnameLength = 0;
        var questionOk = false;
        if (qdCount == 1)
        {
            var p = 12;
            while (p < query.Length)
            {
                int label = query[p];
                if (label == 0)
                {
                    key[qnameLength++] = 0;
                    questionOk = p + 5 <= query.Length;
                    break;
                }
                if (label > DnsName.MaxLabelLength || p + 1 + label >= query.Length || qnameLength + label + 2 > DnsName.MaxLength)
                {
                    break;
                }
                key[qnameLength] = (byte)label;
                for (var i = 1; i <= label; i++)
                {
                    var b = query[p + i];
                    key[qnameLength + i] = (byte)((uint)(b - 'A') <= 'Z' - 'A' ? b | 0x20 : b);
                }
                qnameLength += label + 1;
                p += label + 1;
            }
        }
        if (opcode != DnsOpcode.Query)
        {
            // As NSD: header only. NOTIFY is refused (we are no secondary), other opcodes are not implemented.
            return Error(query, response, opcode == DnsOpcode.Notify ? DnsRcode.Refused : DnsRcode.NotImp, 0);
        }
        if (qdCount > 1)
        {
            var formErr = Error(query, response, DnsRcode.FormErr, 0);
            response[2] &= 0xFE; // as NSD: no RD for more than one question
            response[3] &= 0xEF;
            return formErr;
        }
        if (qdCount == 1 && questionOk && anCount == 0 && BinaryPrimitives.ReadUInt16BigEndian(query[(12 + qnameLength)..]) == DnsType.IXFR)
        {
            return Error(query, response, DnsRcode.Refused, qnameLength + 4); // transfers: see ZoneTransfers (Transfer.cs)
        }
        if ((qdCount == 1 && !questionOk) || anCount != 0 || nsCount != 0)
        {
            return Error(query, response, DnsRcode.FormErr, 0);
        }
        var questionLength = qdCount == 1 ? qnameLength + 4 : 0;
        var qname = query.Slice(12, qnameLength);
        var qtype = qdCount == 1 ? BinaryPrimitives.ReadUInt16BigEndian(query[(12 + qnameLength)..]) : (ushort)0;
        var qclass = qdCount == 1 ? BinaryPrimitives.ReadUInt16BigEndian(query[(14 + qnameLength)..]) : (ushort)0;

        // Additional section: at most one OPT (RFC 6891 6.1.1) with well-formed options; a TSIG record last (RFC 8945).
        var offset = 12 + questionLength;
        var edns = false;
        var dnssecOk = false;
        var ednsVersion = 0;
        var payload = 512;
        var tsigAt = -1;
        Span<byte> scratch = stackalloc byte[DnsName.MaxLength];
        for (var i = 0; i < arCount; i++)
        {
            var recordAt = offset;
            int nameLength;
            if (offset < query.Length && query[offset] == 0)
            {
                nameLength = 1; // the root, as in every OPT record
                offset++;
            }
            else if (!DnsName.TryRead(query, offset, scratch, out nameLength, out offset))
            {
                return Error(query, response, DnsRcode.FormErr, 0);
            }
            if (offset + 10 > query.Length)
            {
                return Error(query, response, DnsRcode.FormErr, 0);
            }
            var type = BinaryPrimitives.ReadUInt16BigEndian(query[offset..]);
            int rdLength = BinaryPrimitives.ReadUInt16BigEndian(query[(offset + 8)..]);
            if (offset + 10 + rdLength > query.Length)
            {
                return Error(query, response, DnsRcode.FormErr, 0);
            }
            if (type == DnsType.OPT)
            {
                if (edns || nameLength != 1 || !Edns.OptionsAreWellFormed(query.Slice(offset + 10, rdLength)))
                {
                    return Error(query, response, DnsRcode.FormErr, 0);
                }
                edns = true;
                payload = Math.Max(512, (int)BinaryPrimitives.ReadUInt16BigEndian(query[(offset + 2)..]));
                ednsVersion = query[offset + 5];
                dnssecOk = (query[offset + 6] & 0x80) != 0;
            }
            else if (type == DnsType.TSIG)
            {
                if (i != arCount - 1)
                {
                    return Error(query, response, DnsRcode.FormErr, 0); // TSIG must be the last record
                }
                tsigAt = recordAt;
            }
            offset += 10 + rdLength;
        }
        if (edns && ednsVersion != 0)
        {
            return BadVersion(query, response, questionLength, dnssecOk);
        }
        if (tsigAt >= 0)
        {
            // Without keys every signed query is for an unknown key (RFC 8945 5.2.2); with keys: TsigResponder.cs.
            return Keys is null
                ? Tsig.BadKeyResponse(query, response, tsigAt, edns ? UdpPayload : -1, dnssecOk)
                : SignedAnswer(query, response, tcp, tsigAt, edns ? UdpPayload : -1, dnssecOk);
        }
        if (qdCount == 0)
        {
            // No question but an OPT record: a DNS Cookie-only query (RFC 7873 5.4) gets NOERROR with OPT.
            return edns ? WithOpt(response, Error(query, response, DnsRcode.NoError, 0), dnssecOk) : Error(query, response, DnsRcode.FormErr, 0);
        }
        var limit = tcp ? MaxTcpMessage : edns ? Math.Min(payload, UdpPayload) : 512;
        limit = Math.Min(limit, response.Length);

        // Memo cache: key = lower-cased qname, qtype, qclass, size limit, EDNS and DO.
        BinaryPrimitives.WriteUInt16BigEndian(key[qnameLength..], qtype);
        BinaryPrimitives.WriteUInt16BigEndian(key[(qnameLength + 2)..], qclass);
        BinaryPrimitives.WriteUInt16BigEndian(key[(qnameLength + 4)..], (ushort)limit);
        key[qnameLength + 6] = (byte)((edns ? 1 : 0) | (dnssecOk ? 2 : 0));
        var cacheKey = key[..(qnameLength + 7)];
        var state = Volatile.Read(ref _state);
        var hash = state.Cache.Hash(cacheKey);
        var cached = state.Cache.Find(cacheKey, hash);
        if (cached is not null && cached.Length <= response.Length)
        {
            Interlocked.Increment(ref _cacheHits);
            cached.CopyTo(response);
            response[0] = query[0];
            response[1] = query[1];
            response[2] = (byte)((cached[2] & 0xFE) | (query[2] & 0x01)); // RD
            response[3] = (byte)((cached[3] & 0xEF) | (query[3] & 0x10)); // CD
            qname.CopyTo(response[12..]); // the case of the question as asked
            return cached.Length;
        }
        Interlocked.Increment(ref _cacheMisses);
        Span<char> lookupKey = stackalloc char[DnsName.MaxLength];
        DnsName.WriteKey(qname, lookupKey);
        var length = Answer(state.Zones, query, response[..limit], qname, lookupKey[..qnameLength], qtype, qclass, edns, dnssecOk);
        if (length > 0)
        {
            state.Cache.Add(cacheKey, hash, response[..length].ToArray());
        }
        return length;
    }

    /// <summary>Forgets every memoised response.</summary>
    public void ClearCache() => Volatile.Read(ref _state).Cache.Clear();

    private static ushort ResponseFlags(ReadOnlySpan<byte> query, int rcode, bool aa) =>
        (ushort)(DnsFlags.QR | (((query[2] >> 3) & 0xF) << 11) | (aa ? DnsFlags.AA : 0) | ((query[2] & 0x01) << 8) | (query[3] & 0x10) | (rcode & 0xF));

    /// <summary>Header (+ the question when <paramref name="questionLength"/> &gt; 0) with an error rcode.</summary>
    private static int Error(ReadOnlySpan<byte> query, Span<byte> response, int rcode, int questionLength)
    {
        if (12 + questionLength > response.Length)
        {
            questionLength = 0;
        }
        query[..2].CopyTo(response);
        BinaryPrimitives.WriteUInt16BigEndian(response[2..], ResponseFlags(query, rcode, aa: false));
        BinaryPrimitives.WriteUInt16BigEndian(response[4..], (ushort)(questionLength > 0 ? 1 : 0));
        response.Slice(6, 6).Clear();
        query.Slice(12, questionLength).CopyTo(response[12..]);
        return 12 + questionLength;
    }

    /// <summary>
    /// SERVFAIL for <paramref name="query"/> (its header, and its question when that is well-formed); writes only the
    /// header and question, so it cannot fail on any input. 0 when the query cannot be answered at all.
    /// </summary>
    public static int ServerFailure(ReadOnlySpan<byte> query, Span<byte> response)
    {
        if (query.Length < 12 || response.Length < 12 || (query[2] & 0x80) != 0)
        {
            return 0;
        }
        var questionLength = 0;
        if (BinaryPrimitives.ReadUInt16BigEndian(query[4..]) == 1 && DnsName.IsValidWire(query[12..], out var nameLength) && 12 + nameLength + 4 <= query.Length)
        {
            questionLength = nameLength + 4;
        }
        return Error(query, response, DnsRcode.ServFail, questionLength);
    }

    private int BadVersion(ReadOnlySpan<byte> query, Span<byte> response, int questionLength, bool dnssecOk) =>
        WithOpt(response, Error(query, response, DnsRcode.NoError, questionLength), dnssecOk, DnsRcode.BadVers >> 4);

    /// <summary>Appends our OPT record to a response of <paramref name="length"/> octets with no additional records.</summary>
    private int WithOpt(Span<byte> response, int length, bool dnssecOk, byte extendedRcode = 0)
    {
        if (length + 11 > response.Length)
        {
            return length;
        }
        Span<ushort> table = stackalloc ushort[4];
        var w = new DnsMessageWriter(response, table);
        w.Rewind(length);
        w.TryWriteOpt((ushort)UdpPayload, extendedRcode, 0, dnssecOk ? Edns.DnssecOk : (ushort)0);
        w.SetHeaderField(10, 1);
        return w.Position;
    }

    private struct Counts
    {
        public ushort Answer;
        public ushort Authority;
        public ushort Additional;
    }

    private int Answer(ZoneSet zones, ReadOnlySpan<byte> query, Span<byte> response, ReadOnlySpan<byte> qname, ReadOnlySpan<char> qkey, ushort qtype, ushort qclass, bool edns, bool dnssecOk)
    {
        var optReserve = edns ? 11 : 0;
        if (response.Length < 12 + qname.Length + 4 + optReserve)
        {
            return Error(query, response, DnsRcode.ServFail, 0);
        }
        Span<ushort> table = stackalloc ushort[128];
        var w = new DnsMessageWriter(response[..^optReserve], table);
        w.TryWriteHeader(0, 0, 1, 0, 0, 0);
        w.TryWriteQuestion(qname, qtype, qclass);
        var afterQuestion = w.Position;
        var counts = default(Counts);
        var rcode = DnsRcode.NoError;
        var aa = true;
        var truncated = false;

        var zone = qclass == DnsClass.IN ? zones.FindZone(qkey) : null;
        var extendedError = -1;
        if (qclass == DnsClass.CH && qtype == DnsType.TXT && Identity(qkey) is { } text)
        {
            // RFC 4892 server identity, as NSD answers it: TTL 0, not authoritative.
            aa = false;
            if (w.TryWriteRecord(qname, DnsType.TXT, DnsClass.CH, 0, text))
            {
                counts.Answer++;
            }
            else
            {
                truncated = true;
            }
        }
        else if (zone is null || qtype is DnsType.AXFR or DnsType.IXFR)
        {
            rcode = DnsRcode.Refused;
            aa = false;
            // Extended DNS Error (RFC 8914), as NSD gives it: 20 Not Authoritative, 21 Not Supported (other classes).
            extendedError = qclass == DnsClass.IN ? 20 : 21;
        }
        else if (qtype is DnsType.OPT or DnsType.MAILA or DnsType.MAILB)
        {
            rcode = DnsRcode.NotImp;
            aa = false;
        }
        else
        {
            var additional = new List<DnsName>(4);
            var proofs = dnssecOk ? new List<ZoneNode>(2) : null;
            truncated = !Resolve(ref w, ref counts, zones, ref zone, qname, qkey, qtype, additional, proofs, ref rcode, ref aa)
                || !WriteProofs(ref w, ref counts, proofs);
            if (truncated)
            {
                w.Rewind(afterQuestion);
                counts = default;
            }
            else
            {
                AddAdditional(ref w, ref counts, zone, additional, dnssecOk && zone.IsSigned);
            }
        }

        var flags = ResponseFlags(query, rcode, aa);
        if (truncated)
        {
            flags |= DnsFlags.TC;
        }
        query[..2].CopyTo(response);
        w.SetHeaderField(2, flags);
        w.SetHeaderField(6, counts.Answer);
        w.SetHeaderField(8, counts.Authority);
        var position = w.Position;
        if (edns)
        {
            counts.Additional++;
            var opt = new DnsMessageWriter(response, table[..0]);
            opt.Rewind(position);
            Span<byte> ede = [0, 15, 0, 2, 0, (byte)extendedError];
            var optFlags = dnssecOk ? Edns.DnssecOk : (ushort)0; // DO echoed (RFC 3225)
            if (extendedError < 0 || !opt.TryWriteOpt((ushort)UdpPayload, 0, 0, optFlags, ede))
            {
                opt.TryWriteOpt((ushort)UdpPayload, 0, 0, optFlags); // fits: reserved above
            }
            position = opt.Position;
        }
        BinaryPrimitives.WriteUInt16BigEndian(response[10..], counts.Additional);
        return position;
    }

    /// <summary>RFC 1034 4.3.2 within one zone. Returns false when a required record did not fit (truncate).</summary>
    /// <summary>
    /// RFC 1034 4.3.2 (CNAMEs followed across the zones we serve). With <paramref name="proofs"/> (the query has DO)
    /// and a signed zone, RRSIGs go with each RRset and DS with referrals (RFC 4035 3.1), and the NSEC records that
    /// prove a denial or a wildcard expansion are added to <paramref name="proofs"/>. Returns false when a required
    /// record did not fit (truncate).
    /// </summary>
    private static bool Resolve(ref DnsMessageWriter w, ref Counts counts, ZoneSet zones, ref Zone zone, ReadOnlySpan<byte> qname, ReadOnlySpan<char> qkey,
        ushort qtype, List<DnsName> additional, List<ZoneNode>? proofs, ref int rcode, ref bool aa)
    {
        Span<char> keyBuffer = stackalloc char[DnsName.MaxLength + 2];
        Span<char> wildcardBuffer = stackalloc char[DnsName.MaxLength + 2];
        var dnssec = proofs is not null && zone.IsSigned;
        Span<int> startsBuffer = stackalloc int[128];
        var name = qname;
        var key = qkey;
        var apexLength = zone.Origin.Key.Length;
        for (var chain = 0; ; chain++)
        {
            // Delegation: the highest node strictly below the apex, on the path to the name, that holds NS.
            // DNAME (RFC 6672): the highest node strictly above the name, at or below the apex, that holds one.
            var labelStarts = LabelStarts(key, out var labelCount, startsBuffer);
            var synthesized = false;
            for (var l = labelCount - 1; l >= 0; l--)
            {
                var start = labelStarts[l];
                if (key.Length - start < apexLength)
                {
                    continue;
                }
                var node = zone.Find(key[start..]);
                if (node is null)
                {
                    break;
                }
                if (start > 0 && node.Find(DnsType.DNAME) is { } dname)
                {
                    var d = dname.Records[0];
                    if (!WriteSet(ref w, ref counts.Answer, node, dname, node.Name.Wire, dnssec))
                    {
                        return false;
                    }
                    if (start + d.Data.Length > DnsName.MaxLength)
                    {
                        rcode = 6; // YXDOMAIN: the substituted name would be too long (RFC 6672 2.2)
                        return true;
                    }
                    byte[] target = [.. name[..start], .. d.Data];
                    if (!w.TryWriteRecord(name, DnsType.CNAME, DnsClass.IN, d.Ttl, target))
                    {
                        return false;
                    }
                    counts.Answer++;
                    name = target;
                    synthesized = true;
                    break;
                }
                if (key.Length - start == apexLength)
                {
                    continue; // the apex: DNAME only, its NS is no delegation
                }
                if (node.Find(DnsType.NS) is { } ns && !(start == 0 && qtype == 43 /* DS lives in the parent */))
                {
                    if (chain == 0)
                    {
                        aa = false;
                    }
                    foreach (var r in ns.Records)
                    {
                        if (!w.TryWriteRecord(r.Name.Wire, r.Type, r.Class, r.Ttl, r.Data))
                        {
                            return false;
                        }
                        counts.Authority++;
                        AddTarget(additional, r);
                    }
                    if (dnssec)
                    {
                        // The child's DS (signed), or the NSEC that proves there is none (RFC 4035 3.1.4).
                        if (node.Find(DnsType.DS) is { } ds)
                        {
                            return WriteSet(ref w, ref counts.Authority, node, ds, node.Name.Wire, true);
                        }
                        if (!AddOptOutProof(proofs!, zone, node.Name.Key))
                        {
                            AddProof(proofs!, zone.DenialMatching(node.Name.Key));
                        }
                    }
                    return true;
                }
            }

            if (synthesized)
            {
                if (!Follow(zones, ref zone, ref key, name, keyBuffer, chain, ref apexLength, ref dnssec, proofs))
                {
                    return true;
                }
                continue;
            }
            var exact = zone.Find(key);
            var owner = name;
            var expanded = false;
            if (exact is null)
            {
                // Wildcard (RFC 4592): "*." + the closest encloser.
                var wildcardLength = 0;
                var encloser = 1;
                for (var l = 1; l < labelCount; l++)
                {
                    var ceKey = key[labelStarts[l]..];
                    encloser = l;
                    if (zone.Find(ceKey) is not null)
                    {
                        wildcardBuffer[0] = (char)1;
                        wildcardBuffer[1] = '*';
                        ceKey.CopyTo(wildcardBuffer[2..]);
                        wildcardLength = ceKey.Length + 2;
                        exact = zone.Find(wildcardBuffer[..wildcardLength]);
                        break;
                    }
                }
                if (dnssec)
                {
                    // The name does not exist: the NSEC covering it (RFC 4035 3.1.3.2 and 3.1.3.3).
                    // (NSEC3: the next closer name's cover, RFC 5155 7.2.1 and 7.2.6.)
                    AddProof(proofs!, zone.DenialCovering(zone.UsesNsec3 ? key[labelStarts[encloser - 1]..] : key));
                }
                if (exact is null)
                {
                    rcode = DnsRcode.NXDomain;
                    if (dnssec && wildcardLength > 0)
                    {
                        if (zone.UsesNsec3)
                        {
                            AddProof(proofs!, zone.DenialMatching(key[labelStarts[encloser]..])); // the closest encloser
                        }
                        AddProof(proofs!, zone.DenialCovering(wildcardBuffer[..wildcardLength])); // and no wildcard
                    }
                    return WriteSoa(ref w, ref counts, zone, dnssec);
                }
                expanded = true;
            }
            if (exact.IsEmpty)
            {
                if (dnssec)
                {
                    if (!AddOptOutProof(proofs!, zone, key))
                    {
                        AddProof(proofs!, zone.UsesNsec3 ? zone.DenialMatching(key) : zone.NsecAtOrBefore(key)); // an empty non-terminal
                    }
                }
                return WriteSoa(ref w, ref counts, zone, dnssec);
            }
            RRset? set;
            if (qtype == DnsType.ANY)
            {
                // RFC 8482: one RRset is enough (the SOA at the apex, else the first by type, as NSD does).
                set = exact == zone.Apex ? zone.Apex.Find(DnsType.SOA) : exact.Sets[0];
            }
            else
            {
                set = exact.Find(qtype);
            }
            if (set is not null)
            {
                foreach (var r in set.Records)
                {
                    AddTarget(additional, r);
                }
                return WriteSet(ref w, ref counts.Answer, exact, set, owner, dnssec);
            }
            var cname = exact.Find(DnsType.CNAME);
            if (cname is null)
            {
                if (dnssec && !expanded)
                {
                    if (!AddOptOutProof(proofs!, zone, key))
                    {
                        AddProof(proofs!, zone.DenialMatching(key)); // NODATA
                    }
                }
                else if (dnssec)
                {
                    AddProof(proofs!, zone.UsesNsec3 ? zone.DenialMatching(exact.Name.Key) : exact); // the wildcard has no such type either
                    if (zone.UsesNsec3)
                    {
                        AddProof(proofs!, zone.DenialMatching(exact.Name.Key.AsSpan(2))); // its closest encloser (RFC 5155 7.2.5)
                    }
                }
                return WriteSoa(ref w, ref counts, zone, dnssec); // NODATA
            }
            var c = cname.Records[0];
            if (!WriteSet(ref w, ref counts.Answer, exact, cname, owner, dnssec))
            {
                return false;
            }
            name = c.Data;
            if (!Follow(zones, ref zone, ref key, name, keyBuffer, chain, ref apexLength, ref dnssec, proofs))
            {
                return true;
            }
        }
    }

    /// <summary>
    /// Moves a CNAME chain on to <paramref name="name"/>: false when it ends here (too long, so loops end, or outside
    /// the zones we serve); else <paramref name="zone"/> and <paramref name="key"/> are the target's, as NSD does.
    /// </summary>
    private static bool Follow(ZoneSet zones, ref Zone zone, ref ReadOnlySpan<char> key, ReadOnlySpan<byte> name, scoped Span<char> keyBuffer, int chain,
        ref int apexLength, ref bool dnssec, List<ZoneNode>? proofs)
    {
        var length = DnsName.WriteKey(name, keyBuffer);
        if (chain + 1 >= MaxCnameChain)
        {
            return false;
        }
        if (!DnsName.IsSubdomainKey(keyBuffer[..length], zone.Origin.Key))
        {
            if (zones.FindZone(keyBuffer[..length]) is not { } next)
            {
                return false;
            }
            zone = next;
            apexLength = zone.Origin.Key.Length;
            dnssec = proofs is not null && zone.IsSigned;
        }
        key = keyBuffer[..length].ToArray();
        return true;
    }

    /// <summary>The CH TXT text for a server-identity name (lookup key), or null.</summary>
    private byte[]? Identity(ReadOnlySpan<char> qkey) => qkey switch
    {
        "\u0007version\u0004bind\0" or "\u0007version\u0006server\0" => _versionText,
        "\u0002id\u0006server\0" or "\u0008hostname\u0004bind\0" => _idText,
        _ => null,
    };

    private static Span<int> LabelStarts(ReadOnlySpan<char> key, out int count, Span<int> starts)
    {
        count = 0;
        for (var i = 0; i < key.Length && key[i] != 0; i += key[i] + 1)
        {
            starts[count++] = i;
        }
        return starts;
    }

    private static void AddTarget(List<DnsName> additional, DnsRecord r)
    {
        var at = RecordData.AdditionalTargetOffset(r.Type, r.Data);
        if (at >= 0 && DnsName.TryFromWire(r.Data.AsSpan(at), out var target))
        {
            foreach (var n in additional)
            {
                if (n.Equals(target))
                {
                    return;
                }
            }
            additional.Add(target);
        }
    }

    private static bool WriteSoa(ref DnsMessageWriter w, ref Counts counts, Zone zone, bool dnssec = false)
    {
        var soa = zone.Soa;
        if (!w.TryWriteRecord(soa.Name.Wire, soa.Type, soa.Class, zone.NegativeTtl, soa.Data))
        {
            return false;
        }
        counts.Authority++;
        return !dnssec || WriteSignatures(ref w, ref counts.Authority, zone.Apex, DnsType.SOA, soa.Name.Wire, zone.NegativeTtl);
    }

    /// <summary>An RRset at <paramref name="owner"/>, with its RRSIGs when <paramref name="dnssec"/>.</summary>
    private static bool WriteSet(ref DnsMessageWriter w, ref ushort count, ZoneNode node, RRset set, ReadOnlySpan<byte> owner, bool dnssec)
    {
        foreach (var r in set.Records)
        {
            if (!w.TryWriteRecord(owner, r.Type, r.Class, r.Ttl, r.Data))
            {
                return false;
            }
            count++;
        }
        return !dnssec || set.Type == DnsType.RRSIG || WriteSignatures(ref w, ref count, node, set.Type, owner, uint.MaxValue);
    }

    /// <summary>The RRSIGs at <paramref name="node"/> that cover <paramref name="type"/> (RFC 4034 3.1.1), TTL capped.</summary>
    private static bool WriteSignatures(ref DnsMessageWriter w, ref ushort count, ZoneNode node, ushort type, ReadOnlySpan<byte> owner, uint maxTtl)
    {
        if (node.Find(DnsType.RRSIG) is not { } signatures)
        {
            return true;
        }
        foreach (var r in signatures.Records)
        {
            if (r.Data.Length >= 2 && BinaryPrimitives.ReadUInt16BigEndian(r.Data) == type)
            {
                if (!w.TryWriteRecord(owner, r.Type, r.Class, Math.Min(r.Ttl, maxTtl), r.Data))
                {
                    return false;
                }
                count++;
            }
        }
        return true;
    }

    private static void AddProof(List<ZoneNode> proofs, ZoneNode? node)
    {
        if (node is not null && (node.Find(DnsType.NSEC) ?? node.Find(DnsType.NSEC3)) is not null && !proofs.Contains(node))
        {
            proofs.Add(node);
        }
    }

    /// <summary>The NSEC records (and their RRSIGs) that prove a denial or a wildcard expansion, in the authority section.</summary>
    private static bool WriteProofs(ref DnsMessageWriter w, ref Counts counts, List<ZoneNode>? proofs)
    {
        if (proofs is null)
        {
            return true;
        }
        foreach (var node in proofs)
        {
            if (!WriteSet(ref w, ref counts.Authority, node, (node.Find(DnsType.NSEC) ?? node.Find(DnsType.NSEC3))!, node.Name.Wire, true))
            {
                return false;
            }
        }
        return true;
    }

    private static void AddAdditional(ref DnsMessageWriter w, ref Counts counts, Zone zone, List<DnsName> targets, bool dnssec)
    {
        foreach (var target in targets)
        {
            var node = zone.Find(target);
            if (node is null)
            {
                continue;
            }
            foreach (var type in (ReadOnlySpan<ushort>)[DnsType.A, DnsType.AAAA])
            {
                if (node.Find(type) is not { } set)
                {
                    continue;
                }
                var before = w.Position;
                var count = counts.Additional;
                if (!WriteSet(ref w, ref counts.Additional, node, set, node.Name.Wire, dnssec))
                {
                    // additional data is optional: drop the partly written RRset and stop, no TC
                    w.Rewind(before);
                    counts.Additional = count;
                    return;
                }
            }
        }
    }
}
