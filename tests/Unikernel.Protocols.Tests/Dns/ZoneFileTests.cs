using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

public class ZoneFileTests
{
    private const string Soa = "@ 3600 IN SOA ns hostmaster 1 2 3 4 5\n";

    private static Zone Ok(string text, string file = "example.org.zone", Func<string, string?>? include = null)
    {
        var result = ZoneFile.Parse(text, file, null, include);
        Assert.True(result.Success, string.Join("\n", result.Errors));
        return result.Zone!;
    }

    private static string Fail(string text, string file = "example.org.zone", Func<string, string?>? include = null)
    {
        var result = ZoneFile.Parse(text, file, null, include);
        Assert.False(result.Success);
        Assert.NotEmpty(result.Errors);
        return result.Errors[0];
    }

    private static string[] At(Zone zone, string name, ushort type) =>
        zone.Find(N(name))?.Find(type)?.Records.Select(r => r.ToString()).ToArray() ?? [];

    [Fact]
    public void Sample_zone_loads()
    {
        var zone = LoadSample();
        Assert.Equal("example.org.", zone.Origin.ToString());
        Assert.True(zone.RecordCount > 25);
    }

    [Fact]
    public void Origin_from_file_name_and_relative_names()
    {
        var zone = Ok(Soa + "www 60 IN A 192.0.2.1\nabs.example.org. 60 IN A 192.0.2.2\n");
        Assert.Equal(["www.example.org. 60 IN A 192.0.2.1"], At(zone, "www.example.org.", DnsType.A));
        Assert.Equal(["abs.example.org. 60 IN A 192.0.2.2"], At(zone, "abs.example.org.", DnsType.A));
        Assert.Equal("ns.example.org. hostmaster.example.org. 1 2 3 4 5", RecordData.ToText(DnsType.SOA, zone.Soa.Data));
    }

    [Fact]
    public void Origin_directive_and_at_sign()
    {
        var zone = Ok("$ORIGIN example.net.\n" + Soa + "$ORIGIN sub\nhost 60 A 192.0.2.1\n@ 60 TXT x\n", file: "anything.txt");
        Assert.Equal("example.net.", zone.Origin.ToString());
        Assert.Single(At(zone, "host.sub.example.net.", DnsType.A));
        Assert.Single(At(zone, "sub.example.net.", DnsType.TXT));
    }

    [Fact]
    public void Origin_from_the_soa_owner()
    {
        var zone = Ok("example.com. 60 IN SOA ns.example.com. h.example.com. 1 2 3 4 5\nwww.example.com. 60 IN A 192.0.2.1\n", file: "zonefile");
        Assert.Equal("example.com.", zone.Origin.ToString());
    }

    [Fact]
    public void Ttl_directive_units_and_inheritance()
    {
        var zone = Ok("$TTL 1h30m\n" + "@ IN SOA ns hostmaster 1 2 3 4 5\na A 192.0.2.1\nb 1w IN A 192.0.2.2\nc IN 2d A 192.0.2.3\n");
        Assert.Equal(5400u, zone.Soa.Ttl);
        Assert.Equal(5400u, zone.Find(N("a.example.org."))!.Sets[0].Records[0].Ttl);
        Assert.Equal(604800u, zone.Find(N("b.example.org."))!.Sets[0].Records[0].Ttl);
        Assert.Equal(172800u, zone.Find(N("c.example.org."))!.Sets[0].Records[0].Ttl);
    }

    [Fact]
    public void Omitted_owner_ttl_and_class()
    {
        var zone = Ok(Soa + "www 60 IN A 192.0.2.1\n    AAAA 2001:db8::1\n\tTXT \"x\"\n");
        Assert.Single(At(zone, "www.example.org.", DnsType.AAAA));
        Assert.Equal(["www.example.org. 60 IN TXT \"x\""], At(zone, "www.example.org.", DnsType.TXT));
    }

    [Fact]
    public void Parentheses_comments_and_quotes()
    {
        var zone = Ok("@ 60 IN SOA ( ns ; primary\n hostmaster ; (not a paren)\n 1 2 3\n 4 5 )\n" +
            "t 60 TXT \"a ; b ( c\" ; comment \"not a string\"\n");
        Assert.Equal(["t.example.org. 60 IN TXT \"a ; b ( c\""], At(zone, "t.example.org.", DnsType.TXT));
    }

