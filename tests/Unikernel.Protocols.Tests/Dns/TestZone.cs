using Unikernel.Protocols.Dns;

namespace Unikernel.Protocols.Tests.Dns;

internal static class TestZone
{
    public static string SamplePath
    {
        get
        {
            var dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "examples", "dns", "zones", "example.org.zone")))
            {
                dir = Path.GetDirectoryName(dir);
            }
            return dir is null
                ? throw new InvalidOperationException("examples/dns/zones/example.org.zone not found above the test directory")
                : Path.Combine(dir, "examples", "dns", "zones", "example.org.zone");
        }
    }

    /// <summary>CH TXT answers both servers of the differential give (RFC 4892).</summary>
    public const string Version = "differential-version";
    public const string Identity = "differential-id";

    /// <summary>A second zone whose CNAMEs point into the sample zone (NSD follows them; so must we).</summary>
    public const string OtherZone = """
        $TTL 60
        @ SOA ns.other.test. h.other.test. 1 2 3 4 5
        @ NS ns
        ns A 192.0.2.9
        x CNAME host1.example.org.
        y CNAME nope.example.org.
        z CNAME www.example.org.
        d DNAME example.org.
        """;

    /// <summary>Our responder serving what NSD serves in the differential: the sample zone, the other zone, CH identity.</summary>
    public static DnsResponder DifferentialResponder()
    {
        var other = ZoneFile.Parse(OtherZone, "other.test.zone");
        Assert.True(other.Success, string.Join("\n", other.Errors));
        return new DnsResponder(new ZoneSet([LoadSample(), other.Zone!]), version: Version, id: Identity);
    }

    public static Zone LoadSample()
    {
        var result = ZoneFile.LoadFile(SamplePath);
        Assert.True(result.Success, string.Join("\n", result.Errors));
        return result.Zone!;
    }

    public static DnsName N(string text) => DnsName.TryParse(text, null, out var n, out var e) ? n : throw new ArgumentException(e);

    public static DnsMessage Ask(DnsResponder responder, string name, ushort type, int edns = -1, bool tcp = false, byte ednsVersion = 0, ushort id = 0x4242)
    {
        var query = DnsMessage.Query(N(name), type, id, ednsPayload: edns, ednsVersion: ednsVersion).Encode();
        return Send(responder, query, tcp);
    }

    public static DnsMessage Send(DnsResponder responder, byte[] query, bool tcp = false)
    {
        var buffer = new byte[tcp ? 65535 : 4096];
        var n = responder.Respond(query, buffer, tcp);
        Assert.True(n > 0, "no response");
        Assert.True(DnsMessage.TryParse(buffer.AsSpan(0, n), out var m, out var error), error);
        return m!;
    }

    public static string[] Texts(IEnumerable<DnsRecord> records) => records.Select(r => r.ToString()).Order(StringComparer.Ordinal).ToArray();
}

/// <summary>An in-memory key-value store of text files.</summary>
internal sealed class MemoryStore(Dictionary<string, string> files) : Unikernel.Devices.IKeyValueStore
{
    public IReadOnlyList<string> Keys => files.Keys.Order(StringComparer.Ordinal).ToArray();

    public bool TryGet(string key, out ReadOnlyMemory<byte> value)
    {
        var found = files.TryGetValue(key, out var text);
        value = found ? System.Text.Encoding.UTF8.GetBytes(text!) : default;
        return found;
    }
}
