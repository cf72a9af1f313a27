using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>Issue 12: AXFR/IXFR (RFC 5936, 1995), TSIG (RFC 8945), checked by dnspython, dig and kdig.</summary>
[Collection("servers")]
public class TransferTests
{
    public const string KeyName = "xfr-key";
    public const string Secret = "q5Kp3BPoO9kC0bDXrjd1zX3M4tYV0D2mk0mmC8yTfKA="; // 32 random octets
    public const string OtherSecret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    public static TsigKey Key(string secret = Secret, string algorithm = "hmac-sha256")
    {
        Assert.True(TsigKey.TryParse($"{KeyName}:{algorithm}:{secret}", out var key, out var error), error);
        return key!;
    }

    public static string Script => Path.Combine(Path.GetDirectoryName(SamplePath)!, "..", "..", "..", "tests", "Unikernel.Protocols.Tests", "Dns", "xfr.py");

    public static JsonElement Python(params string[] args)
    {
        var python = Tools.Require("python3", "/usr/bin/python3");
        var (code, output) = Tools.Run(python, [Script, .. args], TimeSpan.FromSeconds(90));
        Assert.True(code == 0, $"xfr.py {string.Join(' ', args)}: {output}");
        return JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
    }

    private static OurServer Server(Zone zone, IReadOnlyList<TransferRule>? rules, TsigKeyring? keys = null)
    {
        var responder = new DnsResponder(new ZoneSet([zone])) { Keys = keys };
        return new OurServer(new DnsServiceOptions
        {
            EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)],
            Transfers = rules is null ? null : new ZoneTransfers(responder, rules),
        }, responder);
    }

    private static TransferRule Rule(string text, TsigKeyring? keys = null)
    {
        Assert.True(TransferRule.TryParse(text, keys, out var rule, out var error), error);
        return rule!;
    }

    /// <summary>A zone of about 400 KiB: its transfer needs several 64 KiB messages.</summary>
    public static string BigZone(int serial = 7)
    {
        var text = new StringBuilder($"$TTL 300\n@ SOA ns hostmaster {serial} 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\n");
        for (var i = 0; i < 3000; i++)
        {
            text.Append($"host{i} A 10.{i / 256}.{i % 256}.1\nhost{i} TXT \"{new string((char)('a' + i % 26), 100)}\"\n");
        }
        return text.ToString();
    }

    [Fact]
    public void Managed_hashes_and_hmacs_match_the_bcl()
    {
        var random = new Random(12);
        for (var length = 0; length < 300; length += 7)
        {
            var data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(SHA1.HashData(data), TsigHash.HashData(TsigAlgorithm.HmacSha1, data));
            Assert.Equal(SHA256.HashData(data), TsigHash.HashData(TsigAlgorithm.HmacSha256, data));
            Assert.Equal(SHA512.HashData(data), TsigHash.HashData(TsigAlgorithm.HmacSha512, data));
            var secret = new byte[length % 150]; // shorter and longer than the block sizes (64 and 128)
            random.NextBytes(secret);
            foreach (var (algorithm, expected) in new[]
            {
                (TsigAlgorithm.HmacSha1, HMACSHA1.HashData(secret, data)),
                (TsigAlgorithm.HmacSha256, HMACSHA256.HashData(secret, data)),
                (TsigAlgorithm.HmacSha512, HMACSHA512.HashData(secret, data)),
            })
            {
                var hmac = new TsigHmac(algorithm, secret);
                hmac.Append(data.AsSpan(0, length / 3)); // in pieces
                hmac.Append(data.AsSpan(length / 3));
                var mac = new byte[hmac.MacSize];
                hmac.Finish(mac);
                Assert.Equal(expected, mac);
            }
        }
    }

    [Fact]
    public void Key_specs_parse_in_the_nsd_dig_and_bind_forms()
    {
        Assert.True(TsigKey.TryParse("k1:hmac-sha512:" + Secret, out var a, out _));
        Assert.Equal(TsigAlgorithm.HmacSha512, a!.Algorithm);
        Assert.True(TsigKey.TryParse("hmac-sha1:K2.Example:" + Secret, out var b, out _));
        Assert.Equal(("k2.example.", TsigAlgorithm.HmacSha1), (b!.Name.ToString(), b.Algorithm));
        Assert.False(TsigKey.TryParse("k3:hmac-md5:" + Secret, out _, out var error));
        Assert.Contains("name:algorithm:base64secret", error, StringComparison.Ordinal);
        Assert.False(TsigKey.TryParse("k4:hmac-sha256:sEcReT!!", out _, out error));
        Assert.DoesNotContain("sEcReT", error, StringComparison.Ordinal); // secrets are not echoed
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, $"key \"bind-key\" {{\n\tsecret \"{Secret}\";\n\talgorithm hmac-sha256;\n}};\nkey other {{ algorithm hmac-sha512; secret \"{OtherSecret}\"; }};\n");
            var errors = new List<string>();
            var keys = TsigKey.ParseAll(["@" + file, "k5:" + Secret], errors);
            Assert.Empty(errors);
            Assert.Equal(["bind-key.", "other.", "k5."], keys.Select(k => k.Name.ToString()));
            Assert.Equal(Convert.FromBase64String(Secret), keys[0].Secret);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Bind_key_clauses_are_read_with_quoted_or_bare_names_and_algorithms_in_any_order()
    {
        var file = Path.GetTempFileName();
        try
        {
            // A comment naming a monkey (no clause), a quoted algorithm with spaces before ';', a clause whose algorithm
            // is unknown (an error naming it, never its secret), and a secret without its ';' (no secret: an error).
            File.WriteAllText(file,
                "# the monkey {not a key}\n"
                + $"key \"a.example\"{{ algorithm \"hmac-sha1\" ; secret   \"{Secret}\" ; }};\n"
                + $"key b {{ secret \"{OtherSecret}\"; algorithm hmac-md5; }};\n"
                + $"key c {{ algorithm hmac-sha512; secret \"{OtherSecret}\" }};\n");
            var errors = new List<string>();
            var keys = TsigKey.ParseAll(["@" + file], errors);
            Assert.Equal(["a.example."], keys.Select(k => k.Name.ToString()));
            Assert.Equal(Convert.FromBase64String(Secret), keys[0].Secret);
            Assert.Equal(2, errors.Count);
            Assert.Contains("key b: unsupported algorithm 'hmac-md5'", errors[0], StringComparison.Ordinal);
            Assert.DoesNotContain(OtherSecret, string.Join("\n", errors), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Signed_queries_are_verified_and_answered_signed_as_dnspython_checks()
    {
        var keys = new TsigKeyring([Key()]);
        var responder = new DnsResponder(new ZoneSet([LoadSample()])) { Keys = keys };
        foreach (var algorithm in new[] { "hmac-sha256", "hmac-sha1", "hmac-sha512" })
        {
            var ring = new TsigKeyring([Key(algorithm: algorithm)]);
            var r = new DnsResponder(new ZoneSet([LoadSample()])) { Keys = ring };
            var signed = Python("sign", "www.example.org.", "A", KeyName, algorithm, Secret);
            var query = Convert.FromHexString(signed.GetProperty("query").GetString()!);
            var response = new byte[4096];
            var n = r.Respond(query, response, tcp: false);
            var verdict = Python("verify", Convert.ToHexString(query), Convert.ToHexString(response, 0, n), KeyName, algorithm, Secret);
            Assert.True(verdict.TryGetProperty("signed", out var s) && s.GetBoolean(), verdict.ToString());
            Assert.Equal("NOERROR", verdict.GetProperty("rcode").GetString());
            Assert.Contains("host1.example.org. 3600 IN A 192.0.2.80", verdict.GetProperty("records").EnumerateArray().Select(e => e.GetString()));
        }
        {
            // The query's time 1000 s before our clock (fudge 300): BADTIME, signed, with our time (RFC 8945 5.2.3).
            var late = new DnsResponder(new ZoneSet([LoadSample()])) { Keys = keys, Clock = () => TsigSigner.Now() + 1000 };
            var signed = Python("sign", "www.example.org.", "A", KeyName, "hmac-sha256", Secret);
            var query = Convert.FromHexString(signed.GetProperty("query").GetString()!);
            var response = new byte[4096];
            var n = late.Respond(query, response, tcp: false);
            var verdict = Python("verify", Convert.ToHexString(query), Convert.ToHexString(response, 0, n), KeyName, "hmac-sha256", Secret);
            Assert.Equal("PeerBadTime", verdict.GetProperty("error").GetString());
        }
        {
            // A wrong MAC: BADSIG, unsigned; an unknown key: BADKEY.
            var wrong = Python("sign", "www.example.org.", "A", KeyName, "hmac-sha256", OtherSecret);
            var query = Convert.FromHexString(wrong.GetProperty("query").GetString()!);
            var response = new byte[4096];
            var n = responder.Respond(query, response, tcp: false);
            Assert.True(DnsMessage.TryParse(response.AsSpan(0, n).ToArray(), out var m, out var e), e);
            Assert.Equal(DnsRcode.NotAuth, m!.Flags & 0xF);
            Assert.Equal(Tsig.BadSig, TsigError(response.AsSpan(0, n)));
            var unknown = Python("sign", "www.example.org.", "A", "nobody", "hmac-sha256", Secret);
            query = Convert.FromHexString(unknown.GetProperty("query").GetString()!);
            n = responder.Respond(query, response, tcp: false);
            Assert.Equal(Tsig.BadKey, TsigError(response.AsSpan(0, n)));
            // A MAC truncated below max(10, half the hash) is a format error (RFC 8945 5.2.2.1).
            query = Convert.FromHexString(Python("sign", "www.example.org.", "A", KeyName, "hmac-sha256", Secret).GetProperty("query").GetString()!);
            var truncated = TruncateMac(query, 8);
            n = responder.Respond(truncated, response, tcp: false);
            Assert.Equal(DnsRcode.FormErr, response[3] & 0xF);
        }
    }

    /// <summary>The query with its TSIG MAC cut to <paramref name="size"/> octets (the record's lengths adjusted).</summary>
    private static byte[] TruncateMac(byte[] query, int size)
    {
        // Our signed queries from dnspython: question, then TSIG (owner "xfr-key.", algorithm "hmac-sha256.").
        var tsigAt = query.Length - (9 + 10 + 13 + 10 + 32 + 6);
        var macAt = tsigAt + 9 + 10 + 13 + 10;
        var result = new List<byte>(query[..(macAt - 2)]);
        result.Add(0);
        result.Add((byte)size);
        result.AddRange(query[macAt..(macAt + size)]);
        result.AddRange(query[(macAt + 32)..]);
        var bytes = result.ToArray();
        var rdLength = (bytes[tsigAt + 9 + 8] << 8 | bytes[tsigAt + 9 + 9]) - (32 - size);
        bytes[tsigAt + 9 + 8] = (byte)(rdLength >> 8);
        bytes[tsigAt + 9 + 9] = (byte)rdLength;
        return bytes;
    }

    /// <summary>The error field of the TSIG record ending the message.</summary>
    private static int TsigError(ReadOnlySpan<byte> message) => (message[^4] << 8) | message[^3];

    [Fact]
    public async Task Transfers_are_refused_by_default_and_to_clients_no_rule_allows()
    {
        var zone = LoadSample();
        await using (var none = Server(zone, rules: null))
        {
            var port = none.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal("REFUSED", Python("axfr", "127.0.0.1", port, "example.org.", SamplePath).GetProperty("rcode").GetString());
            Assert.Equal("REFUSED", Python("uixfr", "127.0.0.1", port, "example.org.", "1").GetProperty("rcode").GetString());
        }
        await using (var empty = Server(zone, rules: []))
        {
            var port = empty.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal("REFUSED", Python("axfr", "127.0.0.1", port, "example.org.", SamplePath).GetProperty("rcode").GetString());
            Assert.Equal("REFUSED", Python("ixfr", "127.0.0.1", port, "example.org.", "1").GetProperty("rcode").GetString());
            Assert.Equal("REFUSED", Python("uixfr", "127.0.0.1", port, "example.org.", "1").GetProperty("rcode").GetString());
        }
        var keys = new TsigKeyring([Key()]);
        await using (var other = Server(zone, [Rule("192.0.2.0/24"), Rule("10.0.0.0/8+key:xfr-key", keys)], keys))
        {
            var port = other.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            // From 127.0.0.1: no rule matches, signed or not.
            Assert.Equal("REFUSED", Python("axfr", "127.0.0.1", port, "example.org.", SamplePath).GetProperty("rcode").GetString());
            Assert.Equal("REFUSED", Python("axfr", "127.0.0.1", port, "example.org.", SamplePath, KeyName, "hmac-sha256", Secret).GetProperty("rcode").GetString());
            var dig = Tools.Run(Tools.Require("dig", "/usr/bin/dig"), ["+tcp", "+time=5", "-p", port, "@127.0.0.1", "example.org.", "AXFR"], TimeSpan.FromSeconds(30));
            Assert.Contains("Transfer failed", dig.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Axfr_to_an_allowed_address_is_the_whole_zone_as_dnspython_and_dig_read_it()
    {
        await using var server = Server(LoadSample(), [Rule("127.0.0.0/8")]);
        var port = server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var result = Python("axfr", "127.0.0.1", port, "example.org.", SamplePath);
        Assert.True(result.GetProperty("equal").GetBoolean(), result.ToString());
        Assert.StartsWith("example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2026112601", result.GetProperty("first")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(result.GetProperty("first")[0].GetString(), result.GetProperty("last")[0].GetString());
        var dig = Tools.Run(Tools.Require("dig", "/usr/bin/dig"), ["+tcp", "+time=5", "+nocmd", "+nostats", "-p", port, "@127.0.0.1", "example.org.", "AXFR"], TimeSpan.FromSeconds(30));
        var lines = dig.Output.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';')).ToList();
        Assert.Equal(LoadSample().RecordCount + 1, lines.Count); // every record, the SOA twice
        Assert.Contains(lines, l => l.StartsWith("ns.sub.example.org.", StringComparison.Ordinal)); // glue too
        // Not a zone we serve (below a zone apex, or elsewhere): refused.
        Assert.Equal("REFUSED", Python("axfr", "127.0.0.1", port, "www.example.org.", SamplePath).GetProperty("rcode").GetString());
    }

    [Fact]
    public async Task Big_signed_axfr_spans_many_messages_each_signed_and_chained()
    {
        var parsed = ZoneFile.Parse(BigZone(), "big.test.zone");
        Assert.True(parsed.Success, string.Join("\n", parsed.Errors));
        var file = Path.Combine(Directory.CreateTempSubdirectory("dns-xfr.").FullName, "big.test.zone");
        File.WriteAllText(file, BigZone());
        try
        {
            var keys = new TsigKeyring([Key()]);
            await using var server = Server(parsed.Zone!, [Rule("key:xfr-key", keys)], keys);
            var port = server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var result = Python("axfr", "127.0.0.1", port, "big.test.", file, KeyName, "hmac-sha256", Secret);
            Assert.True(result.GetProperty("equal").GetBoolean(), result.ToString());
            var messages = result.GetProperty("messages").GetInt32();
            Assert.InRange(messages, 6, 20); // ~6001 records of ~140 octets in 64 KiB messages
            Assert.All(result.GetProperty("signed").EnumerateArray(), s => Assert.True(s.GetBoolean()));
            // Unsigned, or signed with a wrong secret: no transfer.
            Assert.Equal("REFUSED", Python("axfr", "127.0.0.1", port, "big.test.", file).GetProperty("rcode").GetString());
            var bad = Python("axfr", "127.0.0.1", port, "big.test.", file, KeyName, "hmac-sha256", OtherSecret);
            Assert.Equal("PeerBadSignature", bad.GetProperty("error").GetString());
            // dig -y and kdig -y verify every message too.
            var dig = Tools.Run(Tools.Require("dig", "/usr/bin/dig"), ["+tcp", "+time=10", "-y", $"hmac-sha256:{KeyName}:{Secret}", "-p", port, "@127.0.0.1", "big.test.", "AXFR"], TimeSpan.FromSeconds(60));
            Assert.DoesNotContain("failure", dig.Output, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Transfer failed", dig.Output, StringComparison.Ordinal);
            Assert.Equal(6004, dig.Output.Split('\n').Count(l => l.Length > 0 && !l.StartsWith(';') && !l.Contains("\tTSIG\t", StringComparison.Ordinal)));
            Assert.Contains($"XFR size: 6004 records (messages {messages.ToString(System.Globalization.CultureInfo.InvariantCulture)}", dig.Output, StringComparison.Ordinal);
            var kdig = Tools.Run(Tools.Require("kdig", "/usr/bin/kdig"), ["-y", $"hmac-sha256:{KeyName}:{Secret}", "-p", port, "@127.0.0.1", "big.test.", "AXFR"], TimeSpan.FromSeconds(60));
            Assert.DoesNotContain("failed", kdig.Output, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("Received", kdig.Output, StringComparison.Ordinal);
            Assert.Contains("6004 records", kdig.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }

    [Fact]
    public async Task Ixfr_gets_the_soa_when_current_the_whole_zone_otherwise_and_the_soa_over_udp()
    {
        var keys = new TsigKeyring([Key()]);
        await using var server = Server(LoadSample(), [Rule("127.0.0.1")], keys);
        var port = server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var current = Python("ixfr", "127.0.0.1", port, "example.org.", "2026112601");
        Assert.Equal(1, current.GetProperty("records").GetArrayLength());
        Assert.Contains("2026112601", current.GetProperty("records")[0].GetString(), StringComparison.Ordinal);
        var newer = Python("ixfr", "127.0.0.1", port, "example.org.", "2026112700"); // the client is ahead: our SOA
        Assert.Equal(1, newer.GetProperty("records").GetArrayLength());
        var old = Python("ixfr", "127.0.0.1", port, "example.org.", "2026112500", KeyName, "hmac-sha256", Secret);
        Assert.Equal(LoadSample().RecordCount + 1, old.GetProperty("records").GetArrayLength());
        Assert.All(old.GetProperty("signed").EnumerateArray(), s => Assert.True(s.GetBoolean()));
        var udp = Python("uixfr", "127.0.0.1", port, "example.org.", "2026112500");
        Assert.Equal("NOERROR", udp.GetProperty("rcode").GetString());
        Assert.Single(udp.GetProperty("records").EnumerateArray());
        var signedUdp = Python("uixfr", "127.0.0.1", port, "example.org.", "2026112500", KeyName, "hmac-sha256", Secret);
        Assert.True(signedUdp.GetProperty("signed").GetBoolean());
    }

    [Fact]
    public async Task Ixfr_from_a_journaled_serial_gets_the_differences_which_dnspython_applies()
    {
        var versions = new[]
        {
            "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nold A 192.0.2.2\nkeep TXT \"same\"\nttl A 192.0.2.3\n",
            "$TTL 60\n@ SOA ns h 2 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nnew A 192.0.2.4\nkeep TXT \"same\"\nttl 30 A 192.0.2.3\n",
            "$TTL 60\n@ SOA ns h 3 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nnew A 192.0.2.4\nnew AAAA 2001:db8::4\nkeep TXT \"same\"\n",
        };
        var zones = versions.Select(v => ZoneFile.Parse(v, "inc.test.zone")).Select(r => r.Success ? r.Zone! : throw new InvalidOperationException(string.Join("\n", r.Errors))).ToArray();
        var journal = new TransferJournal();
        journal.Add(zones[0], zones[1]);
        journal.Add(zones[1], zones[2]);
        var responder = new DnsResponder(new ZoneSet([zones[2]]));
        await using var server = new OurServer(new DnsServiceOptions
        {
            EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)],
            Transfers = new ZoneTransfers(responder, [Rule("127.0.0.1")]) { Journal = journal },
        }, responder);
        var port = server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var dir = Directory.CreateTempSubdirectory("dns-ixfr.").FullName;
        try
        {
            var paths = versions.Select((v, i) => Path.Combine(dir, $"v{i}.zone")).ToArray();
            for (var i = 0; i < versions.Length; i++)
            {
                File.WriteAllText(paths[i], versions[i]);
            }
            foreach (var (from, expected) in new[] { (0, 1 + 6 + 4 + 1), (1, 1 + 4 + 1) })
            {
                var result = Python("ixfr-apply", "127.0.0.1", port, "inc.test.", paths[from], paths[2]);
                Assert.True(result.GetProperty("equal").GetBoolean(), result.ToString());
                var records = result.GetProperty("records").EnumerateArray().Select(e => e.GetString()!).ToArray();
                Assert.Equal(expected, records.Length); // SOA, then per step: old SOA, deleted, new SOA, added; SOA
                Assert.Contains(" SOA ns.inc.test. h.inc.test. 3 ", records[0], StringComparison.Ordinal);
                Assert.Contains($" SOA ns.inc.test. h.inc.test. {from + 1} ", records[1], StringComparison.Ordinal);
            }
            // A serial the journal does not reach: the whole zone.
            var whole = Python("ixfr", "127.0.0.1", port, "inc.test.", "0");
            Assert.Equal(zones[2].RecordCount + 1, whole.GetProperty("records").GetArrayLength());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Signed_queries_over_the_network_udp_and_tcp()
    {
        var keys = new TsigKeyring([Key()]);
        await using var server = Server(LoadSample(), [], keys);
        var port = server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var tcp in new[] { false, true })
        {
            var r = Python(["query", "127.0.0.1", port, "www.example.org.", "A", KeyName, "hmac-sha256", Secret, .. tcp ? new[] { "tcp" } : []]);
            Assert.Equal("NOERROR", r.GetProperty("rcode").GetString());
            Assert.True(r.GetProperty("signed").GetBoolean());
            Assert.Contains("host1.example.org. 3600 IN A 192.0.2.80", r.GetProperty("records").EnumerateArray().Select(e => e.GetString()));
        }
        var dig = Tools.Run(Tools.Require("dig", "/usr/bin/dig"), ["+time=5", "-y", $"hmac-sha256:{KeyName}:{Secret}", "-p", port, "@127.0.0.1", "www.example.org.", "A"], TimeSpan.FromSeconds(30));
        Assert.Contains("status: NOERROR", dig.Output, StringComparison.Ordinal);
        Assert.Matches(@"xfr-key\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\. \d+ 300 32 \S+ \d+ NOERROR 0", dig.Output);
        Assert.DoesNotContain("failure", dig.Output, StringComparison.OrdinalIgnoreCase);
    }
}
