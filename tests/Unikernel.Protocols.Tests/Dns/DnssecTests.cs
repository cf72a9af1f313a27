using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// The sample zone (plus a secure delegation) signed in the test by BIND's dnssec-signzone (Debian bind9-utils)
/// with NSEC, served by NSD and by us.
/// </summary>
public class SignedServers : IAsyncLifetime
{
    /// <summary>Extra dnssec-signzone arguments (NSEC3 for the subclass).</summary>
    protected virtual string[] SignArguments => [];

    private string _dir = "";

    public NsdServer Nsd { get; private set; } = null!;
    public OurServer Ours { get; private set; } = null!;
    public Dnspython Python { get; private set; } = null!;
    public string SignedPath { get; private set; } = "";

    public Task InitializeAsync()
    {
        var keygen = Tools.Require("dnssec-keygen", "/usr/bin/dnssec-keygen");
        var signzone = Tools.Require("dnssec-signzone", "/usr/bin/dnssec-signzone");
        _dir = Directory.CreateTempSubdirectory("dns-dnssec.").FullName;
        var unsigned = Path.Combine(_dir, "example.org.zone");
        File.WriteAllText(unsigned, File.ReadAllText(SamplePath) + """
            sec     IN NS   ns.sec
            sec     IN DS   12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
            ns.sec  IN A    192.0.2.201
            dn      IN DNAME example.org.

            """);
        foreach (var args in new[] { new[] { "-q", "-K", _dir, "-a", "ECDSAP256SHA256", "-f", "KSK", "example.org" }, ["-q", "-K", _dir, "-a", "ECDSAP256SHA256", "example.org"] })
        {
            var (code, output) = Tools.Run(keygen, args, TimeSpan.FromSeconds(60));
            Assert.True(code == 0, "dnssec-keygen: " + output);
        }
        SignedPath = Path.Combine(_dir, "signed.zone");
        var sign = Tools.Run(signzone, ["-S", "-K", _dir, "-o", "example.org", "-f", SignedPath, "-N", "keep", .. SignArguments, unsigned], TimeSpan.FromSeconds(60));
        Assert.True(sign.ExitCode == 0, "dnssec-signzone: " + sign.Output);
        // Everything that can fail comes before the servers start; xUnit does not dispose a fixture whose
        // initialisation failed, so a failure after that stops what was started here.
        var loaded = ZoneFile.Parse(File.ReadAllText(SignedPath), "example.org.zone");
        Assert.True(loaded.Success, string.Join("\n", loaded.Errors));
        Assert.True(loaded.Zone!.IsSigned);
        var other = ZoneFile.Parse(OtherZone, "other.test.zone");
        Assert.True(other.Success, string.Join("\n", other.Errors));
        try
        {
            Python = new Dnspython();
            Nsd = new NsdServer(SignedPath);
            Ours = new OurServer(responder: new DnsResponder(new ZoneSet([loaded.Zone, other.Zone!]), version: TestZone.Version, id: TestZone.Identity));
        }
        catch
        {
            Nsd?.Dispose();
            Python?.Dispose();
            Directory.Delete(_dir, recursive: true);
            throw;
        }
        return Task.CompletedTask;
    }

    /// <summary>The same zone signed with NSEC3 (no salt, no extra iterations), as a file.</summary>
    public string SignNsec3()
    {
        var signzone = Tools.Require("dnssec-signzone", "/usr/bin/dnssec-signzone");
        var path = Path.Combine(_dir, "signed3.zone");
        var sign = Tools.Run(signzone, ["-S", "-K", _dir, "-o", "example.org", "-3", "-", "-f", path, "-N", "keep", Path.Combine(_dir, "example.org.zone")], TimeSpan.FromSeconds(60));
        Assert.True(sign.ExitCode == 0, "dnssec-signzone -3: " + sign.Output);
        return path;
    }

