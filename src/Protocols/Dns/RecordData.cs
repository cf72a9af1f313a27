using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Unikernel.Protocols.Dns;

/// <summary>One token of a zone-file entry: its text (escapes still in place), whether it was quoted, and where it was.</summary>
/// <remarks>A plain struct, not a record struct: never compared or printed (see RecordTypes.Layout).</remarks>
public readonly struct ZoneToken(string text, bool quoted, int line, int column)
{
    public string Text { get; } = text;

    public bool Quoted { get; } = quoted;

    public int Line { get; } = line;

    public int Column { get; } = column;
}

/// <summary>RDATA of the supported types: presentation format ↔ uncompressed wire form.</summary>
public static class RecordData
{
    /// <summary>Types whose presentation format is understood (others need the RFC 3597 generic form).</summary>
    public static bool IsKnown(ushort type) => type is DnsType.A or DnsType.AAAA or DnsType.NS or DnsType.CNAME or DnsType.PTR
        or DnsType.MX or DnsType.SRV or DnsType.SOA or DnsType.TXT or DnsType.CAA || RecordTypes.HasTableLayout(type);

    /// <summary>Offset inside the RDATA of the name that triggers additional-section processing, or -1.</summary>
    public static int AdditionalTargetOffset(ushort type, ReadOnlySpan<byte> rdata) => type switch
    {
        DnsType.NS => 0,
        DnsType.MX => rdata.Length > 2 ? 2 : -1,
        DnsType.SRV => rdata.Length > 6 ? 6 : -1,
        _ => -1,
    };

