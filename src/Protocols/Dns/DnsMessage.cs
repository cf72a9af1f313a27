using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Unikernel.Protocols.Dns;

public sealed record DnsQuestion(DnsName Name, ushort Type, ushort Class)
{
    public override string ToString() => $"{Name} {DnsClass.ToName(Class)} {DnsType.ToName(Type)}";
}

/// <summary>A resource record with uncompressed RDATA.</summary>
public sealed class DnsRecord(DnsName name, ushort type, ushort @class, uint ttl, byte[] data)
{
    public DnsName Name { get; } = name;
    public ushort Type { get; } = type;
    public ushort Class { get; } = @class;
    public uint Ttl { get; } = ttl;
    public byte[] Data { get; } = data;

    /// <summary>Presentation format, as in a zone file or dig's output (owner name lower-cased is not applied).</summary>
    public override string ToString() =>
        $"{Name} {Ttl.ToString(CultureInfo.InvariantCulture)} {DnsClass.ToName(Class)} {DnsType.ToName(Type)} {RecordData.ToText(Type, Data)}";
}

/// <summary>
/// The parsed (allocating) representation of a whole message, for tests, tools and clients. The server's packet path
/// does not use it: see <see cref="DnsResponder"/>.
/// </summary>
public sealed class DnsMessage
{
    public ushort Id { get; set; }
    public ushort Flags { get; set; }
    public List<DnsQuestion> Questions { get; } = [];
    public List<DnsRecord> Answers { get; } = [];
    public List<DnsRecord> Authority { get; } = [];
    /// <summary>Additional records other than OPT.</summary>
    public List<DnsRecord> Additional { get; } = [];
    /// <summary>The OPT pseudo-record, if any.</summary>
    public DnsRecord? Opt { get; set; }

    public int Opcode => (Flags >> 11) & 0xF;

    /// <summary>The full rcode: header bits plus the OPT record's upper 8 bits.</summary>
    public int Rcode => (Flags & 0xF) | (Opt is null ? 0 : (int)(Opt.Ttl >> 24) << 4);

    public int EdnsVersion => Opt is null ? -1 : (int)((Opt.Ttl >> 16) & 0xFF);

    public int EdnsPayloadSize => Opt?.Class ?? 0;

    public bool HasFlag(ushort flag) => (Flags & flag) != 0;

    public static DnsMessage Query(DnsName name, ushort type, ushort id = 0x1234, bool recursionDesired = false, int ednsPayload = -1, byte ednsVersion = 0)
    {
        var m = new DnsMessage { Id = id, Flags = recursionDesired ? DnsFlags.RD : (ushort)0 };
        m.Questions.Add(new DnsQuestion(name, type, DnsClass.IN));
        if (ednsPayload >= 0)
        {
            m.Opt = new DnsRecord(DnsName.Root, DnsType.OPT, (ushort)ednsPayload, (uint)ednsVersion << 16, []);
        }
        return m;
    }

    public byte[] Encode(int maxLength = 65535)
    {
        var buffer = new byte[maxLength];
        Span<ushort> table = stackalloc ushort[256];
        var w = new DnsMessageWriter(buffer, table);
        var ok = w.TryWriteHeader(Id, Flags, (ushort)Questions.Count, (ushort)Answers.Count, (ushort)Authority.Count, (ushort)(Additional.Count + (Opt is null ? 0 : 1)));
        foreach (var q in Questions)
        {
            ok &= w.TryWriteQuestion(q.Name.Wire, q.Type, q.Class);
        }
        foreach (var list in new[] { Answers, Authority, Additional })
        {
            foreach (var r in list)
            {
                ok &= w.TryWriteRecord(r.Name.Wire, r.Type, r.Class, r.Ttl, r.Data);
            }
        }
        if (Opt is not null)
        {
            ok &= w.TryWriteRecord(DnsName.Root.Wire, DnsType.OPT, Opt.Class, Opt.Ttl, Opt.Data);
        }
        if (!ok)
        {
            throw new InvalidOperationException("message does not fit");
        }
        return w.Written.ToArray();
    }