    public async Task DisposeAsync()
    {
        await Ours.DisposeAsync();
        Nsd.Dispose();
        Python.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>
/// Issue 12, DNSSEC: with DO, answers carry RRSIGs, denials and wildcard answers carry NSEC proofs (RFC 4035 3.1),
/// referrals carry DS or the NSEC proving there is none; without DO, none of it. Every reply equals NSD's (decoded by
/// dnspython) and every signed RRset in it validates (dnspython's DNSSEC validation against the zone's DNSKEYs).
/// </summary>
/// <summary>The same zone signed with NSEC3 (RFC 5155: no salt, no extra iterations, as RFC 9276 advises).</summary>
public sealed class SignedNsec3Servers : SignedServers
{
    protected override string[] SignArguments => ["-3", "-"];
}

[Collection("servers")]
public class DnssecTests(SignedServers servers) : DnssecCases(servers), IClassFixture<SignedServers>
{
    [Fact]
    public void An_nsec3_signed_zone_loads_and_its_nsec3_records_are_served_when_asked_for()
    {
        var loaded = ZoneFile.Parse(File.ReadAllText(Servers.SignNsec3()), "example.org.zone");
        Assert.True(loaded.Success, string.Join("\n", loaded.Errors));
        Assert.True(loaded.Zone!.IsSigned);
        Assert.True(loaded.Zone.UsesNsec3);
        var responder = new DnsResponder(new ZoneSet([loaded.Zone]));
        var m = TestZone.Ask(responder, "example.org.", DnsType.NSEC3PARAM, edns: 1232);
        Assert.Equal("example.org. 0 IN NSEC3PARAM 1 0 0 -", Assert.Single(m.Answers).ToString());
    }
}

/// <summary>NSEC3 denial proofs (RFC 5155 7.2): the same cases against NSD serving the NSEC3-signed zone.</summary>
[Collection("servers")]
public class Nsec3Tests(SignedNsec3Servers servers) : DnssecCases(servers), IClassFixture<SignedNsec3Servers>
{
    // dnssec-signzone writes the hashed owner names in upper case and we serve them as written; NSD lower-cases
    // them. Names compare case-insensitively (RFC 4343), so do these replies (the signatures are validated apart).
    protected override StringComparison Comparison => StringComparison.OrdinalIgnoreCase;
}

public abstract class DnssecCases(SignedServers servers)
{
    protected SignedServers Servers => servers;

    protected virtual StringComparison Comparison => StringComparison.Ordinal;

    /// <summary>A field as text; a section as its lines, lower-cased and sorted again when comparing case-insensitively.</summary>
    private string Normal(System.Text.Json.JsonElement e) =>
        Comparison == StringComparison.Ordinal || e.ValueKind != System.Text.Json.JsonValueKind.Array
            ? (Comparison == StringComparison.Ordinal ? e.ToString() : e.ToString().ToLowerInvariant())
            : string.Join("\n", e.EnumerateArray().Select(x => x.ToString().ToLowerInvariant()).Order(StringComparer.Ordinal));

    public static TheoryData<string, bool> Cases()
    {
        var data = new TheoryData<string, bool>();
        string[] questions =
        [
            "example.org. SOA", "example.org. DNSKEY", "example.org. NS", "example.org. MX", "host1.example.org. A",
            "www.example.org. A", "ext.example.org. A", "nope.example.org. A", "deep.nope.example.org. AAAA", "mail.example.org. AAAA",
            "b.c.example.org. A", "x.apps.example.org. A", "x.apps.example.org. MX", "y.z.apps.example.org. TXT",
            "www.sub.example.org. A", "sub.example.org. DS", "www.sec.example.org. A", "sec.example.org. DS",
            "txt.example.org. TXT", "unknown.example.org. TYPE65280", "example.org. NSEC", "host1.example.org. RRSIG",
            "host1.dn.example.org. A", "nope.dn.example.org. A", "dn.example.org. DNAME",
        ];
        foreach (var q in questions)
        {
            data.Add(q, true);
            data.Add(q, false);
        }
        return data;
    }

    private byte[] Ask(OurServer? ours, string question, bool dnssecOk, int payload = 4096)
    {
        var parts = question.Split(' ');
        Assert.True(DnsType.TryParse(parts[1], out var type));
        var m = new DnsMessage { Id = 0x3131 };
        m.Questions.Add(new DnsQuestion(N(parts[0]), type, DnsClass.IN));
        m.Opt = new DnsRecord(DnsName.Root, DnsType.OPT, (ushort)payload, dnssecOk ? 0x8000u : 0, []);
        var endPoint = ours is null ? servers.Nsd.EndPoint : ours.EndPoint;
        var reply = Tools.TryQuery(endPoint, m.Encode(), TimeSpan.FromSeconds(5));
        Assert.True(reply is not null, $"no answer from {(ours is null ? "NSD" : "us")} to {question}");
        return reply;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Same_answer_as_nsd_and_every_signature_validates(string question, bool dnssecOk)
    {
        var mine = Ask(servers.Ours, question, dnssecOk);
        var theirs = Ask(null, question, dnssecOk);
        var a = servers.Python.Decode(mine);
        var b = servers.Python.Decode(theirs);
        var context = $"\nours: {a}\nnsd:  {b}";
        foreach (var field in new[] { "rcode", "flags", "question", "answer", "authority", "ednsflags" })
        {
            Assert.True(Normal(a.GetProperty(field)) == Normal(b.GetProperty(field)), field + context);
        }
        var ours = a.GetProperty("additional").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.True(b.GetProperty("additional").EnumerateArray().All(e => ours.Any(o => string.Equals(o, e.GetString(), Comparison))), "additional (subset)" + context);
        var signatures = a.GetProperty("answer").EnumerateArray().Concat(a.GetProperty("authority").EnumerateArray()).Count(e => e.GetString()!.Split(' ')[3] == "RRSIG");
        if (!dnssecOk)
        {
            if (!question.EndsWith(" RRSIG", StringComparison.Ordinal))
            {
                Assert.True(signatures == 0, "RRSIG without DO" + context);
            }
            return;
        }
        var keys = Ask(servers.Ours, "example.org. DNSKEY", true);
        var check = servers.Python.Ask($"validate {Convert.ToHexString(keys)} {Convert.ToHexString(mine)}");
        Assert.True(check.GetProperty("errors").GetArrayLength() == 0, "validation: " + check + context);
        if (a.GetProperty("answer").GetArrayLength() + a.GetProperty("authority").GetArrayLength() > 0 && !question.StartsWith("www.sub.", StringComparison.Ordinal) && !question.EndsWith(" RRSIG", StringComparison.Ordinal))
        {
            Assert.True(check.GetProperty("validated").GetInt32() > 0, "nothing validated: " + check + context);
        }
    }
}
