namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// The zone signed with NSEC3 opt-out (dnssec-signzone -3 - -A; RFC 5155 6): the insecure delegation sub.example.org
/// has no NSEC3 of its own, so referrals to it and DS queries for it carry the closest provable encloser proof
/// (7.2.3, 7.2.4, 7.2.7).
/// </summary>
public sealed class SignedNsec3OptOutServers : SignedServers
{
    protected override string[] SignArguments => ["-3", "-", "-A"];
}

/// <summary>Every DNSSEC case against NSD serving the opt-out zone, our signatures and proofs validated by dnspython.</summary>
[Collection("servers")]
public class Nsec3OptOutTests(SignedNsec3OptOutServers servers) : DnssecCases(servers), IClassFixture<SignedNsec3OptOutServers>
{
    protected override StringComparison Comparison => StringComparison.OrdinalIgnoreCase; // hashed owners' case, as Nsec3Tests

    [Fact]
    public void The_opt_out_zone_leaves_the_insecure_delegation_out_of_the_chain()
    {
        var zone = Unikernel.Protocols.Dns.ZoneFile.Parse(File.ReadAllText(Servers.SignedPath), "example.org.zone").Zone!;
        Assert.True(zone.UsesNsec3);
        Assert.Null(zone.DenialMatching(TestZone.N("sub.example.org.").Key)); // what makes these cases opt-out ones
        Assert.NotNull(zone.DenialMatching(TestZone.N("sec.example.org.").Key));
    }
}