    public static bool TryParse(ReadOnlySpan<byte> packet, [NotNullWhen(true)] out DnsMessage? message, out string error)
    {
        message = null;
        if (packet.Length < 12)
        {
            error = "shorter than a header";
            return false;
        }
        var m = new DnsMessage
        {
            Id = BinaryPrimitives.ReadUInt16BigEndian(packet),
            Flags = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]),
        };
        int qd = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        int an = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]);
        int ns = BinaryPrimitives.ReadUInt16BigEndian(packet[8..]);
        int ar = BinaryPrimitives.ReadUInt16BigEndian(packet[10..]);
        var offset = 12;
        Span<byte> name = stackalloc byte[DnsName.MaxLength];
        for (var i = 0; i < qd; i++)
        {
            if (!DnsName.TryRead(packet, offset, name, out var length, out offset) || offset + 4 > packet.Length)
            {
                error = $"bad question {i}";
                return false;
            }
            DnsName.TryFromWire(name[..length], out var qname);
            m.Questions.Add(new DnsQuestion(qname!, BinaryPrimitives.ReadUInt16BigEndian(packet[offset..]), BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 2)..])));
            offset += 4;
        }
        var sections = new[] { (an, m.Answers), (ns, m.Authority), (ar, m.Additional) };
        foreach (var (count, list) in sections)
        {
            for (var i = 0; i < count; i++)
            {
                if (!TryReadRecord(packet, ref offset, out var record))
                {
                    error = $"bad record {i} in a section";
                    return false;
                }
                if (record.Type == DnsType.OPT && ReferenceEquals(list, m.Additional))
                {
                    if (m.Opt is not null)
                    {
                        error = "more than one OPT record";
                        return false;
                    }
                    m.Opt = record;
                }
                else
                {
                    list.Add(record);
                }
            }
        }
        if (offset != packet.Length)
        {
            error = "trailing bytes after the last record";
            return false;
        }
        error = "";
        message = m;
        return true;
    }

    private static bool TryReadRecord(ReadOnlySpan<byte> packet, ref int offset, [NotNullWhen(true)] out DnsRecord? record)
    {
        record = null;
        Span<byte> name = stackalloc byte[DnsName.MaxLength];
        if (!DnsName.TryRead(packet, offset, name, out var length, out offset) || offset + 10 > packet.Length)
        {
            return false;
        }
        DnsName.TryFromWire(name[..length], out var owner);
        var type = BinaryPrimitives.ReadUInt16BigEndian(packet[offset..]);
        var @class = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 2)..]);
        var ttl = BinaryPrimitives.ReadUInt32BigEndian(packet[(offset + 4)..]);
        int rdLength = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 8)..]);
        var start = offset + 10;
        var end = start + rdLength;
        if (end > packet.Length)
        {
            return false;
        }
        byte[] data;
        var fixedPrefix = type switch { DnsType.MX => 2, DnsType.SRV => 6, DnsType.NS or DnsType.CNAME or DnsType.PTR or DnsType.SOA => 0, _ => -1 };
        if (fixedPrefix < 0)
        {
            data = packet[start..end].ToArray();
        }
        else
        {
            var rdata = packet[..end];
            var output = new List<byte>();
            if (start + fixedPrefix > end)
            {
                return false;
            }
            output.AddRange(rdata.Slice(start, fixedPrefix));
            var position = start + fixedPrefix;
            var names = type == DnsType.SOA ? 2 : 1;
            for (var i = 0; i < names; i++)
            {
                if (!DnsName.TryRead(rdata, position, name, out var n, out position))
                {
                    return false;
                }
                output.AddRange(name[..n]);
            }
            if (type == DnsType.SOA)
            {
                if (position + 20 != end)
                {
                    return false;
                }
                output.AddRange(rdata.Slice(position, 20));
            }
            else if (position != end)
            {
                return false;
            }
            data = [.. output];
        }
        if (type != DnsType.OPT && !RecordData.IsValid(type, data))
        {
            return false;
        }
        offset = end;
        record = new DnsRecord(owner!, type, @class, ttl, data);
        return true;
    }
}
