using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Net;
using System.Text;

namespace Unikernel.Protocols.Dns;

/// <summary>
/// Presentation format of LOC (RFC 1876) and of the SvcParams of SVCB/HTTPS (RFC 9460), the two layouts that do not
/// fit the field table of <see cref="RecordTypes"/> (it delegates its <c>Field.Loc</c> and <c>Field.SvcParams</c> here).
/// </summary>
internal static class LocSvcb
{
    // ---- LOC ----

    private const long Equator = 1L << 31;
    private const long AltitudeBase = 10_000_000; // 100 000 m below the WGS 84 spheroid, in cm

    /// <summary>d [m [s]] N|S d [m [s]] E|W alt[m] [size[m] [hp[m] [vp[m]]]].</summary>
    public static bool TryParseLoc(List<ZoneToken> tokens, List<byte> output, out string error, out int bad)
    {
        error = "";
        bad = 0;
        var t = 0;
        if (!TryCoordinate(tokens, ref t, 'N', 'S', 90, out var latitude, out error) || !TryCoordinate(tokens, ref t, 'E', 'W', 180, out var longitude, out error))
        {
            bad = Math.Min(t, tokens.Count);
            return false;
        }
        if (t >= tokens.Count || !TryMeters(tokens[t].Text, -10_000_000, 4_284_967_295, out var altitude))
        {
            error = t >= tokens.Count ? "LOC needs an altitude" : $"'{tokens[t].Text}' is not an altitude in meters (-100000.00 to 42849672.95)";
            bad = t;
            return false;
        }
        t++;
        Span<byte> precision = [0x12, 0x16, 0x13]; // defaults: size 1 m, horizontal 10 000 m, vertical 10 m
        for (var i = 0; i < 3 && t < tokens.Count; i++, t++)
        {
            if (!TryMeters(tokens[t].Text, 0, 9_000_000_000, out var centimeters))
            {
                error = $"'{tokens[t].Text}' is not a size in meters (0 to 90000000.00)";
                bad = t;
                return false;
            }
            precision[i] = PrecisionByte(centimeters);
        }
        if (t < tokens.Count)
        {
            error = $"unexpected '{tokens[t].Text}' after the fields of LOC";
            bad = t;
            return false;
        }
        output.Add(0); // version
        output.Add(precision[0]);
        output.Add(precision[1]);
        output.Add(precision[2]);
        AddU32(output, (uint)latitude);
        AddU32(output, (uint)longitude);
        AddU32(output, (uint)(altitude + AltitudeBase));
        return true;
    }

    private static bool TryCoordinate(List<ZoneToken> tokens, ref int t, char positive, char negative, int maxDegrees, out long value, out string error)
    {
        value = 0;
        var what = positive == 'N' ? "latitude" : "longitude";
        var parts = new List<string>();
        while (t < tokens.Count && parts.Count < 4)
        {
            var text = tokens[t].Text;
            t++;
            if (text.Length == 1 && (char.ToUpperInvariant(text[0]) == positive || char.ToUpperInvariant(text[0]) == negative))
            {
                if (parts.Count == 0)
                {
                    break;
                }
                if (!DnsNumber.TryParse(parts[0], out int degrees) || degrees > maxDegrees)
                {
                    error = $"LOC {what}: '{parts[0]}' is not degrees (0 to {maxDegrees.ToString(CultureInfo.InvariantCulture)})";
                    return false;
                }
                var minutes = 0;
                if (parts.Count > 1 && (!DnsNumber.TryParse(parts[1], out minutes) || minutes > 59))
                {
                    error = $"LOC {what}: '{parts[1]}' is not minutes (0 to 59)";
                    return false;
                }
                var milliseconds = 0L;
                if (parts.Count > 2)
                {
                    if (!TryFixedPoint(parts[2], 3, signed: false, out milliseconds) || milliseconds >= 60_000)
                    {
                        error = $"LOC {what}: '{parts[2]}' is not seconds (0 to 59.999)";
                        return false;
                    }
                }
                if (parts.Count > 3)
                {
                    break;
                }
                var offset = ((long)degrees * 3600 + minutes * 60) * 1000 + milliseconds;
                if (offset > (long)maxDegrees * 3_600_000)
                {
                    error = $"LOC {what} is beyond {maxDegrees.ToString(CultureInfo.InvariantCulture)} degrees";
                    return false;
                }
                value = char.ToUpperInvariant(text[0]) == positive ? Equator + offset : Equator - offset;
                error = "";
                return true;
            }
            parts.Add(text);
        }
        error = $"LOC needs its {what}: degrees [minutes [seconds]] {positive}|{negative}";
        return false;
    }

