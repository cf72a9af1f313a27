using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Unikernel.Protocols.Dns;

/// <summary>One field of an RDATA layout. "Rest" fields take every remaining token (text) or octet (wire).</summary>
internal enum Field : byte
{
    U8,
    U16,
    U32,
    /// <summary>An uncompressed domain name.</summary>
    Name,
    IPv4,
    IPv6,
    /// <summary>One &lt;character-string&gt; (length octet + up to 255 octets).</summary>
    CharString,
    /// <summary>Rest: one or more character-strings.</summary>
    CharStrings,
    /// <summary>Rest: base64 (RFC 4648), tokens concatenated; at least one octet.</summary>
    Base64,
    /// <summary>Rest: hexadecimal, tokens concatenated; at least one octet.</summary>
    Hex,
    /// <summary>Rest: hexadecimal, possibly none (e.g. ZONEMD digest is never empty, but NULL-like data may be).</summary>
    HexOrNone,
    /// <summary>Length octet + octets, written as hex or "-" for none (NSEC3 salt, RFC 5155 3.3).</summary>
    Salt,
    /// <summary>Length octet + octets, written in base32hex without padding (NSEC3 next hashed owner).</summary>
    Base32,
    /// <summary>Rest: the NSEC type bitmap (RFC 4034 4.1.2), written as type mnemonics; may be empty.</summary>
    TypeBitmap,
    /// <summary>A 16-bit RR type written as its mnemonic (RRSIG type covered).</summary>
    Type,
    /// <summary>A 32-bit time written as YYYYMMDDHHmmSS (or seconds) (RRSIG, RFC 4034 3.2).</summary>
    Time,
    /// <summary>Rest: the octets of one quoted string with no length octet (URI target, CAA value).</summary>
    Text,
    /// <summary>48-bit and 64-bit identifiers written as xx-xx-... (EUI48, EUI64, RFC 7043).</summary>
    Eui48,
    Eui64,
    /// <summary>64-bit ILNP locator/identifier written as four 16-bit hex groups joined by ':' (RFC 6742).</summary>
    Ilnp64,
    /// <summary>Rest: the whole of LOC (RFC 1876), see LocSvcb.</summary>
    Loc,
    /// <summary>Rest: SVCB/HTTPS SvcParams (RFC 9460), may be none; see LocSvcb.</summary>
    SvcParams,
}

/// <summary>The registry of record types whose presentation format we read and write (NSD 4.6's list).</summary>
internal static class RecordTypes
{
    // Classes, not records (here and for ZoneToken, TransferJournal.Step): nothing compares or prints them, and each
    // record brings value equality, ToString and PrintMembers into the image (about 1 KB a record).
    internal sealed class Layout(ushort code, string name, Field[] fields)
    {
        public ushort Code { get; } = code;

        public string Name { get; } = name;

        public Field[] Fields { get; } = fields;
    }

    private static readonly Dictionary<ushort, Layout> s_byCode = [];
    private static readonly Dictionary<string, Layout> s_byName = new(StringComparer.OrdinalIgnoreCase);

    private static void Add(ushort code, string name, params Field[] fields)
    {
        var layout = new Layout(code, name, fields);
        s_byCode[code] = layout;
        s_byName[name] = layout;
    }

