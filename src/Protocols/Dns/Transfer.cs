using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Net;

namespace Unikernel.Protocols.Dns;

/// <summary>
/// Who may transfer zones: a client address range, a TSIG key, or both (the address must match and the request be
/// signed with the key). Text forms: <c>192.0.2.0/24</c>, <c>2001:db8::1</c>, <c>key:NAME</c>, <c>10.0.0.0/8+key:NAME</c>.
/// </summary>
public sealed class TransferRule(IPNetwork? network, TsigKey? key)
{
    public IPNetwork? Network { get; } = network;
    public TsigKey? Key { get; } = key;

    public bool Allows(IPAddress client, TsigKey? signedWith)
    {
        if (client.IsIPv4MappedToIPv6)
        {
            client = client.MapToIPv4();
        }
        return (Network is not { } n || n.Contains(client)) && (Key is null || ReferenceEquals(Key, signedWith));
    }

    public static bool TryParse(string text, TsigKeyring? keys, out TransferRule? rule, out string error)
    {
        rule = null;
        IPNetwork? network = null;
        TsigKey? key = null;
        foreach (var part in DnsText.Split(text.Trim(), '+'))
        {
            if (part.StartsWith("key:", StringComparison.OrdinalIgnoreCase))
            {
                key = keys?.FindByName(part[4..]);
                if (key is null)
                {
                    error = $"transfer rule '{text}': no TSIG key named {part[4..]} (give it with --tsig-key)";
                    return false;
                }
            }
            else if (IPNetwork.TryParse(part, out var n))
            {
                network = n;
            }
            else if (IPAddress.TryParse(part, out var a))
            {
                network = new IPNetwork(a, a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            }
            else
            {
                error = $"transfer rule '{text}': '{part}' is neither an address, a CIDR range nor key:NAME";
                return false;
            }
        }
        rule = new TransferRule(network, key);
        error = "";
        return true;
    }

    public override string ToString() => (Network?.ToString() ?? "any address") + (Key is null ? "" : " with key " + Key.Name);
}

/// <summary>
/// Zone transfers: AXFR (RFC 5936) and IXFR (RFC 1995) answered with the whole zone (AXFR-style, RFC 1995 4) unless the
/// client is current (then the SOA alone), over TCP in as many messages of up to 64 KiB as needed, names compressed,
/// each message TSIG-signed when the request was (RFC 8945 5.3.1). UDP IXFR gets the SOA alone (RFC 1995 2). Refused
/// (REFUSED) unless a <see cref="TransferRule"/> allows the client.
/// </summary>
public sealed class ZoneTransfers(DnsResponder responder, IReadOnlyList<TransferRule> rules)
{
    private long _transfers;
    private long _refused;

    public IReadOnlyList<TransferRule> Rules { get; } = rules;

    /// <summary>Transfers started (whole zone or SOA only).</summary>
    public long Transfers => System.Threading.Interlocked.Read(ref _transfers);

    /// <summary>Transfer requests refused or rejected (ACL, TSIG, unknown zone, malformed).</summary>
    public long Refused => System.Threading.Interlocked.Read(ref _refused);

    /// <summary>Clock for TSIG (seconds since 1970); tests set it.</summary>
    internal Func<long> Clock { get; init; } = TsigSigner.Now;

    /// <summary>One line per transfer allowed (refusals are only counted: a client could flood the log).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Differences between recent versions for incremental IXFR; null: IXFR always gets the whole zone.</summary>
    public TransferJournal? Journal { get; init; }

    /// <summary>Largest message payload of a transfer (the TCP frame limit).</summary>
    public const int MaxMessage = 65535;

    /// <summary>
    /// True when <paramref name="query"/> is a standard query for AXFR or IXFR (one question), cheaply: the header and
    /// the question name's labels are walked, nothing is copied.
    /// </summary>
    public static bool IsTransferQuery(ReadOnlySpan<byte> query)
    {
        if (query.Length < 17 || (query[2] & 0xF8) != 0 || query[4] != 0 || query[5] != 1)
        {
            return false; // a response, not opcode QUERY, or not one question
        }
        var p = 12;
        while (p < query.Length && query[p] != 0)
        {
            if (query[p] > DnsName.MaxLabelLength)
            {
                return false;
            }
            p += query[p] + 1;
        }
        if (p + 5 > query.Length)
        {
            return false;
        }
        var qtype = BinaryPrimitives.ReadUInt16BigEndian(query[(p + 1)..]);
        return qtype is DnsType.AXFR or DnsType.IXFR;
    }

