using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// Golden bytes for every record type: a response "example.org. IN TYPE" with one answer, id 0x1234, QR+AA.
/// Expected bytes were written by hand and cross-checked against dnspython 2.3 (which, unlike RFC 2782 and RFC 3597
/// section 4, compresses the SRV target: the SRV case below has it uncompressed).
/// </summary>
public class WireFormatTests
{
    private const string Header = "1234" + "8400" + "0001" + "0001" + "0000" + "0000";
    private const string ExampleOrg = "076578616d706c65" + "036f7267" + "00";

    [Theory]
    [InlineData("A", "192.0.2.1", "0001", "0004c0000201")]
    [InlineData("AAAA", "2001:db8::1", "001c", "001020010db8000000000000000000000001")]
    [InlineData("NS", "ns1", "0002", "0006036e7331c00c")]
    [InlineData("CNAME", "host.example.org.", "0005", "000704686f7374c00c")]
    [InlineData("SOA", "ns1 hostmaster 1 2h 1h 2w 300", "0006", "0027036e7331c00c0a686f73746d6173746572c00c0000000100001c2000000e10001275000000012c")]
    [InlineData("MX", "10 mail", "000f", "0009000a046d61696cc00c")]
    [InlineData("TXT", "\"hello world\" a\\\"b", "0010", "00100b68656c6c6f20776f726c6403612262")]
    [InlineData("PTR", "host", "000c", "000704686f7374c00c")]
    [InlineData("SRV", "10 60 5060 sip", "0021", "0017000a003c13c403736970" + ExampleOrg)]
    [InlineData("CAA", "0 issue \"letsencrypt.org\"", "0101", "0016000569737375656c657473656e63727970742e6f7267")]
    [InlineData("TYPE65280", "\\# 4 0A000001", "ff00", "00040a000001")]
    [InlineData("TXT", "\\# 3 026869", "0010", "0003026869")]
    public void Golden_bytes_for_each_type(string type, string rdata, string typeHex, string rdlengthAndRdata)
    {
        Assert.True(DnsType.TryParse(type, out var t));
        var origin = N("example.org.");
        var data = ResponderTests.ParseRdata(t, rdata, origin);
        var buffer = new byte[512];
        var w = new DnsMessageWriter(buffer, stackalloc ushort[64]);
        Assert.True(w.TryWriteHeader(0x1234, DnsFlags.QR | DnsFlags.AA, 1, 1, 0, 0));
        Assert.True(w.TryWriteQuestion(origin.Wire, t, DnsClass.IN));
        Assert.True(w.TryWriteRecord(origin.Wire, t, DnsClass.IN, 3600, data));
        var expected = Header + ExampleOrg + typeHex + "0001" + "c00c" + typeHex + "0001" + "00000e10" + rdlengthAndRdata;
        Assert.Equal(expected, Convert.ToHexStringLower(w.Written));

        // And back: the parsed representation reads it and prints it as in a zone file.
        Assert.True(DnsMessage.TryParse(w.Written, out var m, out var error), error);
        Assert.Equal(data, m!.Answers[0].Data);
    }

    [Fact]
    public void Compression_reuses_every_suffix()
    {
        var buffer = new byte[512];
        var w = new DnsMessageWriter(buffer, stackalloc ushort[64]);
        w.TryWriteHeader(1, 0, 0, 0, 0, 0);
        Assert.True(w.TryWriteName(N("a.example.org.").Wire));   // at 12
        Assert.True(w.TryWriteName(N("b.Example.ORG.").Wire));   // b + pointer to 14 (example.org, case-insensitive)
        Assert.True(w.TryWriteName(N("A.EXAMPLE.org.").Wire));   // pointer to 12
        Assert.True(w.TryWriteName(N("org.").Wire));             // pointer to org at 22
        Assert.True(w.TryWriteName(N("net.").Wire));             // new
        Assert.True(w.TryWriteName(DnsName.Root.Wire));          // root is never a pointer
        Assert.True(w.TryWriteName(N("x.org.").Wire, compress: false));
        Assert.Equal(
            "0161076578616d706c65036f726700" + "0162c00e" + "c00c" + "c016" + "036e657400" + "00" + "0178036f726700",
            Convert.ToHexStringLower(w.Written[12..]));
    }

    [Fact]
    public void Writer_fails_cleanly_when_full()
    {
        var buffer = new byte[20];
        var w = new DnsMessageWriter(buffer, stackalloc ushort[8]);
        w.TryWriteHeader(1, 0, 0, 0, 0, 0);
        Assert.False(w.TryWriteName(N("long.example.org.").Wire));
        Assert.Equal(12, w.Position);
        Assert.True(w.TryWriteName(N("abc.").Wire));
        Assert.False(w.TryWriteRecord(N("abc.").Wire, DnsType.A, 1, 1, [1, 2, 3, 4]));
        Assert.Equal(17, w.Position);
    }