    static RecordTypes()
    {
        // Types with their own code paths in RecordData (A, AAAA, NS, CNAME, PTR, MX, SRV, SOA, TXT, CAA) are listed
        // for their names; their fields are handled there.
        Add(DnsType.A, "A", Field.IPv4);
        Add(DnsType.NS, "NS", Field.Name);
        Add(3, "MD", Field.Name);
        Add(4, "MF", Field.Name);
        Add(DnsType.CNAME, "CNAME", Field.Name);
        Add(DnsType.SOA, "SOA", Field.Name, Field.Name, Field.U32, Field.U32, Field.U32, Field.U32, Field.U32);
        Add(7, "MB", Field.Name);
        Add(8, "MG", Field.Name);
        Add(9, "MR", Field.Name);
        Add(DnsType.PTR, "PTR", Field.Name);
        Add(13, "HINFO", Field.CharString, Field.CharString);
        Add(14, "MINFO", Field.Name, Field.Name);
        Add(DnsType.MX, "MX", Field.U16, Field.Name);
        Add(DnsType.TXT, "TXT", Field.CharStrings);
        Add(17, "RP", Field.Name, Field.Name);
        Add(18, "AFSDB", Field.U16, Field.Name);
        Add(19, "X25", Field.CharString);
        Add(21, "RT", Field.U16, Field.Name);
        Add(24, "SIG", Field.Type, Field.U8, Field.U8, Field.U32, Field.Time, Field.Time, Field.U16, Field.Name, Field.Base64);
        Add(25, "KEY", Field.U16, Field.U8, Field.U8, Field.Base64);
        Add(26, "PX", Field.U16, Field.Name, Field.Name);
        Add(29, "LOC", Field.Loc);
        Add(DnsType.AAAA, "AAAA", Field.IPv6);
        Add(DnsType.SRV, "SRV", Field.U16, Field.U16, Field.U16, Field.Name);
        Add(35, "NAPTR", Field.U16, Field.U16, Field.CharString, Field.CharString, Field.CharString, Field.Name);
        Add(36, "KX", Field.U16, Field.Name);
        Add(37, "CERT", Field.U16, Field.U16, Field.U8, Field.Base64);
        Add(39, "DNAME", Field.Name);
        Add(43, "DS", Field.U16, Field.U8, Field.U8, Field.Hex);
        Add(44, "SSHFP", Field.U8, Field.U8, Field.Hex);
        Add(46, "RRSIG", Field.Type, Field.U8, Field.U8, Field.U32, Field.Time, Field.Time, Field.U16, Field.Name, Field.Base64);
        Add(47, "NSEC", Field.Name, Field.TypeBitmap);
        Add(48, "DNSKEY", Field.U16, Field.U8, Field.U8, Field.Base64);
        Add(49, "DHCID", Field.Base64);
        Add(50, "NSEC3", Field.U8, Field.U8, Field.U16, Field.Salt, Field.Base32, Field.TypeBitmap);
        Add(51, "NSEC3PARAM", Field.U8, Field.U8, Field.U16, Field.Salt);
        Add(52, "TLSA", Field.U8, Field.U8, Field.U8, Field.Hex);
        Add(53, "SMIMEA", Field.U8, Field.U8, Field.U8, Field.Hex);
        Add(59, "CDS", Field.U16, Field.U8, Field.U8, Field.Hex);
        Add(60, "CDNSKEY", Field.U16, Field.U8, Field.U8, Field.Base64);
        Add(61, "OPENPGPKEY", Field.Base64);
        Add(62, "CSYNC", Field.U32, Field.U16, Field.TypeBitmap);
        Add(63, "ZONEMD", Field.U32, Field.U8, Field.U8, Field.Hex);
        Add(64, "SVCB", Field.U16, Field.Name, Field.SvcParams);
        Add(65, "HTTPS", Field.U16, Field.Name, Field.SvcParams);
        Add(99, "SPF", Field.CharStrings);
        Add(104, "NID", Field.U16, Field.Ilnp64);
        Add(105, "L32", Field.U16, Field.IPv4);
        Add(106, "L64", Field.U16, Field.Ilnp64);
        Add(107, "LP", Field.U16, Field.Name);
        Add(108, "EUI48", Field.Eui48);
        Add(109, "EUI64", Field.Eui64);
        Add(256, "URI", Field.U16, Field.U16, Field.Text);
        Add(DnsType.CAA, "CAA", Field.U8, Field.CharString, Field.Text);
        Add(32769, "DLV", Field.U16, Field.U8, Field.U8, Field.Hex);
        Add(258, "AVC", Field.CharStrings);
        Add(DnsType.OPT, "OPT");
        Add(DnsType.TSIG, "TSIG");
        Add(DnsType.IXFR, "IXFR");
        Add(DnsType.AXFR, "AXFR");
        Add(DnsType.MAILB, "MAILB");
        Add(DnsType.MAILA, "MAILA");
        Add(DnsType.ANY, "ANY");
    }