    /// <summary>
    /// Starts answering the transfer query <paramref name="query"/> from <paramref name="client"/>. The session's
    /// messages are written one by one with <see cref="TransferSession.TryNext"/>; a refusal is a session of one message.
    /// Over UDP (<paramref name="tcp"/> false) the answer is always one message.
    /// </summary>
    public TransferSession Begin(ReadOnlySpan<byte> query, IPAddress client, bool tcp)
    {
        var now = Clock();
        var session = new TransferSession(query[..2], (ushort)(BinaryPrimitives.ReadUInt16BigEndian(query[2..]) & DnsFlags.RD), now);
        // Question (uncompressed at 12: IsTransferQuery's walk).
        Span<byte> qname = stackalloc byte[DnsName.MaxLength];
        if (!DnsName.TryRead(query, 12, qname, out var qnameLength, out var at) || at + 4 > query.Length)
        {
            return Refuse(session, DnsRcode.FormErr);
        }
        session.Question = query.Slice(12, at + 4 - 12).ToArray();
        var qtype = BinaryPrimitives.ReadUInt16BigEndian(query[at..]);
        var qclass = BinaryPrimitives.ReadUInt16BigEndian(query[(at + 2)..]);
        at += 4;
        int anCount = BinaryPrimitives.ReadUInt16BigEndian(query[6..]);
        int nsCount = BinaryPrimitives.ReadUInt16BigEndian(query[8..]);
        int arCount = BinaryPrimitives.ReadUInt16BigEndian(query[10..]);
        // Records after the question: IXFR's SOA (authority), OPT and TSIG (additional, TSIG last).
        uint? clientSerial = null;
        var tsigAt = -1;
        Span<byte> scratch = stackalloc byte[DnsName.MaxLength];
        for (var i = 0; i < anCount + nsCount + arCount; i++)
        {
            var recordAt = at;
            if (!DnsName.TryRead(query, at, scratch, out _, out at) || at + 10 > query.Length)
            {
                return Refuse(session, DnsRcode.FormErr);
            }
            var type = BinaryPrimitives.ReadUInt16BigEndian(query[at..]);
            int rdLength = BinaryPrimitives.ReadUInt16BigEndian(query[(at + 8)..]);
            var rdataAt = at + 10;
            if (rdataAt + rdLength > query.Length)
            {
                return Refuse(session, DnsRcode.FormErr);
            }
            if (type == DnsType.SOA && i >= anCount && i < anCount + nsCount)
            {
                // MNAME and RNAME (either may be compressed), then the serial.
                if (!DnsName.TryRead(query, rdataAt, scratch, out _, out var p) || !DnsName.TryRead(query, p, scratch, out _, out p) || p + 20 > rdataAt + rdLength)
                {
                    return Refuse(session, DnsRcode.FormErr);
                }
                clientSerial = BinaryPrimitives.ReadUInt32BigEndian(query[p..]);
            }
            else if (type == DnsType.TSIG)
            {
                if (i != anCount + nsCount + arCount - 1 || i < anCount + nsCount)
                {
                    return Refuse(session, DnsRcode.FormErr);
                }
                tsigAt = recordAt;
            }
            at = rdataAt + rdLength;
        }
        if (tsigAt >= 0)
        {
            if (responder.Keys is not { } keys)
            {
                return Rejected(session, query, tsigAt, Tsig.BadKey);
            }
            switch (TsigSigner.Verify(query, tsigAt, keys, now, out var request))
            {
                case TsigStatus.FormErr:
                    return Refuse(session, DnsRcode.FormErr);
                case TsigStatus.BadKey:
                    return Rejected(session, query, tsigAt, Tsig.BadKey);
                case TsigStatus.BadSig:
                    return Rejected(session, query, tsigAt, Tsig.BadSig);
                case TsigStatus.BadTime:
                    session.Tsig = request;
                    session.TsigError = Tsig.BadTime;
                    return Refuse(session, DnsRcode.NotAuth);
                default:
                    session.Tsig = request;
                    break;
            }
        }
        if (!tcp && qtype == DnsType.AXFR)
        {
            return Refuse(session, DnsRcode.Refused); // AXFR is TCP only (RFC 5936 4.2); signed if the request was
        }
        if (anCount != 0 || (qtype == DnsType.IXFR && clientSerial is null))
        {
            return Refuse(session, DnsRcode.FormErr); // IXFR needs the client's SOA in the authority section (RFC 1995 3)
        }
        Span<char> key = stackalloc char[DnsName.MaxLength];
        var keyLength = DnsName.WriteKey(qname[..qnameLength], key);
        var zone = qclass == DnsClass.IN ? responder.Zones.FindZone(key[..keyLength]) : null;
        if (zone is null || !zone.Origin.Key.AsSpan().SequenceEqual(key[..keyLength]))
        {
            return Refuse(session, DnsRcode.Refused); // not a zone we serve
        }
        var allowed = false;
        foreach (var rule in Rules)
        {
            allowed |= rule.Allows(client, session.Tsig?.Key);
        }
        if (!allowed)
        {
            return Refuse(session, DnsRcode.Refused);
        }
        System.Threading.Interlocked.Increment(ref _transfers);
        var serial = BinaryPrimitives.ReadUInt32BigEndian(zone.Soa.Data.AsSpan(zone.Soa.Data.Length - 20));
        if (qtype == DnsType.IXFR && (!tcp || !SerialIsNewer(serial, clientSerial!.Value)))
        {
            // The client is current (or newer), or UDP: our SOA alone (RFC 1995 2 and 4).
            session.Records = [zone.Soa];
            Log?.Invoke($"transfer {zone.Origin} serial {serial.ToString(CultureInfo.InvariantCulture)} to {client}: IXFR{(tcp ? "" : " over UDP")}, the SOA only");
            return session;
        }
        if (qtype == DnsType.IXFR && Journal?.Differences(zone, clientSerial!.Value) is { } differences)
        {
            session.Records = differences; // incremental (RFC 1995 4)
            Log?.Invoke($"transfer {zone.Origin} serial {serial.ToString(CultureInfo.InvariantCulture)} to {client}: IXFR incremental from serial {clientSerial!.Value.ToString(CultureInfo.InvariantCulture)}, {differences.Count.ToString(CultureInfo.InvariantCulture)} records");
            return session;
        }
        // The whole zone, SOA first and last (RFC 5936 2.2); for IXFR the same when the journal does not reach back to
        // the client's serial (RFC 1995 4).
        var records = new List<DnsRecord>(zone.RecordCount + 1) { zone.Soa };
        foreach (var node in zone.Nodes)
        {
            foreach (var set in node.Sets)
            {
                if (set.Type == DnsType.SOA && ReferenceEquals(node, zone.Apex))
                {
                    continue;
                }
                records.AddRange(set.Records);
            }
        }
        records.Add(zone.Soa);
        session.Records = records;
        Log?.Invoke($"transfer {zone.Origin} serial {serial.ToString(CultureInfo.InvariantCulture)} to {client}: {(qtype == DnsType.IXFR ? "IXFR answered with the whole zone" : "AXFR")}, {records.Count.ToString(CultureInfo.InvariantCulture)} records{(session.Tsig is null ? "" : ", TSIG " + session.Tsig.Key!.Name)}");
        return session;
    }

