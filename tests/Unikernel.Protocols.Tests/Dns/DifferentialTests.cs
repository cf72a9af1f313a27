using System.Text.Json;
using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>Both servers of the differential, shared by its tests: NSD and our server serving the same zones.</summary>
public sealed class DifferentialServers : IAsyncLifetime
{
    public NsdServer Nsd { get; private set; } = null!;
    public OurServer Ours { get; private set; } = null!;
    public Dnspython Python { get; private set; } = null!;

    public Task InitializeAsync()
    {
        var responder = DifferentialResponder();
        try
        {
            Python = new Dnspython();
            Nsd = new NsdServer();
            Ours = new OurServer(responder: responder);
        }
        catch
        {
            // xUnit does not dispose a fixture whose initialisation failed: stop what was started.
            Nsd?.Dispose();
            Python?.Dispose();
            throw;
        }
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await Ours.DisposeAsync();
        Nsd.Dispose();
        Python.Dispose();
    }
}

/// <summary>
/// The same queries against our server and NSD 4.6 (minimal-responses, as in the benchmark) serving the same zones,
/// both replies decoded by dnspython (never by our own parser): rcode, flags, every section (as sorted presentation
/// lines), EDNS version, flags and options, and TSIG must agree. Known, deliberate difference: we add A/AAAA of MX and
/// SRV targets (RFC 1035 / RFC 2782 additional processing) where NSD's minimal-responses leaves them out, so for those
/// the additional section of NSD must be a subset of ours.
/// </summary>
[Collection("servers")]
public class DifferentialTests(DifferentialServers servers) : IClassFixture<DifferentialServers>
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
            // issue 12 defect 6: a CNAME into another zone we serve is followed (to an answer, NXDOMAIN, a chain)
            "x.other.test. A", "y.other.test. A", "z.other.test. AAAA", "other.test. SOA",
            // DNAME (RFC 6672): the DNAME, a synthesized CNAME and the target's answer
            "host1.d.other.test. A", "nope.d.other.test. A", "d.other.test. DNAME", "d.other.test. A", "www.d.other.test. AAAA",
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
    public void Same_answer_as_nsd(string question, string transport, int edns, int ednsVersion)
    {
        var parts = question.Split(' ');
        Assert.True(DnsType.TryParse(parts[1], out var type));
        var query = DnsMessage.Query(N(parts[0]), type, id: 0x5151, ednsPayload: edns, ednsVersion: (byte)ednsVersion).Encode();
        Compare(query, transport == "tcp", additionalSubset: type is DnsType.MX or DnsType.SRV);
    }

    /// <summary>Queries built byte by byte: EDNS, TSIG, opcodes, CH identity (issue 12 defects 4 to 6).</summary>
    public static TheoryData<string> RawCases() =>
    [
        "DO bit", "DO bit, NXDOMAIN", "DO bit, TCP", "option truncated", "option longer than the OPT RDATA", "two OPT records",
        "cookie", "cookie-only query", "OPT-only query", "no question, no OPT", "two questions", "answer count in a query",
        "TSIG with an unknown key", "TSIG with an unknown key and EDNS", "STATUS with RD and CD", "NOTIFY with RD and CD",
        "UPDATE with EDNS", "IQUERY with RD and CD", "CH version.bind TXT", "CH version.server TXT", "CH id.server TXT", "CH hostname.bind TXT",
        "CH version.bind A", "CH other.name TXT", "response bit set",
    ];

    [Theory]
    [MemberData(nameof(RawCases))]
    public void Same_answer_as_nsd_to_unusual_queries(string what)
    {
        var (query, tcp) = Raw(what);
        Compare(query, tcp, additionalSubset: false);
    }

    internal static (byte[] Query, bool Tcp) Raw(string what)
    {
        byte[] Q(string name, ushort type, int edns = 1232, bool dnssecOk = false, ushort @class = DnsClass.IN)
        {
            var m = new DnsMessage { Id = 0x7171, Flags = DnsFlags.RD };
            m.Questions.Add(new DnsQuestion(N(name), type, @class));
            if (edns >= 0)
            {
                m.Opt = new DnsRecord(DnsName.Root, DnsType.OPT, (ushort)edns, dnssecOk ? 0x8000u : 0, []);
            }
            return m.Encode();
        }
        byte[] WithOptData(byte[] q, byte[] rdata)
        {
            // q ends with an OPT record with no options: its RDLENGTH is the last two octets.
            var r = q.ToList();
            r[^2] = (byte)(rdata.Length >> 8);
            r[^1] = (byte)rdata.Length;
            r.AddRange(rdata);
            return [.. r];
        }
        byte[] NoQuestion(byte[] q)
        {
            var nameLength = q.AsSpan(12).IndexOf((byte)0) + 1; // no pointers in our own question names
            byte[] r = [.. q[..12], .. q[(12 + nameLength + 4)..]];
            r[4] = 0;
            r[5] = 0;
            return r;
        }
        byte[] Opcode(byte[] q, int opcode, bool rdCd)
        {
            q[2] = (byte)((opcode << 3) | (rdCd ? 1 : 0));
            q[3] = (byte)(rdCd ? 0x10 : 0);
            return q;
        }
        byte[] Tsig(byte[] q)
        {
            // A TSIG record (RFC 8945 4.2) for key "unknown-key." with hmac-sha256 and a 32-octet MAC.
            var rdata = new List<byte>();
            rdata.AddRange(N("hmac-sha256.").Wire.ToArray());
            rdata.AddRange(new byte[] { 0, 0, 0x6B, 0x0F, 0x4C, 0x00, 0x01, 0x2C, 0, 32 });
            rdata.AddRange(Enumerable.Range(0, 32).Select(i => (byte)i));
            rdata.AddRange(new byte[] { q[0], q[1], 0, 0, 0, 0 });
            var r = q.ToList();
            r.AddRange(N("unknown-key.").Wire.ToArray());
            r.AddRange(new byte[] { 0, 250, 0, 255, 0, 0, 0, 0, (byte)(rdata.Count >> 8), (byte)rdata.Count });
            r.AddRange(rdata);
            r[11]++;
            return [.. r];
        }
        var soa = Q("example.org.", DnsType.SOA);
        return what switch
        {
            "DO bit" => (Q("host1.example.org.", DnsType.A, dnssecOk: true), false),
            "DO bit, NXDOMAIN" => (Q("nope.example.org.", DnsType.A, dnssecOk: true), false),
            "DO bit, TCP" => (Q("www.example.org.", DnsType.A, 4096, dnssecOk: true), true),
            "option truncated" => (WithOptData(Q("example.org.", DnsType.A), [0, 10, 0]), false),
            "option longer than the OPT RDATA" => (WithOptData(Q("example.org.", DnsType.A), [0, 3, 0, 9, 1, 2]), false),
            "two OPT records" => (TwoOpts(Q("example.org.", DnsType.A)), false),
            "cookie" => (WithOptData(Q("example.org.", DnsType.A), [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]), false),
            "cookie-only query" => (NoQuestion(WithOptData(Q("example.org.", DnsType.A), [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8])), false),
            "OPT-only query" => (NoQuestion(Q("example.org.", DnsType.A)), false),
            "no question, no OPT" => (NoQuestion(Q("example.org.", DnsType.A, edns: -1)), false),
            "two questions" => (Counted(Q("example.org.", DnsType.A, edns: -1), 5, 2), false),
            "answer count in a query" => (Counted(Q("example.org.", DnsType.A), 7, 1), false),
            "TSIG with an unknown key" => (Tsig(Q("example.org.", DnsType.A, edns: -1)), false),
            "TSIG with an unknown key and EDNS" => (Tsig(Q("example.org.", DnsType.A)), false),
            "STATUS with RD and CD" => (Opcode(soa, DnsOpcode.Status, true), false),
            "NOTIFY with RD and CD" => (Opcode(Q("example.org.", DnsType.SOA, edns: -1), DnsOpcode.Notify, true), false),
            "UPDATE with EDNS" => (Opcode(Q("example.org.", DnsType.SOA), DnsOpcode.Update, false), false),
            "IQUERY with RD and CD" => (Opcode(Q("example.org.", DnsType.A, edns: -1), DnsOpcode.IQuery, true), false),
            "CH version.bind TXT" => (Q("version.bind.", DnsType.TXT, @class: DnsClass.CH), false),
            "CH version.server TXT" => (Q("VERSION.server.", DnsType.TXT, edns: -1, @class: DnsClass.CH), false),
            "CH id.server TXT" => (Q("id.server.", DnsType.TXT, @class: DnsClass.CH), false),
            "CH hostname.bind TXT" => (Q("hostname.bind.", DnsType.TXT, @class: DnsClass.CH), false),
            "CH version.bind A" => (Q("version.bind.", DnsType.A, @class: DnsClass.CH), false),
            "CH other.name TXT" => (Q("other.name.", DnsType.TXT, @class: DnsClass.CH), false),
            "response bit set" => (ResponseBit(Q("example.org.", DnsType.A)), false),
            _ => throw new ArgumentException(what),
        };
    }

    private static byte[] Counted(byte[] q, int at, byte value)
    {
        q[at] = value;
        return q;
    }

    private static byte[] TwoOpts(byte[] q)
    {
        byte[] opt = [0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0];
        byte[] r = [.. q, .. opt];
        r[11]++;
        return r;
    }

    private static byte[] ResponseBit(byte[] q)
    {
        q[2] |= 0x80;
        return q;
    }

    private void Compare(byte[] query, bool tcp, bool additionalSubset)
    {
        var timeout = TimeSpan.FromSeconds(5);
        var a = tcp ? Tools.QueryTcp(servers.Ours.Service.TcpEndPoints[0], query, timeout) : Tools.TryQuery(servers.Ours.EndPoint, query, timeout);
        var b = tcp ? Tools.QueryTcp(servers.Nsd.EndPoint, query, timeout) : Tools.TryQuery(servers.Nsd.EndPoint, query, timeout);
        if (b is null)
        {
            Assert.True(a is null, "NSD does not answer this query but we do: " + Convert.ToHexString(a ?? []));
            return;
        }
        Assert.True(a is not null, "NSD answers but we do not: " + Convert.ToHexString(b));
        var mine = servers.Python.Decode(a);
        var theirs = servers.Python.Decode(b);
        var context = $"\nquery {Convert.ToHexString(query)}\nours: {mine}\nnsd:  {theirs}";
        foreach (var field in new[] { "id", "opcode", "rcode", "flags", "question", "answer", "authority", "edns", "ednsflags", "payload", "options", "tsig" })
        {
            Assert.True(mine.GetProperty(field).ToString() == theirs.GetProperty(field).ToString(), field + context);
        }
        var ours = Lines(mine, "additional");
        var nsd = Lines(theirs, "additional");
        Assert.True(additionalSubset ? nsd.All(ours.Contains) : nsd.SequenceEqual(ours), "additional" + context);
    }

    private static string[] Lines(JsonElement message, string section) => [.. message.GetProperty(section).EnumerateArray().Select(e => e.GetString()!)];
}
