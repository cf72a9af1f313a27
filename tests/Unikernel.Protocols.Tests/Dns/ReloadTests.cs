using System.Net;
using DnsAppliance;
using Unikernel.Devices.Testing;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>Issue 12: zone reload without restart, atomic, a bad new version keeps the old one serving.</summary>
[Collection("servers")]
public class ReloadTests
{
    private static Zone Version(int v)
    {
        // Version v: the MX points at mail{v}, whose address (additional section) carries v too.
        var result = ZoneFile.Parse($"$TTL 60\n@ SOA ns h {v} 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n@ MX 10 mail{v}\nmail{v} A 192.0.2.{v}\n", "example.org.zone");
        Assert.True(result.Success, string.Join("\n", result.Errors));
        return result.Zone!;
    }

    [Fact]
    public async Task Queries_during_many_reloads_always_see_one_whole_version()
    {
        var versions = new[] { Version(1), Version(2) };
        var responder = new DnsResponder(new ZoneSet([versions[0]]));
        using var stop = new CancellationTokenSource();
        var swapper = Task.Run(() =>
        {
            for (var i = 0; i < 1_000_000 && !stop.IsCancellationRequested; i++)
            {
                responder.Replace(new ZoneSet([versions[i % 2]]));
            }
        });
        var seen = new HashSet<int>();
        for (var i = 0; i < 4000; i++)
        {
            if (i % 500 == 0)
            {
                responder.Replace(new ZoneSet([versions[i / 500 % 2]])); // both versions surely seen, whatever the scheduling
            }
            var m = Ask(responder, "example.org.", DnsType.MX);
            var mx = Assert.Single(m.Answers).ToString();
            var v = mx.EndsWith("mail1.example.org.", StringComparison.Ordinal) ? 1 : 2;
            seen.Add(v);
            Assert.Equal($"mail{v}.example.org. 60 IN A 192.0.2.{v}", Assert.Single(m.Additional).ToString());
        }
        await stop.CancelAsync();
        await swapper.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, seen.Count);
    }

    [Fact]
    public async Task Job_reload_serves_the_new_zone_and_keeps_the_old_one_when_the_new_one_is_bad()
    {
        var dir = Directory.CreateTempSubdirectory("dns-reload.").FullName;
        var console = new MemoryConsole { Echo = false };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            var path = Path.Combine(dir, "r.test.zone");
            File.WriteAllText(path, "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.10\n");
            var job = new DnsJob(console, new UnixSocketStack(), new MemoryStore([]), "127.0.0.1", 0, [], dir, "info", "", "", [], [], [], "");
            var run = job.RunAsync(cts.Token);
            var port = await PortOf(console);
            var endPoint = new IPEndPoint(IPAddress.Loopback, port);
            Assert.Equal("www.r.test. 60 IN A 192.0.2.10", Answer(endPoint, "www.r.test."));
            File.WriteAllText(path, "$TTL 60\n@ SOA ns h 2 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.11\nnew A 192.0.2.12\n");
            job.Reload();
            await Until(() => job.Reloads == 1);
            Assert.Equal("www.r.test. 60 IN A 192.0.2.11", Answer(endPoint, "www.r.test."));
            Assert.Equal("new.r.test. 60 IN A 192.0.2.12", Answer(endPoint, "new.r.test."));
            File.WriteAllText(path, "$TTL 60\n@ SOA ns h 3 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.999\n");
            job.Reload();
            await Until(() => job.Reloads == 2);
            Assert.Contains(console.Lines, l => l.Contains("r.test.zone:5:7: '192.0.2.999' is not an IPv4 address", StringComparison.Ordinal));
            Assert.Contains(console.Lines, l => l.Contains("keeping the previous version", StringComparison.Ordinal));
            Assert.Equal("www.r.test. 60 IN A 192.0.2.11", Answer(endPoint, "www.r.test."));
            await cts.CancelAsync();
            await run.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string Answer(IPEndPoint endPoint, string name)
    {
        var reply = Tools.TryQuery(endPoint, DnsMessage.Query(N(name), DnsType.A).Encode(), TimeSpan.FromSeconds(5));
        Assert.NotNull(reply);
        Assert.True(DnsMessage.TryParse(reply, out var m, out var error), error);
        return Assert.Single(m!.Answers).ToString();
    }

    private static async Task<int> PortOf(MemoryConsole console)
    {
        for (var i = 0; i < 400; i++)
        {
            var line = console.Lines.FirstOrDefault(l => l.StartsWith("dns: serving", StringComparison.Ordinal));
            if (line is not null)
            {
                var at = line.IndexOf("udp 127.0.0.1:", StringComparison.Ordinal) + "udp 127.0.0.1:".Length;
                return int.Parse(line[at..].Split(',', ' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            }
            await Task.Delay(25);
        }
        Assert.Fail("the job did not start: " + string.Join("\n", console.Lines));
        return 0;
    }

    private static async Task Until(Func<bool> condition)
    {
        for (var i = 0; i < 600 && !condition(); i++)
        {
            await Task.Delay(25);
        }
        Assert.True(condition(), "not reached within 15 s");
    }
}
