using Unikernel.Protocols.Dns;
using Xunit.Abstractions;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// Random and mutated input never throws, never loops and never writes outside the buffers. Fixed seeds and fixed
/// counts (never a time limit: a slow machine runs the same cases), each test reports how many it ran.
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    private static readonly DnsResponder s_responder = new(new ZoneSet([LoadSample()]), cacheCapacity: 256);

    private static byte[][] Seeds()
    {
        var list = new List<byte[]>();
        foreach (var (name, type) in new[] { ("www.example.org.", DnsType.A), ("x.apps.example.org.", DnsType.TXT), ("www.sub.example.org.", DnsType.A), ("example.org.", DnsType.MX), ("nope.example.org.", DnsType.AAAA) })
        {
            list.Add(DnsMessage.Query(N(name), type).Encode());
            list.Add(DnsMessage.Query(N(name), type, ednsPayload: 1232).Encode());
            var buffer = new byte[4096];
            var n = s_responder.Respond(list[^1], buffer);
            list.Add(buffer[..n]); // responses are interesting parser input too
        }
        return [.. list];
    }

    private static void Exercise(byte[] packet, byte[] response, bool tcp)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var n = s_responder.Respond(packet, response, tcp);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.InRange(n, 0, response.Length);
        // Bounded work per packet: a miss allocates a little (the memo entry, small lists), never in proportion to hostile counts.
        Assert.True(allocated < 4 * n + 16 * 1024, $"{allocated} bytes allocated for one packet");
        if (n > 0)
        {
            // Whatever we send must itself be a well-formed message.
            Assert.True(DnsMessage.TryParse(response.AsSpan(0, n), out var m, out var error), error + " for input " + Convert.ToHexString(packet));
            Assert.True(m!.HasFlag(DnsFlags.QR));
        }
        DnsMessage.TryParse(packet, out _, out _);
    }

    [Fact]
    public void Random_packets()
    {
        var random = new Random(1234);
        var response = new byte[1232];
        const int count = 20_000;
        for (var i = 0; i < count; i++)
        {
            var packet = new byte[random.Next(0, 600)];
            random.NextBytes(packet);
            if (packet.Length > 5 && random.Next(2) == 0)
            {
                packet[2] &= 0x07; // mostly queries with opcode 0
                packet[4] = 0;
                packet[5] = 1;
            }
            Exercise(packet, response, tcp: false);
        }
        output.WriteLine($"{count} random packets");
    }

    [Fact]
    public void Mutated_packets()
    {
        var random = new Random(5678);
        var seeds = Seeds();
        var response = new byte[65535];
        var small = new byte[512];
        const int count = 50_000;
        for (var i = 0; i < count; i++)
        {
            var packet = (byte[])seeds[random.Next(seeds.Length)].Clone();
            var mutations = random.Next(1, 6);
            for (var k = 0; k < mutations; k++)
            {
                switch (random.Next(5))
                {
                    case 0:
                        packet[random.Next(packet.Length)] = (byte)random.Next(256);
                        break;
                    case 1:
                        packet[random.Next(packet.Length)] ^= (byte)(1 << random.Next(8));
                        break;
                    case 2:
                        packet = packet[..random.Next(packet.Length + 1)];
                        break;
                    case 3:
                        if (packet.Length > 13)
                        {
                            var at = random.Next(12, packet.Length - 1);
                            packet[at] = (byte)(0xC0 | random.Next(4));
                            packet[at + 1] = (byte)random.Next(256);
                        }
                        break;
                    default:
                        packet = [.. packet, .. new byte[random.Next(1, 20)]];
                        break;
                }
                if (packet.Length == 0)
                {
                    break;
                }
            }
            Exercise(packet, random.Next(2) == 0 ? response : small, tcp: random.Next(4) == 0);
        }
        output.WriteLine($"{count} mutated packets");
    }

    [Fact]
    public void Mutated_zone_text_is_either_rejected_with_a_located_reason_or_loads_a_zone_that_round_trips()
    {
        var random = new Random(42);
        var text = File.ReadAllText(SamplePath);
        const string alphabet = "();\"\\ \t\n$@.*0123456789abcdefABCDEF#:";
        const int count = 2_000;
        var rejected = 0;
        var located = new System.Text.RegularExpressions.Regex(@"^example\.org\.zone(:\d+:\d+)?: \S");
        for (var i = 0; i < count; i++)
        {
            var chars = text.ToCharArray();
            for (var k = random.Next(1, 8); k > 0; k--)
            {
                chars[random.Next(chars.Length)] = alphabet[random.Next(alphabet.Length)];
            }
            var mutated = new string(chars);
            var result = ZoneFile.Parse(mutated, "example.org.zone", null, _ => null);
            if (!result.Success)
            {
                rejected++;
                Assert.NotEmpty(result.Errors);
                foreach (var error in result.Errors)
                {
                    Assert.True(located.IsMatch(error), $"error without file:line:column and reason: '{error}'");
                }
                continue;
            }
            // A zone that loads is written out in presentation format and must read back to the same records.
            var records = result.Zone!.Nodes.SelectMany(n => n.Sets).SelectMany(s => s.Records).ToList();
            var rendered = string.Join("\n", records.Select(r => r.ToString())) + "\n";
            var again = ZoneFile.Parse(rendered, "example.org.zone", null, _ => null);
            Assert.True(again.Success, "rendering of a loaded zone does not load: " + string.Join("\n", again.Errors) + "\n" + rendered);
            Assert.Equal(Texts(records), Texts(again.Zone!.Nodes.SelectMany(n => n.Sets).SelectMany(s => s.Records)));
        }
        output.WriteLine($"{count} mutated zone files, {rejected} rejected, {count - rejected} loaded and round-tripped");
        Assert.InRange(rejected, 1, count - 1); // both paths were exercised
    }
}