    public static Layout? Find(ushort code) => s_byCode.GetValueOrDefault(code);

    public static Layout? Find(string name) => s_byName.GetValueOrDefault(name);

    /// <summary>Types with a layout read through the table (not the hand-written paths, not meta types).</summary>
    public static bool HasTableLayout(ushort code) => s_byCode.TryGetValue(code, out var l) && l.Fields.Length > 0;

    public static IEnumerable<Layout> All => s_byCode.Values;

    // ---- presentation -> wire ----

    /// <summary>Parses <paramref name="tokens"/> as RDATA of <paramref name="layout"/>.</summary>
    public static bool TryParse(Layout layout, IReadOnlyList<ZoneToken> tokens, DnsName origin, List<byte> output, out string error, out int errorToken)
    {
        error = "";
        errorToken = 0;
        var t = 0;
        foreach (var field in layout.Fields)
        {
            errorToken = t;
            var rest = field is Field.CharStrings or Field.Base64 or Field.Hex or Field.HexOrNone or Field.TypeBitmap or Field.Loc or Field.SvcParams;
            if (!rest && t >= tokens.Count)
            {
                error = $"{layout.Name} needs {Required(layout).ToString(CultureInfo.InvariantCulture)} field(s), found {tokens.Count.ToString(CultureInfo.InvariantCulture)}";
                errorToken = tokens.Count;
                return false;
            }
            if (rest)
            {
                var texts = new List<ZoneToken>();
                for (; t < tokens.Count; t++)
                {
                    texts.Add(tokens[t]);
                }
                if (!TryParseRest(field, layout, texts, output, out error, out var bad))
                {
                    errorToken = Math.Min(errorToken + bad, tokens.Count);
                    return false;
                }
                continue;
            }
            var token = tokens[t++];
            if (!TryParseOne(field, token, origin, output, out error))
            {
                return false;
            }
        }
        if (t < tokens.Count)
        {
            errorToken = t;
            error = $"unexpected '{tokens[t].Text}' after the {t.ToString(CultureInfo.InvariantCulture)} field(s) of {layout.Name}";
            return false;
        }
        return true;
    }

    private static int Required(Layout layout)
    {
        var n = 0;
        foreach (var f in layout.Fields)
        {
            n += f is Field.TypeBitmap or Field.HexOrNone or Field.SvcParams ? 0 : 1;
        }
        return n;
    }

