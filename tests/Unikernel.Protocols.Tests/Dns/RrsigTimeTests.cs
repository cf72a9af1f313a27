using System.Buffers.Binary;
using System.Globalization;
using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// RRSIG's expiration and inception fields (RFC 4034 3.2) are read and written by hand rather than with DateTime's
/// parser and formatter (which put ~80 KB into the image). DateTime.TryParseExact, what the loader used before, is the
/// oracle: every sample must be accepted or refused as it decides, with the same seconds, and written back the same.
/// </summary>
public class RrsigTimeTests
{
    public static TheoryData<string> Times() =>
    [
        "20300101000000", "20200101000000", "19700101000000", "21060207062815", "20240229235959", "20230229000000",
        "20231301000000", "20230001000000", "20230100000000", "20230132000000", "20230101240000", "20230101006000",
        "20230101000060", "00000101000000", "00010101000000", "99991231235959", "20230431000000", "21000229000000",
        "20000229120000", "1234567890", "0", "4294967295",
    ];

    private const string Head = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

    [Theory]
    [MemberData(nameof(Times))]
    public void Time_fields_read_and_write_as_DateTime_did(string time)
    {
        var result = ZoneFile.Parse(Head + $"r RRSIG A 8 3 3600 {time} 20200101000000 12345 example.org. dGVzdA==\n", "example.org.zone");
        uint? expected = null;
        if (time.Length == 14)
        {
            if (DateTime.TryParseExact(time, "yyyyMMddHHmmss", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t))
            {
                expected = (uint)((ulong)(t - DateTime.UnixEpoch).TotalSeconds & 0xFFFFFFFF);
            }
        }
        else if (uint.TryParse(time, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            expected = seconds;
        }
        Assert.Equal(expected is not null, result.Success);
        if (expected is null)
        {
            Assert.Contains("example.org.zone:5:", result.Errors[0], StringComparison.Ordinal);
            return;
        }
        var data = Assert.Single(result.Zone!.Find(N("r.example.org."))!.Find(DnsType.RRSIG)!.Records).Data;
        Assert.Equal(expected.Value, BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(8)));
        var text = RecordData.ToText(DnsType.RRSIG, data);
        var written = text.Split(' ')[4];
        Assert.Equal(DateTime.UnixEpoch.AddSeconds(expected.Value).ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture), written);
    }
}
