using System.Net;
using System.Net.Sockets;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// Issue 12 defects 1 and 2: generic RDATA (RFC 3597) that is not valid for its known type used to load, and the
/// query for it aborted the whole process; and a fault while answering one query must never end the service.
/// </summary>
[Collection("servers")]
public class FaultTests
{
    private const string Head = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

    [Theory]
    [InlineData("r MX \\# 0", "MX")]
    [InlineData("r NS \\# 0", "NS")]
    [InlineData("r CNAME \\# 0", "CNAME")]
    [InlineData("r PTR \\# 0", "PTR")]
    [InlineData("r NS \\# 2 0161", "NS")]
    [InlineData("r CNAME \\# 2 c00c", "CNAME")]
    [InlineData("r MX \\# 2 0001", "MX")]
    [InlineData("r A \\# 3 c00002", "A")]
    [InlineData("r A \\# 5 c000020101", "A")]
    [InlineData("r AAAA \\# 4 20010db8", "AAAA")]
    [InlineData("r SRV \\# 6 000000000000", "SRV")]
    [InlineData("r TXT \\# 0", "TXT")]
    [InlineData("r TXT \\# 2 0561", "TXT")]
    [InlineData("r CAA \\# 2 0000", "CAA")]
    [InlineData("r SOA \\# 1 00", "SOA")]
    public void Generic_rdata_that_is_not_valid_for_its_type_is_rejected_at_its_line(string line, string type)
    {
        var result = ZoneFile.Parse(Head + line + "\n", "example.org.zone");
        Assert.False(result.Success, "loaded: " + line);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("example.org.zone:5:", error, StringComparison.Ordinal);
        Assert.Contains($"is not valid {type} RDATA", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("r A \\# 4 C0000201", "r A 192.0.2.1")]
    [InlineData("r MX \\# 5 000A016D00", "r MX 10 m.")]
    [InlineData("r TXT \\# 3 026869", "r TXT hi")]
    [InlineData("r CNAME \\# 17 03777777076578616D706C65036F726700", "r CNAME www.example.org.")]
    public void Valid_generic_rdata_of_a_known_type_is_the_same_record(string generic, string text)
    {
        var a = ZoneFile.Parse(Head + generic + "\n", "example.org.zone");
        var b = ZoneFile.Parse(Head + text + "\n", "example.org.zone");
        Assert.True(a.Success, string.Join("\n", a.Errors));
        Assert.True(b.Success, string.Join("\n", b.Errors));
        var type = b.Zone!.Find(N("r.example.org."))!.Sets[0].Type;
        Assert.Equal(b.Zone.Find(N("r.example.org."))!.Find(type)!.Records[0].Data, a.Zone!.Find(N("r.example.org."))!.Find(type)!.Records[0].Data);
    }

    [Fact]
    public void Zone_built_by_code_rejects_malformed_rdata()
    {
        var soa = ZoneFile.Parse(Head, "example.org.zone").Zone!.Soa;
        var errors = new List<string>();
        var zone = Zone.Build(N("example.org."), [soa, new DnsRecord(N("r.example.org."), DnsType.MX, DnsClass.IN, 60, [])], "code", errors);
        Assert.Null(zone);
        Assert.Contains(errors, e => e.Contains("r.example.org. MX has malformed RDATA", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_fault_answering_one_query_is_answered_servfail_counted_logged_once_and_the_service_keeps_serving()
    {
        var responder = new DnsResponder(new ZoneSet([LoadSample()]));
        var log = new List<string>();
        var options = new DnsServiceOptions
        {
            EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)],
            Log = line => { lock (log) { log.Add(line); } },
        };
        // Every query for "boom." faults inside the answering code (as the crash reproducer did).
        var service = new DnsService(new UnixSocketStack(), responder, options, (query, response, tcp) =>
            query.Length > 17 && query[12] == 4 && query[13] == (byte)'b' && query[14] == (byte)'o'
                ? throw new ArgumentOutOfRangeException(nameof(query), "injected")
                : responder.Respond(query, response, tcp));
        service.Bind();
        using var stop = new CancellationTokenSource();
        var run = service.RunAsync(stop.Token).AsTask();
        try
        {
            var boom = DnsMessage.Query(N("boom."), DnsType.A, id: 77).Encode();
            var good = DnsMessage.Query(N("host1.example.org."), DnsType.A, id: 78).Encode();
            var timeout = TimeSpan.FromSeconds(5);
            var udp = Tools.TryQuery(service.UdpEndPoints[0], boom, timeout);
            Assert.NotNull(udp);
            Assert.True(DnsMessage.TryParse(udp, out var m, out var error), error);
            Assert.Equal(DnsRcode.ServFail, m!.Rcode);
            Assert.Equal(77, m.Id);
            Assert.Equal("boom. IN A", Assert.Single(m.Questions).ToString());
            var tcp = Tools.QueryTcp(service.TcpEndPoints[0], boom, timeout);
            Assert.True(DnsMessage.TryParse(tcp, out m, out error), error);
            Assert.Equal(DnsRcode.ServFail, m!.Rcode);
            // The service still answers everyone else, on both transports.
            foreach (var reply in new[] { Tools.TryQuery(service.UdpEndPoints[0], good, timeout), Tools.QueryTcp(service.TcpEndPoints[0], good, timeout) })
            {
                Assert.NotNull(reply);
                Assert.True(DnsMessage.TryParse(reply, out m, out error), error);
                Assert.Equal(DnsRcode.NoError, m!.Rcode);
                Assert.Equal("host1.example.org. 3600 IN A 192.0.2.80", Assert.Single(m.Answers).ToString());
            }
            Assert.Equal(2, service.Faults);
            lock (log)
            {
                var line = Assert.Single(log);
                Assert.Contains("fault answering a query, answered SERVFAIL: System.ArgumentOutOfRangeException", line, StringComparison.Ordinal);
                Assert.Contains("injected", line, StringComparison.Ordinal);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    [Fact]
    public void Server_failure_never_reads_or_writes_out_of_bounds()
    {
        var random = new Random(99);
        var response = new byte[64];
        for (var i = 0; i < 5000; i++)
        {
            var query = new byte[random.Next(0, 80)];
            random.NextBytes(query);
            var n = DnsResponder.ServerFailure(query, response.AsSpan(0, random.Next(0, 65)));
            if (n > 0)
            {
                Assert.True(DnsMessage.TryParse(response.AsSpan(0, n), out var m, out var error), error);
                Assert.Equal(DnsRcode.ServFail, m!.Rcode);
            }
        }
    }
}

/// <summary>Issue 12 defect 6: zone text that NSD rejects or reads differently.</summary>
public class ZoneTextTests
{
    private const string Head = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

    [Fact]
    public void Nested_parentheses_are_rejected_where_the_inner_one_opens()
    {
        var result = ZoneFile.Parse(Head + "r MX ( 10\n ( mail ) )\nok A 192.0.2.2\n", "example.org.zone");
        Assert.False(result.Success);
        var error = Assert.Single(result.Errors);
        Assert.Equal("example.org.zone:6:2: '(' inside the parenthesis opened at 5:6: parentheses do not nest", error);
    }

    [Fact]
    public void An_unescaped_dollar_is_not_a_name()
    {
        var result = ZoneFile.Parse(Head + "r MX 1 $\n", "example.org.zone");
        Assert.False(result.Success);
        Assert.Equal("example.org.zone:5:8: '$' is not a domain name: '$' must be escaped", Assert.Single(result.Errors));
        var escaped = ZoneFile.Parse(Head + "r MX 1 \\$mail\n", "example.org.zone");
        Assert.True(escaped.Success, string.Join("\n", escaped.Errors));
    }

    [Fact]
    public void A_quoted_string_may_span_lines()
    {
        var result = ZoneFile.Parse(Head + "r TXT \"first\nsecond\" \"x\"\nafter A 192.0.2.3\n", "example.org.zone");
        Assert.True(result.Success, string.Join("\n", result.Errors));
        Assert.Equal("\"first\\010second\" \"x\"", RecordData.ToText(DnsType.TXT, result.Zone!.Find(N("r.example.org."))!.Find(DnsType.TXT)!.Records[0].Data));
        Assert.NotNull(result.Zone.Find(N("after.example.org.")));
        var open = ZoneFile.Parse(Head + "r TXT \"never closed\n", "example.org.zone");
        Assert.Equal("example.org.zone:5:7: quoted string is never closed", Assert.Single(open.Errors));
    }

    [Fact]
    public void Soa_owner_that_is_not_the_zone_named_by_the_file_is_an_error()
    {
        var result = ZoneFile.Parse("zone1.com. 60 SOA ns.zone1.com. h.zone1.com. 1 2 3 4 5\n", "zone1.org.zone");
        Assert.False(result.Success);
        Assert.Equal("zone1.org.zone:1:1: the SOA is for zone1.com. but the zone is zone1.org. (from the file name)", Assert.Single(result.Errors));
    }

    [Fact]
    public void Zone_name_taken_from_the_soa_owner_gets_a_warning_that_reaches_the_report()
    {
        var result = ZoneFile.Parse("zone1.com. 60 SOA ns.zone1.com. h.zone1.com. 1 2 3 4 5\n", "zone1.db");
        Assert.True(result.Success, string.Join("\n", result.Errors));
        Assert.Equal("zone1.com.", result.Zone!.Origin.ToString());
        Assert.Contains("zone name zone1.com. taken from the SOA owner", Assert.Single(result.Warnings), StringComparison.Ordinal);
        var lines = new List<string>();
        var path = Path.Combine(Directory.CreateTempSubdirectory("dns-warn.").FullName, "zone1.db");
        try
        {
            File.WriteAllText(path, "zone1.com. 60 SOA ns.zone1.com. h.zone1.com. 1 2 3 4 5\n");
            var set = ZoneCatalog.Load(null, [path], lines.Add, out var failed);
            Assert.Equal(0, failed);
            Assert.Equal(1, set.Count);
            Assert.Contains(lines, l => l.StartsWith("warning: " + path + ": zone name zone1.com. taken from the SOA owner", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }
}
