using System.Buffers.Binary;
using System.Globalization;
using Unikernel.Protocols.Dns;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// LOC's meters and seconds are read and written in integers (no decimal in the image); decimal, which the reader used
/// before, is the oracle here.
/// </summary>
public sealed class LocTextTests
{
    private static readonly string[] Numbers =
    [
        "0", "0.0", "0.00", "0.000", "-0", "-0.00", "+0", "1", "+1", "-1", "1.5", "1.50", "1.500", "1.505", "1.234", "1.2300",
        ".5", "5.", ".", "", "-", "+", "-.5", "1.2.3", "1,5", " 1", "1 ", "1e2", "0x1", "--1", "-100000", "-100000.00",
        "-100000.01", "-99999.99", "42849672.95", "42849672.96", "42849673", "90000000", "90000000.00", "90000000.01",
        "59.999", "59.9990", "59.9999", "60", "60.000", "0.001", "0.0001",
        "000000000000000000000000000000012.34", "1234567890123456", "12345678901234567890123456789",
    ];

    private const ushort LocType = 29; // RFC 1876

    public static TheoryData<string> Cases() => [.. Numbers];

    private static byte[]? Loc(string text)
    {
        var tokens = text.Split(' ').Select((t, i) => new ZoneToken(t, false, 1, i + 1)).ToList();
        return RecordData.TryParse(LocType, tokens, DnsName.Root, out var rdata, out _, out _) ? rdata : null;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Altitude_and_size_read_as_decimal_read_them(string number)
    {
        var inv = CultureInfo.InvariantCulture;
        foreach (var suffix in new[] { "", "m" })
        {
            var ok = decimal.TryParse(number, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, inv, out var meters)
                && decimal.Round(meters, 2) == meters;
            var altitudeOk = ok && meters >= -100_000m && meters <= 42_849_672.95m;
            var altitude = Loc($"1 N 2 E {number}{suffix}");
            Assert.Equal(altitudeOk, altitude is not null);
            if (altitude is not null)
            {
                Assert.Equal((uint)((long)(meters * 100) + 10_000_000), BinaryPrimitives.ReadUInt32BigEndian(altitude.AsSpan(12)));
                var text = RecordData.ToText(LocType, altitude).Split(' ');
                Assert.Equal((meters + 0.00m).ToString("0.00", inv) + "m", text[^4]);
            }
            var sizeOk = ok && meters >= 0 && meters <= 90_000_000m;
            Assert.Equal(sizeOk, Loc($"1 N 2 E 0 {number}{suffix}") is not null);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Seconds_read_as_decimal_read_them(string number)
    {
        var ok = decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds)
            && seconds < 60 && decimal.Round(seconds, 3) == seconds;
        var rdata = Loc($"1 2 {number} N 2 E 0");
        Assert.Equal(ok, rdata is not null);
        if (rdata is not null)
        {
            var expected = 0x8000_0000u + (uint)((((1 * 3600) + (2 * 60)) * 1000) + (long)(seconds * 1000));
            Assert.Equal(expected, BinaryPrimitives.ReadUInt32BigEndian(rdata.AsSpan(4)));
        }
    }
}