    private static bool Read(byte[] message, int offset, out string name)
    {
        var buffer = new byte[255];
        name = "";
        if (!DnsName.TryRead(message, offset, buffer, out var length, out _))
        {
            return false;
        }
        name = DnsName.WireToString(buffer.AsSpan(0, length));
        return true;
    }

    [Fact]
    public void Reading_names_follows_backward_pointers()
    {
        var m = Convert.FromHexString("000000000000000000000000" + "036162630000" + "0178c00c");
        Assert.True(Read(m, 18, out var name));
        Assert.Equal("x.abc.", name);
        Assert.True(DnsName.TryRead(m, 18, new byte[255], out _, out var end));
        Assert.Equal(22, end);
    }

    [Theory]
    [InlineData("c00c", "pointer to itself")]
    [InlineData("c00e0000", "forward pointer")]
    [InlineData("01", "label past the end")]
    [InlineData("c0", "half a pointer")]
    [InlineData("c0ff", "pointer out of bounds")]
    [InlineData("4000", "extended label type 01")]
    [InlineData("8000", "reserved label type 10")]
    [InlineData("", "nothing")]
    public void Reading_rejects_bad_names(string hex, string why)
    {
        var m = Convert.FromHexString("000000000000000000000000" + hex);
        Assert.False(Read(m, 12, out _), why);
    }

    [Fact]
    public void Reading_rejects_pointer_loops()
    {
        // 12: label "a" then pointer to 16; 16: pointer to 12 -> a loop (16 -> 12 is backward, 14 -> 16 forward: rejected)
        var m = Convert.FromHexString("000000000000000000000000" + "0161c010" + "c00c");
        Assert.False(Read(m, 12, out _));
        Assert.False(Read(m, 16, out _));
    }

    [Fact]
    public void Reading_rejects_names_over_255_octets()
    {
        var labels = string.Concat(Enumerable.Repeat("3f" + new string('6', 126), 4)) + "00"; // 4 x 64 = 256 + root
        Assert.False(Read(Convert.FromHexString("000000000000000000000000" + labels), 12, out _));
        var ok = string.Concat(Enumerable.Repeat("3f" + new string('6', 126), 3)) + "3d" + new string('6', 122) + "00"; // 255
        Assert.True(Read(Convert.FromHexString("000000000000000000000000" + ok), 12, out _));
    }

    [Fact]
    public void Text_names_limits_and_escapes()
    {
        Assert.False(DnsName.TryParse(new string('a', 64) + ".", null, out _, out var e1));
        Assert.Contains("63", e1, StringComparison.Ordinal);
        Assert.True(DnsName.TryParse(new string('a', 63) + ".", null, out _, out _));
        var long253 = string.Join('.', Enumerable.Repeat(new string('a', 62), 4)) + ".";
        Assert.True(DnsName.TryParse(long253 + "x.", null, out _, out _)); // exactly 255 octets
        Assert.False(DnsName.TryParse(long253 + "xy.", null, out _, out var e2), e2);
        Assert.True(DnsName.TryParse("a\\.b.c\\032d.\\065.", null, out var n, out _));
        Assert.Equal(3, n!.LabelCount);
        Assert.Equal("a\\.b.c\\032d.A.", n.ToString());
        Assert.False(DnsName.TryParse("a..b.", null, out _, out _));
        Assert.False(DnsName.TryParse("a\\25", null, out _, out _));
        Assert.False(DnsName.TryParse("a\\256.", null, out _, out _));
        Assert.True(N("WWW.Example.org.").Equals(N("www.example.ORG.")));
        Assert.Equal("WWW.Example.org.", N("WWW.Example.org.").ToString());
    }

    [Fact]
    public void Opt_record_golden_bytes()
    {
        var q = DnsMessage.Query(N("a."), DnsType.A, id: 7, ednsPayload: 1232).Encode();
        Assert.Equal("0007" + "0000" + "0001" + "0000" + "0000" + "0001" + "016100" + "00010001" + "00" + "0029" + "04d0" + "00000000" + "0000",
            Convert.ToHexStringLower(q));
    }
}

public class WireFormatRegressionTests
{
    [Fact]
    public void A_name_never_compresses_against_its_own_unwritten_labels()
    {
        // Found by the fuzzer: stale bytes after the write position used to match, giving a pointer to itself.
        var r = new DnsResponder(new ZoneSet([TestZone.LoadSample()]));
        var q = Convert.FromHexString("12340000000100000000000103777777076578616D706C65036F7267010001000100002904D0000000000000000000000000000000000000");
        var buffer = new byte[512];
        buffer[0x1E] = 1; // stale bytes where the second \000 label goes: "\000." once looked written already
        buffer[0x1F] = 0;
        buffer[0x20] = 0;
        var n = r.Respond(q, buffer);
        Assert.True(DnsMessage.TryParse(buffer.AsSpan(0, n), out _, out var error), error);
    }
}
