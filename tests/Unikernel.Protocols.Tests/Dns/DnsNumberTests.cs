using System.Globalization;
using Unikernel.Protocols.Dns;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>DnsNumber (the zone reader's one integer parser) against the BCL's TryParse with the styles it replaces.</summary>
public sealed class DnsNumberTests
{
    private static readonly string[] Inputs =
    [
        "", "0", "00", "7", "255", "256", "0255", "00000000000000000000255", "65535", "65536", "4294967295", "4294967296",
        "2147483647", "2147483648", "18446744073709551615", "18446744073709551616", "99999999999999999999", "-1", "+1",
        " 1", "1 ", "1.0", "1e3", "0x10", "ff", "FF", "fF", "1g", "abc", "ABCD", "FFFF", "10000", "0000ffff", "٣",
        "１", "12a", "a12",
    ];

    public static TheoryData<string> Cases() => [.. Inputs];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decimal_parsing_accepts_what_NumberStyles_None_accepts(string text)
    {
        var inv = CultureInfo.InvariantCulture;
        Assert.Equal(byte.TryParse(text, NumberStyles.None, inv, out var b), DnsNumber.TryParse(text, out byte ourB));
        Assert.Equal(b, ourB);
        Assert.Equal(ushort.TryParse(text, NumberStyles.None, inv, out var s), DnsNumber.TryParse(text, out ushort ourS));
        Assert.Equal(s, ourS);
        Assert.Equal(uint.TryParse(text, NumberStyles.None, inv, out var u), DnsNumber.TryParse(text, out uint ourU));
        Assert.Equal(u, ourU);
        Assert.Equal(int.TryParse(text, NumberStyles.None, inv, out var i), DnsNumber.TryParse(text, out int ourI));
        Assert.Equal(i, ourI);
        Assert.Equal(ulong.TryParse(text, NumberStyles.None, inv, out var l), DnsNumber.TryParse(text, ulong.MaxValue, out var ourL));
        Assert.Equal(l, ourL);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Hex_parsing_accepts_what_AllowHexSpecifier_accepts(string text)
    {
        var inv = CultureInfo.InvariantCulture;
        Assert.Equal(byte.TryParse(text, NumberStyles.AllowHexSpecifier, inv, out var b), DnsNumber.TryParseHex(text, byte.MaxValue, out var ourB));
        Assert.Equal(b, ourB);
        Assert.Equal(ushort.TryParse(text, NumberStyles.AllowHexSpecifier, inv, out var s), DnsNumber.TryParseHex(text, ushort.MaxValue, out var ourS));
        Assert.Equal(s, ourS);
    }
}

/// <summary>DnsText.Split against string.Split(char), which it replaces in the zone and key readers.</summary>
public sealed class DnsTextTests
{
    [Theory]
    [InlineData("", '.')]
    [InlineData(".", '.')]
    [InlineData("..", '.')]
    [InlineData("a", '.')]
    [InlineData("192.0.2.1", '.')]
    [InlineData(".a.b.", '.')]
    [InlineData("a::b:", ':')]
    [InlineData("key\nline two\n\nthree", '\n')]
    [InlineData("no separator here", ',')]
    public void Splits_as_string_Split_does(string text, char separator) =>
        Assert.Equal(text.Split(separator), DnsText.Split(text, separator));
}