    [Fact]
    public void Escapes_in_names_and_strings()
    {
        var zone = Ok(Soa + "a\\.b 60 TXT \"q\\\"uote\" \\065\\066 back\\\\slash\n\\097bc 60 A 192.0.2.1\n");
        Assert.Equal(["a\\.b.example.org. 60 IN TXT \"q\\\"uote\" \"AB\" \"back\\\\slash\""], At(zone, "a\\.b.example.org.", DnsType.TXT));
        Assert.Single(At(zone, "abc.example.org.", DnsType.A));
    }

    [Fact]
    public void Unknown_types_rfc3597()
    {
        var zone = Ok(Soa + "x 60 TYPE1234 \\# 3 ABCDEF\ny 60 CLASS1 TYPE1 \\# 4 C0000201\nz 60 TYPE65400 \\# 0\n");
        Assert.Equal(["x.example.org. 60 IN TYPE1234 \\# 3 ABCDEF"], At(zone, "x.example.org.", 1234));
        Assert.Equal(["y.example.org. 60 IN A 192.0.2.1"], At(zone, "y.example.org.", DnsType.A));
        Assert.Equal(["z.example.org. 60 IN TYPE65400 \\# 0"], At(zone, "z.example.org.", 65400));
    }

    [Fact]
    public void Include_from_a_key_value_store()
    {
        var store = new MemoryStore(new Dictionary<string, string>
        {
            ["zones/example.org.zone"] = Soa + "$INCLUDE hosts.inc\n$INCLUDE other.inc sub\nafter 60 A 192.0.2.9\n",
            ["zones/hosts.inc"] = "h1 60 A 192.0.2.1\n",
            ["zones/other.inc"] = "h2 60 A 192.0.2.2\n",
        });
        var results = ZoneFile.LoadStore(store);
        var zone = Assert.Single(results).Zone;
        Assert.NotNull(zone);
        Assert.Single(At(zone, "h1.example.org.", DnsType.A));
        Assert.Single(At(zone, "h2.sub.example.org.", DnsType.A));
        Assert.Single(At(zone, "after.example.org.", DnsType.A)); // origin reverted after the include
    }

