using System;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Unikernel.Protocols.Dns;

/// <summary>
/// A domain name held in uncompressed wire form (case preserved) together with its lookup key: the wire bytes
/// lower-cased (ASCII only, RFC 4343) and widened to chars, so that the key of an ancestor is a suffix of the key and
/// lookups can use a stack-allocated span without allocating.
/// </summary>
public sealed class DnsName : IEquatable<DnsName>
{
    public const int MaxLength = 255;
    public const int MaxLabelLength = 63;

    public static readonly DnsName Root = new([0]);

    private readonly byte[] _wire;

    private DnsName(byte[] wire)
    {
        _wire = wire;
        Key = MakeKey(wire);
    }

    /// <summary>Uncompressed wire form, ending with the root label.</summary>
    public ReadOnlySpan<byte> Wire => _wire;

    /// <summary>Lower-cased wire bytes as chars: equal keys ⇔ equal names (case-insensitively).</summary>
    public string Key { get; }

    public int LabelCount
    {
        get
        {
            var count = 0;
            for (var i = 0; _wire[i] != 0; i += _wire[i] + 1)
            {
                count++;
            }
            return count;
        }
    }

    public bool IsRoot => _wire.Length == 1;

    public DnsName Parent => IsRoot ? this : new DnsName(_wire.AsSpan(_wire[0] + 1).ToArray()); // not _wire[a..]: GetSubArray pulls the runtime type loader into the image

    /// <summary>Builds a name from uncompressed wire bytes; validates label and name lengths.</summary>
    public static bool TryFromWire(ReadOnlySpan<byte> wire, [NotNullWhen(true)] out DnsName? name)
    {
        name = null;
        if (!IsValidWire(wire, out var length) || length != wire.Length)
        {
            return false;
        }
        name = new DnsName(wire.ToArray());
        return true;
    }

    /// <summary>True when <paramref name="wire"/> starts with a well-formed uncompressed name; <paramref name="length"/> is its length.</summary>
    public static bool IsValidWire(ReadOnlySpan<byte> wire, out int length)
    {
        var i = 0;
        while (true)
        {
            if (i >= wire.Length || i >= MaxLength)
            {
                length = 0;
                return false;
            }
            int label = wire[i];
            if (label == 0)
            {
                length = i + 1;
                return true;
            }
            if (label > MaxLabelLength)
            {
                length = 0;
                return false;
            }
            i += label + 1;
        }
    }

    public bool IsSubdomainOf(DnsName ancestor) => IsSubdomainKey(Key, ancestor.Key);

    /// <summary>True when the name with key <paramref name="key"/> equals or is below the one with <paramref name="ancestor"/>.</summary>
    public static bool IsSubdomainKey(ReadOnlySpan<char> key, ReadOnlySpan<char> ancestor)
    {
        if (ancestor.Length > key.Length || !key.EndsWith(ancestor))
        {
            return false;
        }
        // The suffix must start at a label boundary.
        var start = key.Length - ancestor.Length;
        for (var i = 0; i < key.Length; i += key[i] + 1)
        {
            if (i == start)
            {
                return true;
            }
            if (i > start)
            {
                return false;
            }
        }
        return false;
    }

    /// <summary>Canonical DNS name order (RFC 4034 section 6.1) of two lookup keys: labels compared from the right.</summary>
    public static int CompareCanonical(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        Span<int> startsA = stackalloc int[128];
        Span<int> startsB = stackalloc int[128];
        var na = Starts(a, startsA);
        var nb = Starts(b, startsB);
        for (int i = na - 1, j = nb - 1; i >= 0 && j >= 0; i--, j--)
        {
            var la = a.Slice(startsA[i] + 1, a[startsA[i]]);
            var lb = b.Slice(startsB[j] + 1, b[startsB[j]]);
            var c = la.SequenceCompareTo(lb);
            if (c != 0)
            {
                return c;
            }
        }
        return na.CompareTo(nb);
    }

    private static int Starts(ReadOnlySpan<char> key, Span<int> starts)
    {
        var n = 0;
        for (var i = 0; i < key.Length && key[i] != 0 && n < starts.Length; i += key[i] + 1)
        {
            starts[n++] = i;
        }
        return n;
    }