    /// <summary>"12.34m" or "12.34" in meters, to centimeters (from <paramref name="min"/> to <paramref name="max"/>).</summary>
    private static bool TryMeters(string text, long min, long max, out long centimeters)
    {
        var number = text.EndsWith('m') || text.EndsWith('M') ? text.AsSpan(0, text.Length - 1) : text;
        return TryFixedPoint(number, 2, signed: true, out centimeters) && centimeters >= min && centimeters <= max;
    }

    /// <summary>
    /// A decimal number ("12", "-0.5", ".25", "3.") with at most <paramref name="places"/> places after the point that
    /// are not zero, as an integer in units of 10^-places: what decimal.TryParse (AllowDecimalPoint, AllowLeadingSign
    /// when <paramref name="signed"/>) and a decimal.Round(x, places) == x check accepted. Integer arithmetic because
    /// decimal's parsing and arithmetic are about 10 KB of the image, for LOC alone. More than 15 integer digits are
    /// refused: far beyond any LOC field.
    /// </summary>
    private static bool TryFixedPoint(ReadOnlySpan<char> text, int places, bool signed, out long value)
    {
        value = 0;
        var negative = false;
        if (signed && !text.IsEmpty && text[0] is '-' or '+')
        {
            negative = text[0] == '-';
            text = text[1..];
        }
        var point = text.IndexOf('.');
        var whole = point < 0 ? text : text[..point];
        var fraction = point < 0 ? ReadOnlySpan<char>.Empty : text[(point + 1)..];
        if (whole.IsEmpty && fraction.IsEmpty)
        {
            return false;
        }
        whole = whole.TrimStart('0');
        if (whole.Length > 15)
        {
            return false;
        }
        foreach (var c in whole)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
            value = value * 10 + (c - '0');
        }
        for (var i = 0; i < fraction.Length || i < places; i++)
        {
            var c = i < fraction.Length ? fraction[i] : '0';
            if (!char.IsAsciiDigit(c) || (i >= places && c != '0'))
            {
                return false;
            }
            if (i < places)
            {
                value = value * 10 + (c - '0');
            }
        }
        if (negative)
        {
            value = -value;
        }
        return true;
    }

    /// <summary>RFC 1876: a size in centimeters as mantissa (high nibble) and power of ten (low nibble).</summary>
    private static byte PrecisionByte(long centimeters)
    {
        var exponent = 0;
        while (exponent < 9 && centimeters >= Pow10(exponent + 1))
        {
            exponent++;
        }
        var mantissa = centimeters / Pow10(exponent);
        return (byte)((mantissa << 4) | (uint)exponent);
    }

    private static long Pow10(int e)
    {
        var v = 1L;
        for (var i = 0; i < e; i++)
        {
            v *= 10;
        }
        return v;
    }

    public static bool WalkLoc(ReadOnlySpan<byte> rdata, List<string>? text)
    {
        if (rdata.Length != 16 || rdata[0] != 0)
        {
            return false;
        }
        for (var i = 1; i < 4; i++)
        {
            if (rdata[i] >> 4 > 9 || (rdata[i] & 0xF) > 9)
            {
                return false;
            }
        }
        if (text is null)
        {
            return true;
        }
        var inv = CultureInfo.InvariantCulture;
        string Coordinate(uint raw, char positive, char negative)
        {
            var offset = (long)raw - Equator;
            var hemisphere = offset >= 0 ? positive : negative;
            offset = Math.Abs(offset);
            var degrees = offset / 3_600_000;
            var minutes = offset / 60_000 % 60;
            var seconds = offset / 1000 % 60;
            var fraction = offset % 1000;
            return string.Create(inv, $"{degrees} {minutes} {seconds}.{fraction:D3} {hemisphere}");
        }
        // What decimal's ToString("0.00") wrote, without decimal: the altitude may be negative.
        static string Meters(long centimeters) =>
            string.Create(CultureInfo.InvariantCulture, $"{(centimeters < 0 ? "-" : "")}{Math.Abs(centimeters) / 100}.{Math.Abs(centimeters) % 100:D2}m");
        static long Size(byte b) => (b >> 4) * Pow10(b & 0xF);
        text.Add(Coordinate(BinaryPrimitives.ReadUInt32BigEndian(rdata[4..]), 'N', 'S'));
        text.Add(Coordinate(BinaryPrimitives.ReadUInt32BigEndian(rdata[8..]), 'E', 'W'));
        text.Add(Meters(BinaryPrimitives.ReadUInt32BigEndian(rdata[12..]) - AltitudeBase));
        text.Add(Meters(Size(rdata[1])));
        text.Add(Meters(Size(rdata[2])));
        text.Add(Meters(Size(rdata[3])));
        return true;
    }

    // ---- SVCB / HTTPS SvcParams ----

    private static readonly string[] s_keyNames = ["mandatory", "alpn", "no-default-alpn", "port", "ipv4hint", "ech", "ipv6hint"];

    private static bool TryKey(ReadOnlySpan<char> text, out ushort key)
    {
        for (var i = 0; i < s_keyNames.Length; i++)
        {
            if (text.Equals(s_keyNames[i], StringComparison.OrdinalIgnoreCase))
            {
                key = (ushort)i;
                return true;
            }
        }
        key = 0;
        return text.Length > 3 && text.StartsWith("key", StringComparison.OrdinalIgnoreCase)
            && DnsNumber.TryParse(text[3..], out key) && key != 65535;
    }

    private static string KeyName(ushort key) => key < s_keyNames.Length ? s_keyNames[key] : "key" + key.ToString(CultureInfo.InvariantCulture);

    /// <summary>SvcParams: key[=value] ... in any order (written sorted by key, RFC 9460 2.2); a value may be quoted.</summary>
    public static bool TryParseSvcParams(List<ZoneToken> tokens, List<byte> output, out string error, out int bad)
    {
        error = "";
        bad = 0;
        // Two lists in key order, not a SortedDictionary<ushort, byte[]>: NativeAOT compiles a sorted collection over a
        // value type into the image as its own code (about 6 KB with the SortedSet below); a record has a few keys.
        var keys = new List<ushort>();
        var wires = new List<byte[]>();
        for (var t = 0; t < tokens.Count; t++)
        {
            bad = t;
            var token = tokens[t].Text;
            string? value = null;
            var eq = tokens[t].Quoted ? -1 : token.IndexOf('=');
            var keyText = eq < 0 ? token : token[..eq];
            if (eq >= 0)
            {
                value = token[(eq + 1)..];
                if (value.Length == 0 && t + 1 < tokens.Count && tokens[t + 1].Quoted)
                {
                    value = tokens[++t].Text; // key="quoted value"
                }
            }
            if (!TryKey(keyText, out var key))
            {
                error = $"'{keyText}' is not an SvcParam key (mandatory, alpn, no-default-alpn, port, ipv4hint, ech, ipv6hint or keyNNNNN)";
                return false;
            }
            var at = keys.BinarySearch(key);
            if (at >= 0)
            {
                error = $"SvcParam {KeyName(key)} given twice";
                return false;
            }
            if (!TryParseValue(key, value, out var wire, out error))
            {
                return false;
            }
            keys.Insert(~at, key);
            wires.Insert(~at, wire);
        }
        if (keys.Count > 0 && keys[0] == 0)
        {
            var mandatory = wires[0];
            for (var i = 0; i < mandatory.Length; i += 2)
            {
                var k = BinaryPrimitives.ReadUInt16BigEndian(mandatory.AsSpan(i));
                if (k == 0 || keys.BinarySearch(k) < 0)
                {
                    error = $"mandatory lists {KeyName(k)}, which is " + (k == 0 ? "mandatory itself" : "not given");
                    return false;
                }
            }
        }
        for (var i = 0; i < keys.Count; i++)
        {
            AddU16(output, keys[i]);
            AddU16(output, (ushort)wires[i].Length);
            output.AddRange(wires[i]);
        }
        return true;
    }

    private static bool TryParseValue(ushort key, string? value, out byte[] wire, out string error)
    {
        wire = [];
        error = "";
        var name = KeyName(key);
        if (key == 2)
        {
            if (value is not null)
            {
                error = "no-default-alpn takes no value";
                return false;
            }
            return true;
        }
        if (value is null && key >= 7)
        {
            return true; // keyNNNNN with no value: empty
        }
        if (value is null || (value.Length == 0 && key < 7))
        {
            error = $"SvcParam {name} needs a value";
            return false;
        }
        var bytes = new List<byte>();
        switch (key)
        {
            case 0:
                var keys = new List<ushort>(); // sorted below (see TryParseSvcParams on sorted collections)
                foreach (var item in SplitList(value))
                {
                    if (!TryKey(Octets(item), out var k) || keys.Contains(k))
                    {
                        error = $"mandatory: '{Octets(item)}' is not a key, or is listed twice";
                        return false;
                    }
                    keys.Add(k);
                }
                keys.Sort();
                foreach (var k in keys)
                {
                    AddU16(bytes, k);
                }
                break;
            case 1:
                foreach (var item in SplitList(value))
                {
                    if (item.Length is 0 or > 255)
                    {
                        error = "alpn: every protocol identifier must have 1 to 255 octets";
                        return false;
                    }
                    bytes.Add((byte)item.Length);
                    bytes.AddRange(item);
                }
                break;
            case 3:
                if (!DnsNumber.TryParse(value, out ushort port))
                {
                    error = $"port: '{value}' is not a port number";
                    return false;
                }
                AddU16(bytes, port);
                break;
            case 4:
            case 6:
                foreach (var item in DnsText.Split(value, ','))
                {
                    if (!IPAddress.TryParse(item, out var address) || address.AddressFamily != (key == 4 ? System.Net.Sockets.AddressFamily.InterNetwork : System.Net.Sockets.AddressFamily.InterNetworkV6)
                        || (key == 4 && DnsText.Split(item, '.').Length != 4))
                    {
                        error = $"{name}: '{item}' is not an IPv{(key == 4 ? "4" : "6")} address";
                        return false;
                    }
                    bytes.AddRange(address.GetAddressBytes());
                }
                break;
            case 5:
                try
                {
                    bytes.AddRange(Convert.FromBase64String(value));
                }
                catch (FormatException)
                {
                    error = "ech: the value is not base64";
                    return false;
                }
                break;
            default:
                if (!TryUnescape(value, bytes))
                {
                    error = $"{name}: bad escape in '{value}'";
                    return false;
                }
                break;
        }
        if (bytes.Count > 65535)
        {
            error = $"SvcParam {name} is too long";
            return false;
        }
        wire = [.. bytes];
        return true;
    }

    /// <summary>
    /// Octets as the characters U+0000 to U+00FF (what Encoding.Latin1.GetString gives, without the Latin-1 encoder and
    /// its vectorised helpers: about 2.5 KB of the image for two key names).
    /// </summary>
    private static string Octets(byte[] octets)
    {
        var chars = new char[octets.Length];
        for (var i = 0; i < octets.Length; i++)
        {
            chars[i] = (char)octets[i];
        }
        return new string(chars);
    }

    /// <summary>A comma-separated value list (RFC 9460 A.1): "\," is a comma inside an item, \DDD an octet.</summary>
    private static List<byte[]> SplitList(string value)
    {
        var items = new List<byte[]>();
        var current = new List<byte>();
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\\' && i + 1 < value.Length)
            {
                if (i + 3 < value.Length && char.IsAsciiDigit(value[i + 1]) && char.IsAsciiDigit(value[i + 2]) && char.IsAsciiDigit(value[i + 3]))
                {
                    current.Add((byte)(((value[i + 1] - '0') * 100) + ((value[i + 2] - '0') * 10) + (value[i + 3] - '0')));
                    i += 3;
                }
                else
                {
                    current.Add((byte)value[++i]);
                }
                continue;
            }
            if (c == ',')
            {
                items.Add([.. current]);
                current.Clear();
                continue;
            }
            current.Add((byte)c);
        }
        items.Add([.. current]);
        return items;
    }

    private static bool TryUnescape(string value, List<byte> bytes)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c != '\\')
            {
                bytes.Add((byte)c);
                continue;
            }
            if (i + 1 >= value.Length)
            {
                return false;
            }
            if (char.IsAsciiDigit(value[i + 1]))
            {
                if (i + 3 >= value.Length || !DnsNumber.TryParse(value.AsSpan(i + 1, 3), out int octet) || octet > 255)
                {
                    return false;
                }
                bytes.Add((byte)octet);
                i += 3;
            }
            else
            {
                bytes.Add((byte)value[++i]);
            }
        }
        return true;
    }

    public static bool WalkSvcParams(ReadOnlySpan<byte> rdata, List<string>? text)
    {
        var at = 0;
        var previous = -1;
        while (at < rdata.Length)
        {
            if (at + 4 > rdata.Length)
            {
                return false;
            }
            var key = BinaryPrimitives.ReadUInt16BigEndian(rdata[at..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(rdata[(at + 2)..]);
            if (key <= previous || key == 65535 || at + 4 + length > rdata.Length)
            {
                return false; // keys strictly increasing (RFC 9460 2.2)
            }
            previous = key;
            var value = rdata.Slice(at + 4, length);
            at += 4 + length;
            if (!TryValueText(key, value, out var shown))
            {
                return false;
            }
            text?.Add(shown is null ? KeyName(key) : KeyName(key) + "=" + shown);
        }
        return true;
    }

    private static bool TryValueText(ushort key, ReadOnlySpan<byte> value, out string? shown)
    {
        shown = null;
        var sb = new StringBuilder();
        switch (key)
        {
            case 0:
                if (value.Length == 0 || value.Length % 2 != 0)
                {
                    return false;
                }
                for (var i = 0; i < value.Length; i += 2)
                {
                    sb.Append(i == 0 ? "" : ",").Append(KeyName(BinaryPrimitives.ReadUInt16BigEndian(value[i..])));
                }
                break;
            case 1:
                if (value.Length == 0)
                {
                    return false;
                }
                sb.Append('"');
                for (var i = 0; i < value.Length;)
                {
                    var n = value[i];
                    if (n == 0 || i + 1 + n > value.Length)
                    {
                        return false;
                    }
                    if (i > 0)
                    {
                        sb.Append(',');
                    }
                    foreach (var b in value.Slice(i + 1, n))
                    {
                        // Inside the list a comma or backslash is "\\," / "\\\\" (escaped once for the list, once for the string).
                        sb.Append(b is (byte)',' or (byte)'\\' ? "\\\\" + (char)b : Escape(b));
                    }
                    i += 1 + n;
                }
                sb.Append('"');
                break;
            case 2:
                return value.Length == 0;
            case 3:
                if (value.Length != 2)
                {
                    return false;
                }
                sb.Append(BinaryPrimitives.ReadUInt16BigEndian(value).ToString(CultureInfo.InvariantCulture));
                break;
            case 4:
            case 6:
                var size = key == 4 ? 4 : 16;
                if (value.Length == 0 || value.Length % size != 0)
                {
                    return false;
                }
                for (var i = 0; i < value.Length; i += size)
                {
                    sb.Append(i == 0 ? "" : ",").Append(new IPAddress(value.Slice(i, size)).ToString());
                }
                break;
            case 5:
                sb.Append(Convert.ToBase64String(value));
                break;
            default:
                if (value.Length == 0)
                {
                    return true; // keyNNNNN with no value
                }
                sb.Append('"');
                foreach (var b in value)
                {
                    sb.Append(Escape(b));
                }
                sb.Append('"');
                break;
        }
        shown = sb.ToString();
        return true;
    }

    private static string Escape(byte b) => b is (byte)'"' or (byte)'\\' ? "\\" + (char)b
        : b is < 0x20 or > 0x7E ? "\\" + b.ToString("D3", CultureInfo.InvariantCulture) : ((char)b).ToString();

    private static void AddU16(List<byte> output, ushort value)
    {
        output.Add((byte)(value >> 8));
        output.Add((byte)value);
    }

    private static void AddU32(List<byte> output, uint value)
    {
        AddU16(output, (ushort)(value >> 16));
        AddU16(output, (ushort)value);
    }
}
