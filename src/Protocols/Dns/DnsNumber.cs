using System;

namespace Unikernel.Protocols.Dns;

/// <summary>
/// Unsigned numbers as zone files write them: decimal digits only (what <c>TryParse</c> with
/// <c>NumberStyles.None</c> accepts: no sign, no white space, leading zeros allowed) and hex digits only
/// (<c>NumberStyles.AllowHexSpecifier</c>). One routine for every width rather than <c>byte</c>/<c>ushort</c>/<c>uint</c>/
/// <c>ulong.TryParse</c>: NativeAOT compiles the BCL's generic integer parser once per integer type and style (about
/// 1 KB each), and a zone reader used six of them.
/// </summary>
public static class DnsNumber
{
    /// <summary>Decimal digits with a value of at most <paramref name="max"/>.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, ulong max, out ulong value)
    {
        value = 0;
        if (text.IsEmpty)
        {
            return false;
        }
        foreach (var c in text)
        {
            var digit = (uint)(c - '0');
            if (digit > 9 || value > (max - digit) / 10)
            {
                value = 0;
                return false;
            }
            value = value * 10 + digit;
        }
        return true;
    }

    public static bool TryParse(ReadOnlySpan<char> text, out byte value)
    {
        var ok = TryParse(text, byte.MaxValue, out var v);
        value = (byte)v;
        return ok;
    }

    public static bool TryParse(ReadOnlySpan<char> text, out ushort value)
    {
        var ok = TryParse(text, ushort.MaxValue, out var v);
        value = (ushort)v;
        return ok;
    }

    public static bool TryParse(ReadOnlySpan<char> text, out uint value)
    {
        var ok = TryParse(text, uint.MaxValue, out var v);
        value = (uint)v;
        return ok;
    }

    public static bool TryParse(ReadOnlySpan<char> text, out int value)
    {
        var ok = TryParse(text, int.MaxValue, out var v);
        value = (int)v;
        return ok;
    }

    /// <summary>Hex digits (either case, no "0x") with a value of at most <paramref name="max"/>.</summary>
    public static bool TryParseHex(ReadOnlySpan<char> text, ulong max, out ulong value)
    {
        value = 0;
        if (text.IsEmpty)
        {
            return false;
        }
        foreach (var c in text)
        {
            var digit = (uint)HexDigit(c);
            if (digit > 15 || value > (max - digit) / 16)
            {
                value = 0;
                return false;
            }
            value = value * 16 + digit;
        }
        return true;
    }

    private static int HexDigit(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => 16,
    };
}