    private static bool TryParseOne(Field field, ZoneToken token, DnsName origin, List<byte> output, out string error)
    {
        error = "";
        var text = token.Text;
        var inv = CultureInfo.InvariantCulture;
        switch (field)
        {
            case Field.U8:
                if (!DnsNumber.TryParse(text, out byte b))
                {
                    error = $"'{text}' is not a number 0-255";
                    return false;
                }
                output.Add(b);
                return true;
            case Field.U16:
                if (!DnsNumber.TryParse(text, out ushort s))
                {
                    error = $"'{text}' is not a number 0-65535";
                    return false;
                }
                AddU16(output, s);
                return true;
            case Field.U32:
                if (!RecordData.TryParseTtl(text, out var u))
                {
                    error = $"'{text}' is not a 32-bit number";
                    return false;
                }
                RecordData.AddU32(output, u);
                return true;
            case Field.Name:
                return RecordData.TryAddName(token, origin, output, out error);
            case Field.IPv4:
                if (!System.Net.IPAddress.TryParse(text, out var v4) || v4.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || DnsText.Split(text, '.').Length != 4)
                {
                    error = $"'{text}' is not an IPv4 address";
                    return false;
                }
                output.AddRange(v4.GetAddressBytes());
                return true;
            case Field.IPv6:
                if (!text.Contains(':') || !System.Net.IPAddress.TryParse(text, out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
                {
                    error = $"'{text}' is not an IPv6 address";
                    return false;
                }
                output.AddRange(v6.GetAddressBytes());
                return true;
            case Field.CharString:
                return RecordData.TryAddCharacterString(token, output, out error);
            case Field.Salt:
                if (text == "-")
                {
                    output.Add(0);
                    return true;
                }
                if (!TryHex(text, out var salt) || salt.Length is 0 or > 255)
                {
                    error = $"salt '{text}' is not 1-255 octets of hex or '-'";
                    return false;
                }
                output.Add((byte)salt.Length);
                output.AddRange(salt);
                return true;
            case Field.Base32:
                if (!TryBase32Hex(text, out var hash) || hash.Length is 0 or > 255)
                {
                    error = $"'{text}' is not a base32hex hash (RFC 4648 section 7)";
                    return false;
                }
                output.Add((byte)hash.Length);
                output.AddRange(hash);
                return true;
            case Field.Type:
                if (!DnsType.TryParse(text, out var type))
                {
                    error = $"'{text}' is not a record type";
                    return false;
                }
                AddU16(output, type);
                return true;
            case Field.Time:
                if (!TryParseTime(text, out var time))
                {
                    error = $"'{text}' is not a time (YYYYMMDDHHmmSS or seconds)";
                    return false;
                }
                RecordData.AddU32(output, time);
                return true;
            case Field.Text:
                return RecordData.TryUnescapeText(text, output, out error);
            case Field.Eui48:
            case Field.Eui64:
                var parts = DnsText.Split(text, '-');
                var want = field == Field.Eui48 ? 6 : 8;
                if (parts.Length != want)
                {
                    error = $"'{text}' is not {want.ToString(inv)} hex pairs joined by '-'";
                    return false;
                }
                foreach (var p in parts)
                {
                    if (p.Length != 2 || !DnsNumber.TryParseHex(p, byte.MaxValue, out var x))
                    {
                        error = $"'{text}' is not {want.ToString(inv)} hex pairs joined by '-'";
                        return false;
                    }
                    output.Add((byte)x);
                }
                return true;
            case Field.Ilnp64:
                var groups = DnsText.Split(text, ':');
                if (groups.Length != 4)
                {
                    error = $"'{text}' is not four 16-bit hex groups joined by ':'";
                    return false;
                }
                foreach (var g in groups)
                {
                    if (g.Length is 0 or > 4 || !DnsNumber.TryParseHex(g, ushort.MaxValue, out var x))
                    {
                        error = $"'{text}' is not four 16-bit hex groups joined by ':'";
                        return false;
                    }
                    AddU16(output, (ushort)x);
                }
                return true;
            default:
                error = "internal: field " + field.ToString();
                return false;
        }
    }

    private static bool TryParseRest(Field field, Layout layout, List<ZoneToken> tokens, List<byte> output, out string error, out int bad)
    {
        error = "";
        bad = 0;
        switch (field)
        {
            case Field.CharStrings:
                if (tokens.Count == 0)
                {
                    error = $"{layout.Name} needs at least one character-string";
                    return false;
                }
                for (var i = 0; i < tokens.Count; i++)
                {
                    if (!RecordData.TryAddCharacterString(tokens[i], output, out error))
                    {
                        bad = i;
                        return false;
                    }
                }
                return true;
            case Field.Base64:
                var b64 = Concat(tokens);
                byte[] bytes;
                try
                {
                    bytes = b64.Length == 0 ? [] : Convert.FromBase64String(b64);
                }
                catch (FormatException)
                {
                    error = $"{layout.Name} data is not base64";
                    return false;
                }
                if (bytes.Length == 0)
                {
                    error = $"{layout.Name} needs its base64 data";
                    bad = tokens.Count;
                    return false;
                }
                output.AddRange(bytes);
                return true;
            case Field.Hex:
            case Field.HexOrNone:
                var hex = Concat(tokens);
                if (!TryHex(hex, out var data) || (field == Field.Hex && data.Length == 0))
                {
                    error = data.Length == 0 && hex.Length == 0 ? $"{layout.Name} needs its hex data" : $"{layout.Name} data is not hexadecimal";
                    bad = hex.Length == 0 ? tokens.Count : 0;
                    return false;
                }
                output.AddRange(data);
                return true;
            case Field.Loc:
                return LocSvcb.TryParseLoc(tokens, output, out error, out bad);
            case Field.SvcParams:
                return LocSvcb.TryParseSvcParams(tokens, output, out error, out bad);
            case Field.TypeBitmap:
                var types = new List<ushort>();
                for (var i = 0; i < tokens.Count; i++)
                {
                    if (!DnsType.TryParse(tokens[i].Text, out var type))
                    {
                        error = $"'{tokens[i].Text}' is not a record type";
                        bad = i;
                        return false;
                    }
                    types.Add(type);
                }
                WriteBitmap(types, output);
                return true;
            default:
                error = "internal: rest field " + field.ToString();
                return false;
        }
    }

    private static string Concat(List<ZoneToken> tokens)
    {
        var sb = new StringBuilder();
        foreach (var t in tokens)
        {
            sb.Append(t.Text);
        }
        return sb.ToString();
    }

    private static bool TryHex(string text, out byte[] bytes)
    {
        bytes = [];
        if (text.Length % 2 != 0)
        {
            return false;
        }
        try
        {
            bytes = Convert.FromHexString(text);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private const string Base32HexAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUV";

    private static bool TryBase32Hex(string text, out byte[] bytes)
    {
        var output = new List<byte>();
        bytes = [];
        int buffer = 0, bits = 0;
        foreach (var c in text)
        {
            var v = Base32HexAlphabet.IndexOf(char.ToUpperInvariant(c));
            if (v < 0)
            {
                return false;
            }
            buffer = (buffer << 5) | v;
            bits += 5;
            if (bits >= 8)
            {
                bits -= 8;
                output.Add((byte)(buffer >> bits));
                buffer &= (1 << bits) - 1;
            }
        }
        if (buffer != 0)
        {
            return false; // leftover bits must be zero
        }
        bytes = [.. output];
        return true;
    }

    private static string ToBase32Hex(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        int buffer = 0, bits = 0;
        foreach (var b in bytes)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                bits -= 5;
                sb.Append(Base32HexAlphabet[(buffer >> bits) & 31]);
            }
            buffer &= (1 << bits) - 1;
        }
        if (bits > 0)
        {
            sb.Append(Base32HexAlphabet[(buffer << (5 - bits)) & 31]);
        }
        return sb.ToString();
    }

    /// <summary>An RRSIG time (seconds since 1970, RFC 4034 3.2) as yyyyMMddHHmmss in UTC, without DateTime's formatter.</summary>
    private static string FormatTime(uint seconds)
    {
        var t = DateTime.UnixEpoch.AddTicks(seconds * TimeSpan.TicksPerSecond);
        Span<char> chars = stackalloc char[14];
        static void Put(Span<char> to, int at, int n, int value)
        {
            for (var i = at + n - 1; i >= at; i--)
            {
                to[i] = (char)('0' + (value % 10));
                value /= 10;
            }
        }
        Put(chars, 0, 4, t.Year);
        Put(chars, 4, 2, t.Month);
        Put(chars, 6, 2, t.Day);
        Put(chars, 8, 2, t.Hour);
        Put(chars, 10, 2, t.Minute);
        Put(chars, 12, 2, t.Second);
        return new string(chars);
    }

    private static bool TryParseTime(string text, out uint value)
    {
        value = 0;
        if (text.Length == 14 && DnsNumber.TryParse(text, ulong.MaxValue, out _))
        {
            // yyyyMMddHHmmss, UTC, read by hand: DateTime.TryParseExact drags DateTime parsing, formatting and time
            // zones (~140 KB of the dns image) into every image that loads a zone.
            static int Digits(string s, int at, int n)
            {
                var v = 0;
                for (var i = at; i < at + n; i++)
                {
                    v = (v * 10) + (s[i] - '0');
                }
                return v;
            }
            int year = Digits(text, 0, 4), month = Digits(text, 4, 2), day = Digits(text, 6, 2);
            int hour = Digits(text, 8, 2), minute = Digits(text, 10, 2), second = Digits(text, 12, 2);
            if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
            {
                return false;
            }
            var t = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc);
            // RFC 4034 3.1.5: serial number arithmetic modulo 2^32.
            value = (uint)((ulong)(t - DateTime.UnixEpoch).TotalSeconds & 0xFFFFFFFF);
            return true;
        }
        return text.Length < 14 && DnsNumber.TryParse(text, out value);
    }

    private static void WriteBitmap(List<ushort> types, List<byte> output)
    {
        types.Sort();
        var i = 0;
        Span<byte> bitmap = stackalloc byte[32];
        while (i < types.Count)
        {
            var window = types[i] >> 8;
            bitmap.Clear();
            var length = 0;
            for (; i < types.Count && types[i] >> 8 == window; i++)
            {
                var low = types[i] & 0xFF;
                bitmap[low >> 3] |= (byte)(0x80 >> (low & 7));
                length = Math.Max(length, (low >> 3) + 1);
            }
            output.Add((byte)window);
            output.Add((byte)length);
            for (var k = 0; k < length; k++)
            {
                output.Add(bitmap[k]);
            }
        }
    }

    private static void AddU16(List<byte> output, ushort value)
    {
        output.Add((byte)(value >> 8));
        output.Add((byte)value);
    }

    // ---- wire: validation and presentation ----

    /// <summary>True when <paramref name="rdata"/> is exactly a sequence of the layout's fields.</summary>
    public static bool IsValid(Layout layout, ReadOnlySpan<byte> rdata) => Walk(layout, rdata, null);

    /// <summary>Presentation format of valid RDATA.</summary>
    public static string ToText(Layout layout, ReadOnlySpan<byte> rdata)
    {
        var parts = new List<string>();
        return Walk(layout, rdata, parts) ? string.Join(' ', parts) : "";
    }

    private static bool Walk(Layout layout, ReadOnlySpan<byte> rdata, List<string>? text)
    {
        var inv = CultureInfo.InvariantCulture;
        var at = 0;
        foreach (var field in layout.Fields)
        {
            var rest = rdata[at..];
            switch (field)
            {
                case Field.U8:
                    if (rest.Length < 1)
                    {
                        return false;
                    }
                    text?.Add(rest[0].ToString(inv));
                    at += 1;
                    break;
                case Field.U16:
                case Field.Type:
                    if (rest.Length < 2)
                    {
                        return false;
                    }
                    var u16 = BinaryPrimitives.ReadUInt16BigEndian(rest);
                    text?.Add(field == Field.Type ? DnsType.ToName(u16) : u16.ToString(inv));
                    at += 2;
                    break;
                case Field.U32:
                case Field.Time:
                    if (rest.Length < 4)
                    {
                        return false;
                    }
                    var u32 = BinaryPrimitives.ReadUInt32BigEndian(rest);
                    text?.Add(field == Field.Time ? FormatTime(u32) : u32.ToString(inv));
                    at += 4;
                    break;
                case Field.Name:
                    if (!DnsName.IsValidWire(rest, out var n))
                    {
                        return false;
                    }
                    text?.Add(DnsName.WireToString(rest[..n]));
                    at += n;
                    break;
                case Field.IPv4:
                    if (rest.Length < 4)
                    {
                        return false;
                    }
                    text?.Add(new System.Net.IPAddress(rest[..4]).ToString());
                    at += 4;
                    break;
                case Field.IPv6:
                    if (rest.Length < 16)
                    {
                        return false;
                    }
                    text?.Add(new System.Net.IPAddress(rest[..16]).ToString());
                    at += 16;
                    break;
                case Field.CharString:
                    if (rest.Length < 1 || rest.Length < 1 + rest[0])
                    {
                        return false;
                    }
                    text?.Add(Quoted(rest.Slice(1, rest[0])));
                    at += 1 + rest[0];
                    break;
                case Field.CharStrings:
                    if (rest.Length == 0)
                    {
                        return false;
                    }
                    while (at < rdata.Length)
                    {
                        var len = rdata[at];
                        if (at + 1 + len > rdata.Length)
                        {
                            return false;
                        }
                        text?.Add(Quoted(rdata.Slice(at + 1, len)));
                        at += 1 + len;
                    }
                    break;
                case Field.Loc:
                case Field.SvcParams:
                    if (!(field == Field.Loc ? LocSvcb.WalkLoc(rest, text) : LocSvcb.WalkSvcParams(rest, text)))
                    {
                        return false;
                    }
                    at = rdata.Length;
                    break;
                case Field.Base64:
                    if (rest.Length == 0)
                    {
                        return false;
                    }
                    text?.Add(Convert.ToBase64String(rest));
                    at = rdata.Length;
                    break;
                case Field.Hex:
                case Field.HexOrNone:
                    if (rest.Length == 0 && field == Field.Hex)
                    {
                        return false;
                    }
                    if (rest.Length > 0)
                    {
                        text?.Add(Convert.ToHexString(rest));
                    }
                    at = rdata.Length;
                    break;
                case Field.Salt:
                    if (rest.Length < 1 || rest.Length < 1 + rest[0])
                    {
                        return false;
                    }
                    text?.Add(rest[0] == 0 ? "-" : Convert.ToHexString(rest.Slice(1, rest[0])));
                    at += 1 + rest[0];
                    break;
                case Field.Base32:
                    if (rest.Length < 2 || rest[0] == 0 || rest.Length < 1 + rest[0])
                    {
                        return false;
                    }
                    text?.Add(ToBase32Hex(rest.Slice(1, rest[0])));
                    at += 1 + rest[0];
                    break;
                case Field.TypeBitmap:
                    var previous = -1;
                    while (at < rdata.Length)
                    {
                        if (at + 2 > rdata.Length)
                        {
                            return false;
                        }
                        int window = rdata[at];
                        int length = rdata[at + 1];
                        // RFC 4034 4.1.2: windows ascending, 1-32 octets, trailing zero octets omitted.
                        if (window <= previous || length is 0 or > 32 || at + 2 + length > rdata.Length || rdata[at + 1 + length] == 0)
                        {
                            return false;
                        }
                        previous = window;
                        for (var k = 0; k < length; k++)
                        {
                            for (var bit = 0; bit < 8; bit++)
                            {
                                if ((rdata[at + 2 + k] & (0x80 >> bit)) != 0)
                                {
                                    text?.Add(DnsType.ToName((ushort)((window << 8) | (k << 3) | bit)));
                                }
                            }
                        }
                        at += 2 + length;
                    }
                    break;
                case Field.Text:
                    var sb = new StringBuilder("\"");
                    DnsName.AppendEscaped(sb, rest, inQuotes: true);
                    text?.Add(sb.Append('"').ToString());
                    at = rdata.Length;
                    break;
                case Field.Eui48:
                case Field.Eui64:
                    var size = field == Field.Eui48 ? 6 : 8;
                    if (rest.Length < size)
                    {
                        return false;
                    }
                    text?.Add(Convert.ToHexString(rest[..size]).ToLowerInvariant() is var h ? string.Join('-', Chunks(h, 2)) : "");
                    at += size;
                    break;
                case Field.Ilnp64:
                    if (rest.Length < 8)
                    {
                        return false;
                    }
                    text?.Add(string.Join(':', Chunks(Convert.ToHexString(rest[..8]).ToLowerInvariant(), 4)));
                    at += 8;
                    break;
                default:
                    return false;
            }
        }
        return at == rdata.Length;
    }

    private static IEnumerable<string> Chunks(string s, int size)
    {
        for (var i = 0; i < s.Length; i += size)
        {
            yield return s.Substring(i, size);
        }
    }

    private static string Quoted(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder("\"");
        DnsName.AppendEscaped(sb, bytes, inQuotes: true);
        return sb.Append('"').ToString();
    }
}