    /// <summary>RFC 1982 serial number arithmetic: <paramref name="a"/> is newer than <paramref name="b"/>.</summary>
    public static bool SerialIsNewer(uint a, uint b) => a != b && (int)(a - b) > 0;

    private TransferSession Refuse(TransferSession session, int rcode)
    {
        System.Threading.Interlocked.Increment(ref _refused);
        session.Rcode = rcode;
        return session;
    }

    private TransferSession Rejected(TransferSession session, ReadOnlySpan<byte> query, int tsigAt, int error)
    {
        System.Threading.Interlocked.Increment(ref _refused);
        var buffer = new byte[512];
        session.Single = buffer.AsSpan(0, Tsig.ErrorResponse(query, buffer, tsigAt, -1, false, error)).ToArray();
        return session;
    }
}

/// <summary>The messages of one transfer answer, written one after the other (see <see cref="ZoneTransfers.Begin"/>).</summary>
public sealed class TransferSession
{
    private readonly byte[] _id;
    private readonly ushort _rd;
    private readonly long _now;
    private int _next;
    private int _messages;
    private bool _done;
    private byte[] _priorMac = [];

    internal TransferSession(ReadOnlySpan<byte> id, ushort rd, long now)
    {
        _id = id.ToArray();
        _rd = rd;
        _now = now;
    }