    [Fact]
    public void Include_may_not_leave_the_directory()
    {
        var dir = Directory.CreateTempSubdirectory("zonetest.").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "example.org.zone"), Soa + "$INCLUDE ../secret\n");
            var result = ZoneFile.LoadFile(Path.Combine(dir, "example.org.zone"));
            Assert.False(result.Success);
            Assert.Contains("example.org.zone:2:10: cannot include '../secret'", result.Errors[0], StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(dir, "example.org.zone"), Soa + "$INCLUDE part\n");
            File.WriteAllText(Path.Combine(dir, "part"), "p 60 A 192.0.2.1\n");
            Assert.True(ZoneFile.LoadFile(Path.Combine(dir, "example.org.zone")).Success);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Include_loops_are_stopped()
    {
        var error = Fail(Soa + "$INCLUDE self\n", include: _ => "$INCLUDE self\n");
        Assert.Contains("nested more than", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("www 60 IN FOO 1\n", "example.org.zone:2:11: unknown record type 'FOO'")]
    [InlineData("www 60 IN A 300.1.1.1\n", "example.org.zone:2:13: '300.1.1.1' is not an IPv4 address")]
    [InlineData("www 60 IN A\n", "example.org.zone:2:12: A needs 1 field(s), found 0")]
    [InlineData("www 60 IN A 1.2.3.4 5\n", "example.org.zone:2:21: unexpected '5' after the 1 field(s) of A")]
    [InlineData("www 60 IN AAAA 1.2.3.4\n", "example.org.zone:2:16: '1.2.3.4' is not an IPv6 address")]
    [InlineData("www 60 IN MX x mail\n", "example.org.zone:2:14: preference 'x' is not a number 0-65535")]
    [InlineData("www 60 IN TXT \"open\n", "example.org.zone:2:15: quoted string is never closed")]
    [InlineData("www 60 IN SOA ( a b 1 2 3 4 5\n", "example.org.zone:2:15: parenthesis opened here is never closed")]
    [InlineData("www 60 IN A 1.2.3.4 )\n", "example.org.zone:2:21: ')' without a matching '('")]
    [InlineData("$FOO bar\n", "example.org.zone:2:1: unknown directive '$FOO'")]
    [InlineData("$TTL forever\n", "example.org.zone:2:6: 'forever' is not a valid TTL")]
    [InlineData("www 60 CH TXT x\n", "example.org.zone:2:1: class CH is not supported (only IN)")]
    [InlineData("www 60 IN TYPE1234 01 02\n", "example.org.zone:2:11: type TYPE1234 is not known: use the generic form")]
    [InlineData("www 60 IN TYPE1234 \\# 3 0102\n", "example.org.zone:2:23: generic RDATA declares 3 octet(s) but has 2")]
    [InlineData("www 60 IN CAA 0 is-sue x\n", "example.org.zone:2:17: CAA tag 'is-sue' must be 1-255 letters or digits")]
    [InlineData("a..b 60 IN A 1.2.3.4\n", "example.org.zone:2:1: empty label in name 'a..b'")]
    [InlineData("www 60 IN TXT \\300\n", "example.org.zone:2:15: \\DDD escape value 300 is over 255")]
    [InlineData("$INCLUDE x\n", "example.org.zone:2:1: $INCLUDE is not allowed here")]
    public void Errors_name_file_line_and_column(string line, string expected)
    {
        var error = Fail(Soa + line);
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Semantic_errors()
    {
        Assert.Contains("no SOA", Fail("www 60 IN A 192.0.2.1\n"), StringComparison.Ordinal);
        Assert.StartsWith("example.org.zone:2:1: www.example.com. A is outside the zone", Fail(Soa + "www.example.com. 60 A 192.0.2.1\n"), StringComparison.Ordinal);
        Assert.StartsWith("example.org.zone:2:1: www.example.org. has a CNAME and other data", Fail(Soa + "www 60 CNAME x\nwww 60 A 192.0.2.1\n"), StringComparison.Ordinal);
        Assert.StartsWith("example.org.zone:3:1: more than one SOA", Fail(Soa + "\n@ 60 SOA a b 2 2 3 4 5\n"), StringComparison.Ordinal);
        Assert.Contains("no TTL given", Fail("@ IN NS ns\n@ IN SOA ns h 1 2 3 4 5\n"), StringComparison.Ordinal);
        Assert.Contains("noname:1:1: relative name 'www' but no origin is known", Fail("www 60 A 192.0.2.1\n", file: "noname"), StringComparison.Ordinal);
        Assert.Contains("cannot tell which zone", Fail("www. 60 A 192.0.2.1\n", file: "noname"), StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_zone_is_reported_and_others_still_load()
    {
        var store = new MemoryStore(new Dictionary<string, string>
        {
            ["bad.example.zone"] = "@ 60 SOA ns h 1 2 3 4 5\nx 60 A nope\n",
            ["good.example.zone"] = "@ 60 SOA ns h 1 2 3 4 5\nx 60 A 192.0.2.1\n",
        });
        var report = new List<string>();
        var set = ZoneCatalog.Load(store, [], report.Add, out var failed);
        Assert.Equal(1, failed);
        Assert.Equal(1, set.Count);
        Assert.Contains(report, l => l.Contains("bad.example.zone:2:8: 'nope' is not an IPv4 address", StringComparison.Ordinal));
        var missing = ZoneCatalog.Load(null, ["/nonexistent/x.zone"], report.Add, out failed);
        Assert.Equal(1, failed);
        Assert.Equal(0, missing.Count);
    }

    [Fact]
    public void Error_count_is_bounded()
    {
        var text = Soa + string.Concat(Enumerable.Repeat("x 60 A bad\n", 1000));
        var result = ZoneFile.Parse(text, "example.org.zone");
        Assert.Equal(ZoneFile.MaxErrors, result.Errors.Count);
    }
}
