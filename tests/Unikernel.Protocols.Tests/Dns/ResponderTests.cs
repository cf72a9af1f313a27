using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

public class ResponderTests
{
    private static readonly Zone s_zone = LoadSample();

    private static DnsResponder NewResponder(int cache = 1024) => new(new ZoneSet([s_zone]), cache);

    [Fact]
    public void Positive_answer_is_authoritative()
    {
        var m = Ask(NewResponder(), "host1.example.org.", DnsType.A);
        Assert.Equal(DnsRcode.NoError, m.Rcode);
        Assert.True(m.HasFlag(DnsFlags.QR));
        Assert.True(m.HasFlag(DnsFlags.AA));
        Assert.False(m.HasFlag(DnsFlags.TC));
        Assert.Equal(["host1.example.org. 3600 IN A 192.0.2.80"], Texts(m.Answers));
        Assert.Empty(m.Authority);
        Assert.Equal(0x4242, m.Id);
    }

    [Fact]
    public void Nxdomain_has_soa_in_authority()
    {
        var m = Ask(NewResponder(), "nope.example.org.", DnsType.A);
        Assert.Equal(DnsRcode.NXDomain, m.Rcode);
        Assert.True(m.HasFlag(DnsFlags.AA));
        Assert.Empty(m.Answers);
        Assert.Equal(["example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2026112601 7200 3600 1209600 3600"], Texts(m.Authority));
    }

    [Fact]
    public void Nodata_has_soa_and_noerror()
    {
        var m = Ask(NewResponder(), "mail.example.org.", DnsType.AAAA);
        Assert.Equal(DnsRcode.NoError, m.Rcode);
        Assert.True(m.HasFlag(DnsFlags.AA));
        Assert.Empty(m.Answers);
        Assert.Single(m.Authority);
        Assert.Equal(DnsType.SOA, m.Authority[0].Type);
    }

    [Fact]
    public void Empty_non_terminal_is_nodata_not_nxdomain()
    {
        var m = Ask(NewResponder(), "b.c.example.org.", DnsType.A);
        Assert.Equal(DnsRcode.NoError, m.Rcode);
        Assert.Empty(m.Answers);
        Assert.Equal(DnsType.SOA, m.Authority[0].Type);
    }

    [Fact]
    public void Cname_chain_is_followed_inside_the_zone()
    {
        var m = Ask(NewResponder(), "www.example.org.", DnsType.A);
        Assert.Equal(DnsRcode.NoError, m.Rcode);
        Assert.Equal(
            ["host1.example.org. 3600 IN A 192.0.2.80", "web.example.org. 3600 IN CNAME host1.example.org.", "www.example.org. 3600 IN CNAME web.example.org."],
            Texts(m.Answers));
    }

    [Fact]
    public void Cname_leaving_the_zone_stops()
    {
        var m = Ask(NewResponder(), "ext.example.org.", DnsType.A);
        Assert.Equal(DnsRcode.NoError, m.Rcode);
        Assert.Equal(["ext.example.org. 3600 IN CNAME www.example.net."], Texts(m.Answers));
    }

    [Fact]
    public void Cname_query_returns_the_cname_only()
    {
        var m = Ask(NewResponder(), "www.example.org.", DnsType.CNAME);
        Assert.Equal(["www.example.org. 3600 IN CNAME web.example.org."], Texts(m.Answers));
    }

    [Fact]
    public void Wildcard_synthesises_with_the_query_name()
    {
        var m = Ask(NewResponder(), "x.y.apps.example.org.", DnsType.A);
        Assert.Equal(DnsRcode.NoError, m.Rcode);
        Assert.True(m.HasFlag(DnsFlags.AA));
        Assert.Equal(["x.y.apps.example.org. 3600 IN A 192.0.2.100"], Texts(m.Answers));
        var nodata = Ask(NewResponder(), "z.apps.example.org.", DnsType.MX);
        Assert.Equal(DnsRcode.NoError, nodata.Rcode);
        Assert.Empty(nodata.Answers);
        Assert.Equal(DnsType.SOA, nodata.Authority[0].Type);
    }

    [Fact]
    public void Wildcard_does_not_apply_below_an_existing_name()
    {
        // a.b.c exists, so b.c is an empty non-terminal closest encloser: *.b.c does not exist -> NXDOMAIN
        var m = Ask(NewResponder(), "q.b.c.example.org.", DnsType.A);
        Assert.Equal(DnsRcode.NXDomain, m.Rcode);
    }

