using System.Diagnostics;
using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>Random and mutated input never throws, never loops and never writes outside the buffers (fixed seeds, bounded).</summary>
public class FuzzTests
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
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 20_000 && watch.Elapsed < TimeSpan.FromSeconds(20); i++)
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
    }

    [Fact]
    public void Mutated_packets()
    {
        var random = new Random(5678);
        var seeds = Seeds();
        var response = new byte[65535];
        var small = new byte[512];
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 50_000 && watch.Elapsed < TimeSpan.FromSeconds(20); i++)
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
    }

    [Fact]
    public void Mutated_zone_text_never_throws()
    {
        var random = new Random(42);
        var text = File.ReadAllText(SamplePath);
        const string alphabet = "();\"\\ \t\n$@.*0123456789abcdefABCDEF#:";
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 2_000 && watch.Elapsed < TimeSpan.FromSeconds(20); i++)
        {
            var chars = text.ToCharArray();
            for (var k = random.Next(1, 8); k > 0; k--)
            {
                chars[random.Next(chars.Length)] = alphabet[random.Next(alphabet.Length)];
            }
            var result = ZoneFile.Parse(new string(chars), "example.org.zone", null, _ => null);
            Assert.True(result.Success || result.Errors.Count > 0);
        }
    }
}