    /// <summary>
    /// Parses the RDATA tokens of a record of <paramref name="type"/>. On failure <paramref name="errorToken"/> is the
    /// index of the offending token (or tokens.Count when some are missing).
    /// </summary>
    public static bool TryParse(ushort type, IReadOnlyList<ZoneToken> tokens, DnsName origin, out byte[] rdata, out string error, out int errorToken)
    {
        rdata = [];
        error = "";
        errorToken = 0;
        var output = new List<byte>(32);
        if (tokens.Count > 0 && !tokens[0].Quoted && tokens[0].Text == "\\#")
        {
            // RFC 3597 section 5: generic RDATA of a known type must be valid RDATA of that type (it is then the same
            // record as the one written in the type's own format), else answers would carry malformed records.
            if (!TryParseGeneric(tokens, out rdata, out error, out errorToken))
            {
                return false;
            }
            if (!IsValid(type, rdata))
            {
                error = $"generic RDATA '\\# {rdata.Length.ToString(CultureInfo.InvariantCulture)}' is not valid {DnsType.ToName(type)} RDATA ({DnsType.ToName(type)} is {Layout(type)})";
                errorToken = 0;
                rdata = [];
                return false;
            }
            return true;
        }
        var expected = -1;
        switch (type)
        {
            case DnsType.A:
                expected = 1;
                if (tokens.Count >= 1 && !TryParseIPv4(tokens[0].Text, output))
                {
                    error = $"'{tokens[0].Text}' is not an IPv4 address";
                    return false;
                }
                break;
            case DnsType.AAAA:
                expected = 1;
                if (tokens.Count >= 1)
                {
                    if (!tokens[0].Text.Contains(':') || !IPAddress.TryParse(tokens[0].Text, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
                    {
                        error = $"'{tokens[0].Text}' is not an IPv6 address";
                        return false;
                    }
                    output.AddRange(v6.GetAddressBytes());
                }
                break;
            case DnsType.NS:
            case DnsType.CNAME:
            case DnsType.PTR:
                expected = 1;
                if (tokens.Count >= 1 && !TryAddName(tokens[0], origin, output, out error))
                {
                    return false;
                }
                break;
            case DnsType.MX:
                expected = 2;
                if (tokens.Count >= 2)
                {
                    if (!AddU16(tokens[0], output, "preference", out error))
                    {
                        return false;
                    }
                    if (!TryAddName(tokens[1], origin, output, out error))
                    {
                        errorToken = 1;
                        return false;
                    }
                }
                break;
            case DnsType.SRV:
                expected = 4;
                if (tokens.Count >= 4)
                {
                    string[] what = ["priority", "weight", "port"];
                    for (var i = 0; i < 3; i++)
                    {
                        if (!AddU16(tokens[i], output, what[i], out error))
                        {
                            errorToken = i;
                            return false;
                        }
                    }
                    if (!TryAddName(tokens[3], origin, output, out error))
                    {
                        errorToken = 3;
                        return false;
                    }
                }
                break;
            case DnsType.SOA:
                expected = 7;
                if (tokens.Count >= 7)
                {
                    for (var i = 0; i < 2; i++)
                    {
                        if (!TryAddName(tokens[i], origin, output, out error))
                        {
                            errorToken = i;
                            return false;
                        }
                    }
                    for (var i = 2; i < 7; i++)
                    {
                        if (!TryParseTtl(tokens[i].Text, out var value))
                        {
                            error = $"'{tokens[i].Text}' is not a 32-bit number or duration";
                            errorToken = i;
                            return false;
                        }
                        AddU32(output, value);
                    }
                }
                break;
            case DnsType.TXT:
                if (tokens.Count == 0)
                {
                    error = "TXT needs at least one character-string";
                    errorToken = 0;
                    return false;
                }
                for (var i = 0; i < tokens.Count; i++)
                {
                    if (!TryAddCharacterString(tokens[i], output, out error))
                    {
                        errorToken = i;
                        return false;
                    }
                }
                break;
            case DnsType.CAA:
                expected = 3;
                if (tokens.Count >= 3)
                {
                    if (!DnsNumber.TryParse(tokens[0].Text, out byte flags))
                    {
                        error = $"CAA flags '{tokens[0].Text}' is not a number 0-255";
                        return false;
                    }
                    output.Add(flags);
                    var tag = tokens[1].Text;
                    if (tag.Length is 0 or > 255 || !IsAlphanumeric(tag))
                    {
                        error = $"CAA tag '{tag}' must be 1-255 letters or digits";
                        errorToken = 1;
                        return false;
                    }
                    output.Add((byte)tag.Length);
                    foreach (var c in tag)
                    {
                        output.Add((byte)c);
                    }
                    if (!TryUnescapeText(tokens[2].Text, output, out error))
                    {
                        errorToken = 2;
                        return false;
                    }
                }
                break;
            default:
                if (RecordTypes.Find(type) is { Fields.Length: > 0 } layout)
                {
                    if (!RecordTypes.TryParse(layout, tokens, origin, output, out error, out errorToken))
                    {
                        return false;
                    }
                    break;
                }
                error = $"type {DnsType.ToName(type)} is not known: use the generic form '\\# <length> <hex>' (RFC 3597)";
                return false;
        }
        if (expected >= 0 && tokens.Count != expected)
        {
            errorToken = Math.Min(tokens.Count, expected);
            error = tokens.Count < expected
                ? $"{DnsType.ToName(type)} needs {expected} field(s), found {tokens.Count}"
                : $"unexpected '{tokens[expected].Text}' after the {expected} field(s) of {DnsType.ToName(type)}";
            return false;
        }
        if (output.Count > ushort.MaxValue)
        {
            error = "RDATA longer than 65535 octets";
            return false;
        }
        rdata = [.. output];
        return true;
    }

    /// <summary>TXT RDATA holding <paramref name="text"/> (UTF-8) in as many 255-octet character-strings as it needs.</summary>
    public static byte[] TextToCharacterStrings(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var output = new List<byte>(bytes.Length + 2);
        var at = 0;
        do
        {
            var n = Math.Min(255, bytes.Length - at);
            output.Add((byte)n);
            output.AddRange(bytes.AsSpan(at, n));
            at += n;
        }
        while (at < bytes.Length);
        return [.. output];
    }

    /// <summary>What valid RDATA of a type looks like, for error messages.</summary>
    public static string Layout(ushort type) => type switch
    {
        DnsType.A => "4 octets",
        DnsType.AAAA => "16 octets",
        DnsType.NS or DnsType.CNAME or DnsType.PTR => "one uncompressed domain name",
        DnsType.MX => "a 16-bit preference and an uncompressed domain name",
        DnsType.SRV => "16-bit priority, weight and port and an uncompressed domain name",
        DnsType.SOA => "two uncompressed domain names and five 32-bit numbers",
        DnsType.TXT => "one or more length-prefixed character-strings",
        DnsType.CAA => "a flags octet, a tag length of at least 1, the tag and the value",
        _ => RecordTypes.Find(type) is { Fields.Length: > 0 } layout ? string.Join(", ", Array.ConvertAll(layout.Fields, f => f.ToString())) : "any octets",
    };

    private static bool IsAlphanumeric(string s)
    {
        foreach (var c in s)
        {
            if (!char.IsAsciiLetterOrDigit(c))
            {
                return false;
            }
        }
        return true;
    }

    private static bool TryParseGeneric(IReadOnlyList<ZoneToken> tokens, out byte[] rdata, out string error, out int errorToken)
    {
        rdata = [];
        errorToken = 1;
        if (tokens.Count < 2 || !DnsNumber.TryParse(tokens[1].Text, out int length) || length > ushort.MaxValue)
        {
            error = "'\\#' must be followed by the RDATA length in decimal";
            return false;
        }
        var hex = new StringBuilder();
        for (var i = 2; i < tokens.Count; i++)
        {
            hex.Append(tokens[i].Text);
        }
        if (hex.Length % 2 != 0)
        {
            error = "odd number of hex digits in generic RDATA";
            errorToken = tokens.Count - 1;
            return false;
        }
        byte[] bytes;
        try
        {
            bytes = Convert.FromHexString(hex.ToString());
        }
        catch (FormatException)
        {
            error = "generic RDATA is not hexadecimal";
            errorToken = 2;
            return false;
        }
        if (bytes.Length != length)
        {
            error = $"generic RDATA declares {length} octet(s) but has {bytes.Length}";
            errorToken = 1;
            return false;
        }
        error = "";
        rdata = bytes;
        return true;
    }

    private static bool TryParseIPv4(string text, List<byte> output)
    {
        var parts = DnsText.Split(text, '.');
        if (parts.Length != 4)
        {
            return false;
        }
        Span<byte> b = stackalloc byte[4];
        for (var i = 0; i < 4; i++)
        {
            if (parts[i].Length is 0 or > 3 || !DnsNumber.TryParse(parts[i], out b[i]))
            {
                return false;
            }
        }
        foreach (var x in b)
        {
            output.Add(x);
        }
        return true;
    }

    internal static bool TryAddName(ZoneToken token, DnsName origin, List<byte> output, out string error)
    {
        if (token.Text.StartsWith('$'))
        {
            // An unescaped '$' starts a directive, never a name (write '\$' for a label that starts with one).
            error = $"'{token.Text}' is not a domain name: '$' must be escaped";
            return false;
        }
        if (!DnsName.TryParse(token.Text, origin, out var name, out error))
        {
            return false;
        }
        output.AddRange(name.Wire);
        return true;
    }

    private static bool AddU16(ZoneToken token, List<byte> output, string what, out string error)
    {
        if (!DnsNumber.TryParse(token.Text, out ushort value))
        {
            error = $"{what} '{token.Text}' is not a number 0-65535";
            return false;
        }
        output.Add((byte)(value >> 8));
        output.Add((byte)value);
        error = "";
        return true;
    }

    internal static void AddU32(List<byte> output, uint value)
    {
        output.Add((byte)(value >> 24));
        output.Add((byte)(value >> 16));
        output.Add((byte)(value >> 8));
        output.Add((byte)value);
    }

    internal static bool TryAddCharacterString(ZoneToken token, List<byte> output, out string error)
    {
        var at = output.Count;
        output.Add(0);
        if (!TryUnescapeText(token.Text, output, out error))
        {
            return false;
        }
        var length = output.Count - at - 1;
        if (length > 255)
        {
            error = $"character-string of {length} octets is longer than 255";
            return false;
        }
        output[at] = (byte)length;
        return true;
    }

    internal static bool TryUnescapeText(string text, List<byte> output, out string error)
    {
        error = "";
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\\')
            {
                if (!DnsName.TryParseEscape(text, ref i, out var value, out error))
                {
                    return false;
                }
                output.Add((byte)value);
            }
            else if (c > 0x7F)
            {
                foreach (var b in Encoding.UTF8.GetBytes(c.ToString()))
                {
                    output.Add(b);
                }
            }
            else
            {
                output.Add((byte)c);
            }
        }
        return true;
    }

    /// <summary>TTL-style number: decimal seconds, or BIND durations like <c>1h30m</c> (s, m, h, d, w).</summary>
    public static bool TryParseTtl(ReadOnlySpan<char> text, out uint value)
    {
        value = 0;
        if (text.Length == 0)
        {
            return false;
        }
        ulong total = 0;
        ulong current = 0;
        var digits = 0;
        var units = false;
        foreach (var c in text)
        {
            if (char.IsAsciiDigit(c))
            {
                current = (current * 10) + (ulong)(c - '0');
                digits++;
                if (current > uint.MaxValue)
                {
                    return false;
                }
                continue;
            }
            ulong factor = char.ToLowerInvariant(c) switch
            {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                'w' => 604800,
                _ => 0,
            };
            if (factor == 0 || digits == 0)
            {
                return false;
            }
            total += current * factor;
            current = 0;
            digits = 0;
            units = true;
        }
        if (digits > 0)
        {
            total += current;
        }
        else if (!units)
        {
            return false;
        }
        if (total > uint.MaxValue)
        {
            return false;
        }
        value = (uint)total;
        return true;
    }

    /// <summary>True when <paramref name="rdata"/> is well-formed for <paramref name="type"/> (names uncompressed).</summary>
    public static bool IsValid(ushort type, ReadOnlySpan<byte> rdata)
    {
        switch (type)
        {
            case DnsType.A:
                return rdata.Length == 4;
            case DnsType.AAAA:
                return rdata.Length == 16;
            case DnsType.NS:
            case DnsType.CNAME:
            case DnsType.PTR:
                return DnsName.IsValidWire(rdata, out var n) && n == rdata.Length;
            case DnsType.MX:
                return rdata.Length > 2 && DnsName.IsValidWire(rdata[2..], out n) && n == rdata.Length - 2;
            case DnsType.SRV:
                return rdata.Length > 6 && DnsName.IsValidWire(rdata[6..], out n) && n == rdata.Length - 6;
            case DnsType.SOA:
                if (!DnsName.IsValidWire(rdata, out var m) || !DnsName.IsValidWire(rdata[m..], out var r))
                {
                    return false;
                }
                return rdata.Length == m + r + 20;
            case DnsType.TXT:
                if (rdata.Length == 0)
                {
                    return false;
                }
                for (var i = 0; i < rdata.Length; i += rdata[i] + 1)
                {
                    if (i + rdata[i] + 1 > rdata.Length)
                    {
                        return false;
                    }
                }
                return true;
            case DnsType.CAA:
                return rdata.Length >= 2 && rdata[1] >= 1 && 2 + rdata[1] <= rdata.Length;
            default:
                return RecordTypes.Find(type) is not { Fields.Length: > 0 } layout || RecordTypes.IsValid(layout, rdata);
        }
    }

    /// <summary>Presentation format of well-formed RDATA (as <c>dig</c> prints it); generic form for unknown types.</summary>
    public static string ToText(ushort type, ReadOnlySpan<byte> rdata)
    {
        if (!IsValid(type, rdata))
        {
            return Generic(rdata);
        }
        var inv = CultureInfo.InvariantCulture;
        switch (type)
        {
            case DnsType.A:
                return new IPAddress(rdata).ToString();
            case DnsType.AAAA:
                return new IPAddress(rdata).ToString();
            case DnsType.NS:
            case DnsType.CNAME:
            case DnsType.PTR:
                return DnsName.WireToString(rdata);
            case DnsType.MX:
                return BinaryPrimitives.ReadUInt16BigEndian(rdata).ToString(inv) + " " + DnsName.WireToString(rdata[2..]);
            case DnsType.SRV:
                return string.Join(' ',
                    BinaryPrimitives.ReadUInt16BigEndian(rdata).ToString(inv),
                    BinaryPrimitives.ReadUInt16BigEndian(rdata[2..]).ToString(inv),
                    BinaryPrimitives.ReadUInt16BigEndian(rdata[4..]).ToString(inv),
                    DnsName.WireToString(rdata[6..]));
            case DnsType.SOA:
                DnsName.IsValidWire(rdata, out var m);
                DnsName.IsValidWire(rdata[m..], out var r);
                var tail = rdata[(m + r)..];
                return string.Join(' ',
                    DnsName.WireToString(rdata[..m]),
                    DnsName.WireToString(rdata.Slice(m, r)),
                    BinaryPrimitives.ReadUInt32BigEndian(tail).ToString(inv),
                    BinaryPrimitives.ReadUInt32BigEndian(tail[4..]).ToString(inv),
                    BinaryPrimitives.ReadUInt32BigEndian(tail[8..]).ToString(inv),
                    BinaryPrimitives.ReadUInt32BigEndian(tail[12..]).ToString(inv),
                    BinaryPrimitives.ReadUInt32BigEndian(tail[16..]).ToString(inv));
            case DnsType.TXT:
                var sb = new StringBuilder();
                for (var i = 0; i < rdata.Length; i += rdata[i] + 1)
                {
                    if (i > 0)
                    {
                        sb.Append(' ');
                    }
                    sb.Append('"');
                    DnsName.AppendEscaped(sb, rdata.Slice(i + 1, rdata[i]), inQuotes: true);
                    sb.Append('"');
                }
                return sb.ToString();
            case DnsType.CAA:
                var caa = new StringBuilder();
                caa.Append(rdata[0].ToString(inv)).Append(' ');
                caa.Append(Encoding.ASCII.GetString(rdata.Slice(2, rdata[1]))).Append(" \"");
                DnsName.AppendEscaped(caa, rdata[(2 + rdata[1])..], inQuotes: true);
                caa.Append('"');
                return caa.ToString();
            default:
                return RecordTypes.Find(type) is { Fields.Length: > 0 } layout ? RecordTypes.ToText(layout, rdata) : Generic(rdata);
        }
    }

    private static string Generic(ReadOnlySpan<byte> rdata) =>
        rdata.Length == 0 ? "\\# 0" : "\\# " + rdata.Length.ToString(CultureInfo.InvariantCulture) + " " + Convert.ToHexString(rdata);
}
