using System;
using System.Globalization;

namespace Unikernel.Protocols.Dns;

/// <summary>Resource record types (RFC 1035 and later); any other 16-bit value is carried as opaque data (RFC 3597).</summary>
public static class DnsType
{
    public const ushort A = 1;
    public const ushort NS = 2;
    public const ushort CNAME = 5;
    public const ushort SOA = 6;
    public const ushort PTR = 12;
    public const ushort MX = 15;
    public const ushort TXT = 16;
    public const ushort AAAA = 28;
    public const ushort SRV = 33;
    public const ushort DNAME = 39;
    public const ushort DS = 43;
    public const ushort RRSIG = 46;
    public const ushort NSEC = 47;
    public const ushort DNSKEY = 48;
    public const ushort NSEC3 = 50;
    public const ushort NSEC3PARAM = 51;
    public const ushort OPT = 41;
    public const ushort TSIG = 250;
    public const ushort IXFR = 251;
    public const ushort AXFR = 252;
    public const ushort MAILB = 253;
    public const ushort MAILA = 254;
    public const ushort ANY = 255;
    public const ushort CAA = 257;

    /// <summary>The mnemonic of a type, or <c>TYPEnnn</c> (RFC 3597).</summary>
    public static string ToName(ushort type) => type switch
    {
        A => "A",
        NS => "NS",
        CNAME => "CNAME",
        SOA => "SOA",
        PTR => "PTR",
        MX => "MX",
        TXT => "TXT",
        AAAA => "AAAA",
        SRV => "SRV",
        OPT => "OPT",
        IXFR => "IXFR",
        AXFR => "AXFR",
        ANY => "ANY",
        CAA => "CAA",
        _ => RecordTypes.Find(type)?.Name ?? "TYPE" + type.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Parses a mnemonic (case-insensitive) or <c>TYPEnnn</c>.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out ushort type)
    {
        type = 0;
        Span<char> upper = stackalloc char[16];
        if (text.Length == 0 || text.Length > upper.Length)
        {
            return false;
        }
        text.ToUpperInvariant(upper);
        upper = upper[..text.Length];
        switch (upper)
        {
            case "A": type = A; return true;
            case "NS": type = NS; return true;
            case "CNAME": type = CNAME; return true;
            case "SOA": type = SOA; return true;
            case "PTR": type = PTR; return true;
            case "MX": type = MX; return true;
            case "TXT": type = TXT; return true;
            case "AAAA": type = AAAA; return true;
            case "SRV": type = SRV; return true;
            case "CAA": type = CAA; return true;
            case "ANY": type = ANY; return true;
            case "AXFR": type = AXFR; return true;
            case "IXFR": type = IXFR; return true;
            default: break;
        }
        if (RecordTypes.Find(new string(upper)) is { } layout)
        {
            type = layout.Code;
            return true;
        }
        if (upper.StartsWith("TYPE") && upper.Length > 4 && DnsNumber.TryParse(upper[4..], out type))
        {
            return true;
        }
        type = 0;
        return false;
    }
}

public static class DnsClass
{
    public const ushort IN = 1;
    public const ushort CH = 3;
    public const ushort HS = 4;
    public const ushort ANY = 255;

    public static bool TryParse(ReadOnlySpan<char> text, out ushort value)
    {
        value = 0;
        if (text.Equals("IN", StringComparison.OrdinalIgnoreCase)) { value = IN; return true; }
        if (text.Equals("CH", StringComparison.OrdinalIgnoreCase)) { value = CH; return true; }
        if (text.Equals("HS", StringComparison.OrdinalIgnoreCase)) { value = HS; return true; }
        if (text.Length > 5 && text.StartsWith("CLASS", StringComparison.OrdinalIgnoreCase)
            && DnsNumber.TryParse(text[5..], out value))
        {
            return true;
        }
        value = 0;
        return false;
    }

    public static string ToName(ushort value) => value switch
    {
        IN => "IN",
        CH => "CH",
        HS => "HS",
        ANY => "ANY",
        _ => "CLASS" + value.ToString(CultureInfo.InvariantCulture),
    };
}

public static class DnsRcode
{
    public const int NoError = 0;
    public const int FormErr = 1;
    public const int ServFail = 2;
    public const int NXDomain = 3;
    public const int NotImp = 4;
    public const int Refused = 5;
    /// <summary>Extended rcode 16 (RFC 6891): upper 8 bits 1 in the OPT record, lower 4 bits 0 in the header.</summary>
    public const int BadVers = 16;
    public const int NotAuth = 9;

    public static string ToName(int rcode) => rcode switch
    {
        NoError => "NOERROR",
        FormErr => "FORMERR",
        ServFail => "SERVFAIL",
        NXDomain => "NXDOMAIN",
        NotImp => "NOTIMP",
        Refused => "REFUSED",
        BadVers => "BADVERS",
        NotAuth => "NOTAUTH",
        _ => "RCODE" + rcode.ToString(CultureInfo.InvariantCulture),
    };
}

public static class DnsOpcode
{
    public const int Query = 0;
    public const int IQuery = 1;
    public const int Status = 2;
    public const int Notify = 4;
    public const int Update = 5;
}

/// <summary>Header flag bits (in the 16-bit flags word).</summary>
public static class DnsFlags
{
    public const ushort QR = 0x8000;
    public const ushort AA = 0x0400;
    public const ushort TC = 0x0200;
    public const ushort RD = 0x0100;
    public const ushort RA = 0x0080;
    public const ushort AD = 0x0020;
    public const ushort CD = 0x0010;
}