    [Fact]
    public void Delegation_gives_a_referral_with_glue()
    {
        var m = Ask(NewResponder(), "www.sub.example.org.", DnsType.A);
        Assert.Equal(DnsRcode.NoError, m.Rcode);
        Assert.False(m.HasFlag(DnsFlags.AA));
        Assert.Empty(m.Answers);
        Assert.Equal(["sub.example.org. 3600 IN NS ns.other.example.", "sub.example.org. 3600 IN NS ns.sub.example.org."], Texts(m.Authority));
        Assert.Equal(["ns.sub.example.org. 3600 IN A 192.0.2.200", "ns.sub.example.org. 3600 IN AAAA 2001:db8::200"], Texts(m.Additional));
        var at = Ask(NewResponder(), "sub.example.org.", DnsType.NS);
        Assert.False(at.HasFlag(DnsFlags.AA));
        Assert.Empty(at.Answers);
        Assert.Equal(2, at.Authority.Count);
    }

    [Fact]
    public void Additional_section_for_mx_ns_srv()
    {
        var r = NewResponder();
        var mx = Ask(r, "example.org.", DnsType.MX);
        Assert.Equal(["mail.example.org. 3600 IN A 192.0.2.25"], Texts(mx.Additional));
        var ns = Ask(r, "example.org.", DnsType.NS);
        Assert.Equal(["ns1.example.org. 3600 IN A 192.0.2.53", "ns1.example.org. 3600 IN AAAA 2001:db8::53", "ns2.example.org. 3600 IN A 192.0.2.54"], Texts(ns.Additional));
        var srv = Ask(r, "_sip._udp.example.org.", DnsType.SRV);
        Assert.Equal(["_sip._udp.example.org. 3600 IN SRV 10 60 5060 sip.example.org."], Texts(srv.Answers));
        Assert.Equal(["sip.example.org. 3600 IN A 192.0.2.60"], Texts(srv.Additional));
    }

    [Fact]
    public void Outside_every_zone_is_refused()
    {
        var m = Ask(NewResponder(), "example.com.", DnsType.A);
        Assert.Equal(DnsRcode.Refused, m.Rcode);
        Assert.False(m.HasFlag(DnsFlags.AA));
        Assert.Single(m.Questions);
    }

    [Fact]
    public void Malformed_queries_get_formerr()
    {
        var r = NewResponder();
        var q = DnsMessage.Query(N("example.org."), DnsType.A).Encode();
        q[5] = 2; // qdcount 2 but only one question
        Assert.Equal(DnsRcode.FormErr, Send(r, q).Rcode);
        var noQuestion = q[..12];
        noQuestion[5] = 0;
        Assert.Equal(DnsRcode.FormErr, Send(r, noQuestion).Rcode);
        var loop = new byte[] { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1 };
        Assert.Equal(DnsRcode.FormErr, Send(r, loop).Rcode);
        var answerInQuery = DnsMessage.Query(N("example.org."), DnsType.A).Encode();
        answerInQuery[7] = 1;
        Assert.Equal(DnsRcode.FormErr, Send(r, answerInQuery).Rcode);
    }

    [Fact]
    public void Responses_and_short_packets_are_dropped()
    {
        var r = NewResponder();
        var buffer = new byte[512];
        Assert.Equal(0, r.Respond(new byte[11], buffer));
        var q = DnsMessage.Query(N("example.org."), DnsType.A).Encode();
        q[2] |= 0x80;
        Assert.Equal(0, r.Respond(q, buffer));
    }

    [Fact]
    public void Unknown_opcode_is_notimp()
    {
        var q = DnsMessage.Query(N("example.org."), DnsType.A).Encode();
        q[2] = 5 << 3; // UPDATE
        var m = Send(NewResponder(), q);
        Assert.Equal(DnsRcode.NotImp, m.Rcode);
        Assert.Equal(5, m.Opcode);
    }

    [Fact]
    public void Any_is_answered_minimally()
    {
        var m = Ask(NewResponder(), "example.org.", DnsType.ANY);
        Assert.Equal(DnsRcode.NoError, m.Rcode);
        Assert.NotEmpty(m.Answers);
        Assert.Single(m.Answers.Select(a => a.Type).Distinct());
    }