    public static string MakeKey(ReadOnlySpan<byte> wire)
    {
        Span<char> chars = stackalloc char[MaxLength];
        var n = WriteKey(wire, chars);
        return new string(chars[..n]);
    }

    /// <summary>Writes the lookup key of an uncompressed wire name; returns its length (= the wire length).</summary>
    public static int WriteKey(ReadOnlySpan<byte> wire, Span<char> destination)
    {
        for (var i = 0; i < wire.Length; i++)
        {
            var b = wire[i];
            destination[i] = (char)(b is >= (byte)'A' and <= (byte)'Z' ? b + 32 : b);
        }
        return wire.Length;
    }

    /// <summary>
    /// Reads a possibly compressed name at <paramref name="offset"/> of <paramref name="message"/> into
    /// <paramref name="destination"/> (at least 255 bytes) in uncompressed form. Rejects out-of-bounds and forward
    /// or self-referencing pointers (so loops are impossible), reserved label types, labels over 63 and names over
    /// 255 octets. <paramref name="end"/> is the offset just after the name in the message.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> message, int offset, Span<byte> destination, out int length, out int end)
    {
        length = 0;
        end = -1;
        var position = offset;
        var limit = offset; // pointers must point strictly before the earliest position seen so far
        var written = 0;
        while (true)
        {
            if ((uint)position >= (uint)message.Length)
            {
                return false;
            }
            int label = message[position];
            if (label == 0)
            {
                if (written + 1 > MaxLength)
                {
                    return false;
                }
                destination[written++] = 0;
                if (end < 0)
                {
                    end = position + 1;
                }
                length = written;
                return true;
            }
            switch (label & 0xC0)
            {
                case 0xC0:
                    if (position + 1 >= message.Length)
                    {
                        return false;
                    }
                    var target = ((label & 0x3F) << 8) | message[position + 1];
                    if (end < 0)
                    {
                        end = position + 2;
                    }
                    if (target >= limit)
                    {
                        return false;
                    }
                    limit = target;
                    position = target;
                    continue;
                case 0x00:
                    if (position + 1 + label > message.Length || written + label + 1 > MaxLength - 1)
                    {
                        return false;
                    }
                    destination[written] = (byte)label;
                    message.Slice(position + 1, label).CopyTo(destination[(written + 1)..]);
                    written += label + 1;
                    position += label + 1;
                    continue;
                default:
                    return false; // 01 and 10: extended/reserved label types
            }
        }
    }

