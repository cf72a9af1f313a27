using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// The same queries against our server and NSD (minimal-responses, as in the benchmark) serving the same zone:
/// rcode, flags and sections (as sets) must agree. Known, deliberate difference: we add A/AAAA of MX and SRV targets
/// (RFC 1035 / RFC 2782 additional processing) where NSD's minimal-responses leaves them out, so for those the
/// additional section of NSD must be a subset of ours.
/// </summary>
[Collection("servers")]
public class DifferentialTests(NsdServer nsdServer) : IClassFixture<NsdServer>
{
    public static TheoryData<string, string, int, int> Cases()
    {
        var data = new TheoryData<string, string, int, int>();
        string[] names =
        [
            "example.org. SOA", "example.org. NS", "example.org. A", "example.org. AAAA", "example.org. MX", "example.org. TXT",
            "example.org. CAA", "host1.example.org. A", "host1.example.org. AAAA", "HOST1.Example.ORG. A", "mail.example.org. AAAA",
            "www.example.org. A", "www.example.org. CNAME", "www.example.org. TXT", "web.example.org. AAAA", "ext.example.org. A",
            "x.y.apps.example.org. A", "z.apps.example.org. TXT", "z.apps.example.org. MX", "apps.example.org. A",
            "b.c.example.org. A", "c.example.org. TXT", "q.b.c.example.org. A", "a.b.c.example.org. A", "nope.example.org. A",
            "deep.nope.example.org. AAAA", "www.sub.example.org. A", "sub.example.org. NS", "sub.example.org. A", "ns.sub.example.org. A",
            "_sip._udp.example.org. SRV", "4.2.0.192.example.org. PTR", "txt.example.org. TXT", "unknown.example.org. TYPE65280",
            "unknown.example.org. A", "ttl.example.org. A", "example.com. A", "org. SOA", ". NS",
            "host1.example.org. ANY", "ns1.example.org. A", "ns1.example.org. TYPE999",
        ];
        foreach (var n in names)
        {
            data.Add(n, "udp", -1, 0);
            data.Add(n, "udp", 1232, 0);
        }
        data.Add("host1.example.org. A", "tcp", -1, 0);
        data.Add("www.sub.example.org. A", "tcp", 4096, 0);
        data.Add("example.org. SOA", "udp", 1232, 1); // BADVERS
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Same_answer_as_nsd(string question, string transport, int edns, int ednsVersion)
    {
        var parts = question.Split(' ');
        Assert.True(DnsType.TryParse(parts[1], out var type));
        var query = DnsMessage.Query(N(parts[0]), type, id: 0x5151, ednsPayload: edns, ednsVersion: (byte)ednsVersion).Encode();
        await using var ours = new OurServer();
        var nsd = nsdServer;
        var timeout = TimeSpan.FromSeconds(5);
        var a = transport == "tcp" ? Tools.QueryTcp(ours.Service.TcpEndPoints[0], query, timeout) : Tools.TryQuery(ours.EndPoint, query, timeout);
        var b = transport == "tcp" ? Tools.QueryTcp(nsd.EndPoint, query, timeout) : Tools.TryQuery(nsd.EndPoint, query, timeout);
        Assert.NotNull(a);
        Assert.NotNull(b);
        Assert.True(DnsMessage.TryParse(a, out var mine, out var e1), e1);
        Assert.True(DnsMessage.TryParse(b, out var theirs, out var e2), e2);
        Compare(mine!, theirs!, type);
    }

    [Fact]
    public async Task Malformed_and_unusual_queries_match_nsd()
    {
        await using var ours = new OurServer();
        var nsd = nsdServer;
        var good = DnsMessage.Query(N("example.org."), DnsType.A).Encode();
        var noQuestion = good[..12];
        noQuestion[5] = 0;
        var twoCounted = (byte[])good.Clone();
        twoCounted[5] = 2;
        var status = (byte[])good.Clone();
        status[2] = DnsOpcode.Status << 3;
        foreach (var query in new[] { noQuestion, twoCounted, status })
        {
            var a = Tools.TryQuery(ours.EndPoint, query, TimeSpan.FromSeconds(5));
            var b = Tools.TryQuery(nsd.EndPoint, query, TimeSpan.FromSeconds(5));
            Assert.NotNull(a);
            Assert.NotNull(b);
            Assert.True(DnsMessage.TryParse(a, out var mine, out var e1), e1);
            Assert.True(DnsMessage.TryParse(b, out var theirs, out var e2), e2);
            Assert.Equal(theirs!.Rcode, mine!.Rcode);
            Assert.Equal(theirs.Flags & 0xFF80, mine.Flags & 0xFF80);
        }
    }

    private static void Compare(DnsMessage mine, DnsMessage theirs, ushort type)
    {
        var context = $"\nours:\n{Dump(mine)}\nnsd:\n{Dump(theirs)}";
        Assert.True(theirs.Rcode == mine.Rcode, "rcode" + context);
        const int mask = DnsFlags.QR | DnsFlags.AA | DnsFlags.TC | DnsFlags.RD | DnsFlags.RA | DnsFlags.CD | 0x7800;
        Assert.True((theirs.Flags & mask) == (mine.Flags & mask), "flags" + context);
        Assert.True(theirs.Questions.Count == mine.Questions.Count, "questions" + context);
        Assert.True(Texts(theirs.Answers).SequenceEqual(Texts(mine.Answers)), "answer" + context);
        Assert.True(Texts(theirs.Authority).SequenceEqual(Texts(mine.Authority)), "authority" + context);
        if (type is DnsType.MX or DnsType.SRV)
        {
            Assert.True(Texts(theirs.Additional).All(Texts(mine.Additional).Contains), "additional (subset)" + context);
        }
        else
        {
            Assert.True(Texts(theirs.Additional).SequenceEqual(Texts(mine.Additional)), "additional" + context);
        }
        Assert.True((theirs.Opt is null) == (mine.Opt is null), "OPT presence" + context);
    }

    private static string Dump(DnsMessage m) =>
        $"rcode {DnsRcode.ToName(m.Rcode)} flags {m.Flags:X4}\n an: {string.Join("\n     ", Texts(m.Answers))}\n ns: {string.Join("\n     ", Texts(m.Authority))}\n ar: {string.Join("\n     ", Texts(m.Additional))}\n opt: {m.Opt?.Class}";
}