    [Fact]
    public void Edns_is_echoed_and_badvers_for_unknown_versions()
    {
        var r = NewResponder();
        var m = Ask(r, "example.org.", DnsType.A, edns: 4096);
        Assert.NotNull(m.Opt);
        Assert.Equal(DnsResponder.DefaultUdpPayload, m.EdnsPayloadSize);
        Assert.Equal(0, m.EdnsVersion);
        var bad = Ask(r, "example.org.", DnsType.A, edns: 4096, ednsVersion: 1);
        Assert.Equal(DnsRcode.BadVers, bad.Rcode);
        Assert.Empty(bad.Answers);
        Assert.NotNull(bad.Opt);
        Assert.Null(Ask(r, "example.org.", DnsType.A).Opt);
    }

    [Fact]
    public void Two_opt_records_are_formerr()
    {
        var q = DnsMessage.Query(N("example.org."), DnsType.A, ednsPayload: 1232).Encode();
        var opt = q[^11..];
        var twice = q.Concat(opt).ToArray();
        twice[11] = 2;
        Assert.Equal(DnsRcode.FormErr, Send(NewResponder(), twice).Rcode);
    }

    [Fact]
    public void Truncates_with_tc_when_the_answer_does_not_fit()
    {
        var records = new List<DnsRecord>();
        var origin = N("big.test.");
        records.Add(new DnsRecord(origin, DnsType.SOA, 1, 60, ParseRdata(DnsType.SOA, "ns.big.test. h.big.test. 1 2 3 4 5", origin)));
        for (var i = 0; i < 60; i++)
        {
            records.Add(new DnsRecord(origin, DnsType.TXT, 1, 60, ParseRdata(DnsType.TXT, $"\"record number {i} with some padding text\"", origin)));
        }
        var zone = Zone.Build(origin, records, "big", []);
        var r = new DnsResponder(new ZoneSet([zone!]));
        var udp = Ask(r, "big.test.", DnsType.TXT);
        Assert.True(udp.HasFlag(DnsFlags.TC));
        Assert.Empty(udp.Answers);
        var edns = Ask(r, "big.test.", DnsType.TXT, edns: 1232);
        Assert.True(edns.HasFlag(DnsFlags.TC));
        Assert.NotNull(edns.Opt);
        var tcp = Ask(r, "big.test.", DnsType.TXT, tcp: true);
        Assert.False(tcp.HasFlag(DnsFlags.TC));
        Assert.Equal(60, tcp.Answers.Count);
    }

    internal static byte[] ParseRdata(ushort type, string text, DnsName origin)
    {
        var soa = type == DnsType.SOA ? "" : "@ 1 IN SOA a b 1 2 3 4 5\n";
        var owner = type == DnsType.SOA ? "@" : "x";
        var result = ZoneFile.Parse($"$ORIGIN {origin}\n{soa}{owner} 60 IN {DnsType.ToName(type)} {text}\n", "t");
        Assert.True(result.Success, string.Join("\n", result.Errors));
        var node = type == DnsType.SOA ? result.Zone!.Apex : result.Zone!.Find(N("x." + origin))!;
        return node.Find(type)!.Records[0].Data;
    }

    [Fact]
    public void Memo_cache_patches_id_and_case()
    {
        var r = NewResponder();
        var first = Ask(r, "host1.example.org.", DnsType.A, id: 1);
        var second = Ask(r, "HoSt1.EXAMPLE.org.", DnsType.A, id: 2);
        Assert.Equal(1, r.CacheHits);
        Assert.Equal(2, second.Id);
        Assert.Equal("HoSt1.EXAMPLE.org.", second.Questions[0].Name.ToString());
        Assert.Equal("HoSt1.EXAMPLE.org. 3600 IN A 192.0.2.80", second.Answers[0].ToString());
        Assert.Equal(first.Answers.Count, second.Answers.Count);
    }

    [Fact]
    public void Memo_cache_is_bounded()
    {
        var r = NewResponder(cache: 10);
        for (var i = 0; i < 100; i++)
        {
            Ask(r, $"n{i}.example.org.", DnsType.A);
        }
        Assert.True(r.CacheCount <= 10);
    }

    [Fact]
    public void Cache_hit_does_not_allocate()
    {
        var r = NewResponder();
        var q = DnsMessage.Query(N("host1.example.org."), DnsType.A, ednsPayload: 1232).Encode();
        var buffer = new byte[1232];
        r.Respond(q, buffer);
        r.Respond(q, buffer);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            r.Respond(q, buffer);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Case_of_the_question_is_preserved()
    {
        var m = Ask(NewResponder(), "WWW.Example.ORG.", DnsType.A);
        Assert.Equal("WWW.Example.ORG.", m.Questions[0].Name.ToString());
        Assert.Equal(3, m.Answers.Count);
    }
}