    internal byte[] Question { get; set; } = [];
    internal TsigRequest? Tsig { get; set; }
    internal int TsigError { get; set; }
    internal int Rcode { get; set; }
    internal byte[]? Single { get; set; }
    internal List<DnsRecord> Records { get; set; } = [];

    /// <summary>Messages written so far.</summary>
    public int Messages => _messages;

    /// <summary>Whether this is a transfer (records) rather than an error answer.</summary>
    public bool IsTransfer => Single is null && Rcode == DnsRcode.NoError && Records.Count > 0;

    /// <summary>
    /// Writes the next message into <paramref name="output"/> (at least 512 octets; up to 65535 used) and returns true,
    /// or false when every message has been written.
    /// </summary>
    public bool TryNext(Span<byte> output, out int length)
    {
        length = 0;
        if (_done)
        {
            return false;
        }
        if (Single is not null)
        {
            Single.CopyTo(output);
            length = Single.Length;
            _done = true;
            _messages++;
            return true;
        }
        var limit = Math.Min(output.Length, ZoneTransfers.MaxMessage);
        var reserve = Tsig?.Key is { } key ? TsigSigner.Reserve(key) : 0;
        Span<ushort> table = stackalloc ushort[512];
        var w = new DnsMessageWriter(output[..(limit - reserve)], table);
        var flags = (ushort)(DnsFlags.QR | _rd | (Rcode & 0xF) | (Rcode == DnsRcode.NoError ? DnsFlags.AA : 0));
        w.TryWriteHeader(BinaryPrimitives.ReadUInt16BigEndian(_id), flags, 0, 0, 0, 0);
        if (_messages == 0 && Question.Length > 0)
        {
            w.TryWriteRaw(Question); // RFC 5936 2.2.1: the first message carries the question
            w.SetHeaderField(4, 1);
        }
        ushort count = 0;
        if (Rcode == DnsRcode.NoError)
        {
            while (_next < Records.Count)
            {
                var r = Records[_next];
                if (!w.TryWriteRecord(r.Name.Wire, r.Type, r.Class, r.Ttl, r.Data))
                {
                    break;
                }
                _next++;
                if (++count == ushort.MaxValue)
                {
                    break;
                }
            }
            if (count == 0 && _next < Records.Count)
            {
                // A record that does not fit in an empty message cannot be sent: end with SERVFAIL.
                flags = (ushort)(DnsFlags.QR | _rd | DnsRcode.ServFail);
                w.SetHeaderField(2, flags);
                _next = Records.Count;
            }
        }
        w.SetHeaderField(6, count);
        length = w.Position;
        if (Tsig?.Key is not null)
        {
            Span<byte> mac = stackalloc byte[64];
            var signed = _messages == 0
                ? TsigSigner.SignResponse(output, length, Tsig, TsigError, _now, mac)
                : TsigSigner.Sign(output, length, Tsig.Key, _priorMac, timersOnly: true, _now, Tsig.OriginalId, 0, [], mac);
            if (signed > 0)
            {
                length = signed;
                _priorMac = mac[..Tsig.Key.MacSize].ToArray();
            }
        }
        _messages++;
        _done = Rcode != DnsRcode.NoError || _next >= Records.Count;
        return true;
    }
}
