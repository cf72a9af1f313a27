using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Dns;

/// <summary>Transaction signatures (RFC 8945): the checked view of a TSIG record and error responses.</summary>
public static class Tsig
{
    public const int BadSig = 16;
    public const int BadKey = 17;
    public const int BadTime = 18;

    /// <summary>
    /// The unsigned NOTAUTH/BADKEY response to a query signed with a key we do not know (RFC 8945 section 5.2.2),
    /// laid out as NSD does: header, the OPT record when <paramref name="ednsPayload"/> &gt;= 0, and a TSIG record
    /// with the query's key and algorithm names, time signed and fudge, no MAC, and error BADKEY. The TSIG record
    /// starts at <paramref name="tsigAt"/> in <paramref name="query"/> (already bounds-checked by the caller).
    /// Returns a FORMERR header when the TSIG RDATA is malformed.
    /// </summary>
    public static int BadKeyResponse(ReadOnlySpan<byte> query, Span<byte> response, int tsigAt, int ednsPayload, bool dnssecOk) =>
        ErrorResponse(query, response, tsigAt, ednsPayload, dnssecOk, BadKey);

    /// <summary>As <see cref="BadKeyResponse"/> with TSIG error <paramref name="error"/> (BADKEY or BADSIG: unsigned).</summary>
    public static int ErrorResponse(ReadOnlySpan<byte> query, Span<byte> response, int tsigAt, int ednsPayload, bool dnssecOk, int error)
    {
        Span<byte> key = stackalloc byte[DnsName.MaxLength];
        Span<byte> algorithm = stackalloc byte[DnsName.MaxLength];
        if (!DnsName.TryRead(query, tsigAt, key, out var keyLength, out var at) || at + 10 > query.Length)
        {
            return Header(query, response, DnsRcode.FormErr);
        }
        var rdataAt = at + 10;
        int rdLength = BinaryPrimitives.ReadUInt16BigEndian(query[(at + 8)..]);
        var rdata = query.Slice(rdataAt, Math.Min(rdLength, query.Length - rdataAt));
        // RDATA: algorithm name, time signed (48 bits), fudge, MAC size, MAC, original ID, error, other length, other.
        if (!DnsName.IsValidWire(rdata, out var algorithmLength) || algorithmLength + 10 > rdata.Length)
        {
            return Header(query, response, DnsRcode.FormErr);
        }
        rdata[..algorithmLength].CopyTo(algorithm);
        int macSize = BinaryPrimitives.ReadUInt16BigEndian(rdata[(algorithmLength + 8)..]);
        if (algorithmLength + 10 + macSize + 6 > rdata.Length)
        {
            return Header(query, response, DnsRcode.FormErr);
        }
        var length = Header(query, response, DnsRcode.NotAuth);
        Span<ushort> table = stackalloc ushort[8];
        var w = new DnsMessageWriter(response, table);
        w.Rewind(length);
        ushort additional = 0;
        if (ednsPayload >= 0 && w.TryWriteOpt((ushort)ednsPayload, 0, 0, dnssecOk ? Edns.DnssecOk : (ushort)0))
        {
            additional++;
        }
        Span<byte> tsig = stackalloc byte[DnsName.MaxLength + 16];
        algorithm[..algorithmLength].CopyTo(tsig);
        var p = algorithmLength;
        rdata.Slice(algorithmLength, 8).CopyTo(tsig[p..]); // time signed and fudge, as asked
        p += 8;
        BinaryPrimitives.WriteUInt16BigEndian(tsig[p..], 0); // MAC size: the error response is unsigned
        BinaryPrimitives.WriteUInt16BigEndian(tsig[(p + 2)..], BinaryPrimitives.ReadUInt16BigEndian(query)); // original ID
        BinaryPrimitives.WriteUInt16BigEndian(tsig[(p + 4)..], (ushort)error);
        BinaryPrimitives.WriteUInt16BigEndian(tsig[(p + 6)..], 0); // other length
        p += 8;
        if (w.TryWriteName(key[..keyLength], compress: false) && w.TryWriteRaw([0x00, 0xFA, 0x00, 0xFF, 0, 0, 0, 0, (byte)(p >> 8), (byte)p]) && w.TryWriteRaw(tsig[..p]))
        {
            additional++;
        }
        else
        {
            w.Rewind(length + (additional > 0 ? 11 : 0));
        }
        w.SetHeaderField(10, additional);
        return w.Position;
    }

    internal static int Header(ReadOnlySpan<byte> query, Span<byte> response, int rcode)
    {
        query[..2].CopyTo(response);
        BinaryPrimitives.WriteUInt16BigEndian(response[2..], (ushort)(DnsFlags.QR | (((query[2] >> 3) & 0xF) << 11) | ((query[2] & 0x01) << 8) | (query[3] & 0x10) | (rcode & 0xF)));
        response.Slice(4, 8).Clear();
        return 12;
    }
}