    /// <summary>Parses presentation format relative to <paramref name="origin"/> (null: must be absolute).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, DnsName? origin, [NotNullWhen(true)] out DnsName? name, out string error)
    {
        name = null;
        error = "";
        if (text.Length == 0)
        {
            error = "empty name";
            return false;
        }
        if (text is "@")
        {
            if (origin is null)
            {
                error = "'@' used but no origin is known";
                return false;
            }
            name = origin;
            return true;
        }
        if (text is ".")
        {
            name = Root;
            return true;
        }
        Span<byte> wire = stackalloc byte[MaxLength + 64];
        var written = 0;
        var labelStart = 0;
        var labelLength = 0;
        var absolute = false;
        wire[0] = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            int value;
            if (c == '.')
            {
                if (labelLength == 0)
                {
                    error = $"empty label in name '{text}'";
                    return false;
                }
                wire[labelStart] = (byte)labelLength;
                written = labelStart + 1 + labelLength;
                labelStart = written;
                labelLength = 0;
                if (i == text.Length - 1)
                {
                    absolute = true;
                }
                continue;
            }
            if (c == '\\')
            {
                if (!TryParseEscape(text, ref i, out value, out error))
                {
                    return false;
                }
            }
            else if (c > 0xFF)
            {
                error = $"non-ASCII character in name '{text}'";
                return false;
            }
            else
            {
                value = c;
            }
            if (labelLength == MaxLabelLength)
            {
                error = $"label longer than 63 octets in name '{text}'";
                return false;
            }
            if (labelStart + 1 + labelLength >= MaxLength)
            {
                error = $"name '{text}' longer than 255 octets";
                return false;
            }
            wire[labelStart + 1 + labelLength] = (byte)value;
            labelLength++;
        }
        if (labelLength > 0)
        {
            wire[labelStart] = (byte)labelLength;
            written = labelStart + 1 + labelLength;
        }
        if (!absolute)
        {
            if (origin is null)
            {
                error = $"relative name '{text}' but no origin is known";
                return false;
            }
            if (written + origin._wire.Length > MaxLength)
            {
                error = $"name '{text}' longer than 255 octets";
                return false;
            }
            origin._wire.CopyTo(wire[written..]);
            written += origin._wire.Length;
        }
        else
        {
            wire[written++] = 0;
        }
        if (written > MaxLength)
        {
            error = $"name '{text}' longer than 255 octets";
            return false;
        }
        name = new DnsName(wire[..written].ToArray());
        return true;
    }

    /// <summary>Parses <c>\X</c> or <c>\DDD</c> at <paramref name="i"/> (the backslash); leaves i on the last char used.</summary>
    internal static bool TryParseEscape(ReadOnlySpan<char> text, ref int i, out int value, out string error)
    {
        error = "";
        value = 0;
        if (i + 1 >= text.Length)
        {
            error = "backslash at end of text";
            return false;
        }
        var c = text[i + 1];
        if (char.IsAsciiDigit(c))
        {
            if (i + 3 >= text.Length || !char.IsAsciiDigit(text[i + 2]) || !char.IsAsciiDigit(text[i + 3]))
            {
                error = "\\DDD escape needs three decimal digits";
                return false;
            }
            value = ((c - '0') * 100) + ((text[i + 2] - '0') * 10) + (text[i + 3] - '0');
            if (value > 255)
            {
                error = $"\\DDD escape value {value} is over 255";
                return false;
            }
            i += 3;
            return true;
        }
        if (c > 0xFF)
        {
            error = "non-ASCII character after backslash";
            return false;
        }
        value = c;
        i += 1;
        return true;
    }

    public override string ToString() => WireToString(_wire);

    /// <summary>Presentation format of an uncompressed wire name (absolute, with the trailing dot).</summary>
    public static string WireToString(ReadOnlySpan<byte> wire)
    {
        if (wire.Length <= 1)
        {
            return ".";
        }
        var sb = new StringBuilder(wire.Length + 8);
        for (var i = 0; i < wire.Length && wire[i] != 0; i += wire[i] + 1)
        {
            AppendEscaped(sb, wire.Slice(i + 1, wire[i]), inQuotes: false);
            sb.Append('.');
        }
        return sb.ToString();
    }

    internal static void AppendEscaped(StringBuilder sb, ReadOnlySpan<byte> bytes, bool inQuotes)
    {
        foreach (var b in bytes)
        {
            if (b is < 0x21 or > 0x7E)
            {
                if (b == (byte)' ' && inQuotes)
                {
                    sb.Append(' ');
                    continue;
                }
                sb.Append('\\').Append((b / 100).ToString(System.Globalization.CultureInfo.InvariantCulture))
                    .Append((b / 10 % 10).ToString(System.Globalization.CultureInfo.InvariantCulture))
                    .Append((b % 10).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            else if (inQuotes ? b is (byte)'"' or (byte)'\\' : b is (byte)'.' or (byte)'\\' or (byte)'"' or (byte)';' or (byte)'(' or (byte)')' or (byte)'@' or (byte)'$')
            {
                sb.Append('\\').Append((char)b);
            }
            else
            {
                sb.Append((char)b);
            }
        }
    }

    public bool Equals(DnsName? other) => other is not null && other.Key == Key;

    public override bool Equals(object? obj) => obj is DnsName other && Equals(other);

    // string.GetHashCode() is the ordinal hash; the overload taking a StringComparison also holds the culture-aware and
    // ignore-case hashes (about 1.5 KB of the image).
    public override int GetHashCode() => Key.GetHashCode();
}
