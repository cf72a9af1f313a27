using System.Net;
using System.Text.RegularExpressions;
using DnsAppliance;
using Unikernel.Devices.Testing;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>The appliance's job (examples/dns/DnsJob.cs, compiled into this test assembly) end to end on loopback.</summary>
[Collection("servers")]
public partial class DnsJobTests
{
    [GeneratedRegex(@"udp 127\.0\.0\.1:(\d+)")]
    private static partial Regex UdpPort();

    [Fact]
    public async Task Serves_compiled_in_and_file_zones_and_reports_bad_ones()
    {
        var console = new MemoryConsole { Echo = false };
        var data = new MemoryStore(new()
        {
            ["good.test.zone"] = "@ 60 SOA ns h 1 2 3 4 5\nwww 60 A 192.0.2.7\n",
            ["bad.test.zone"] = "@ 60 SOA ns h 1 2 3 4 5\nwww 60 A 999.0.0.1\n",
        });
        var job = new DnsJob(console, new UnixSocketStack(), data, "127.0.0.1", 0, [SamplePath], "", "info", "", "", [], [], [], "");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var run = job.RunAsync(cts.Token);
        string? summary = null;
        for (var i = 0; i < 200 && summary is null; i++)
        {
            summary = console.Lines.FirstOrDefault(l => l.StartsWith("dns: serving", StringComparison.Ordinal));
            await Task.Delay(25);
        }
        Assert.NotNull(summary);
        Assert.Contains("2 zone(s)", summary, StringComparison.Ordinal);
        Assert.Contains("1 zone(s) NOT loaded", summary, StringComparison.Ordinal);
        Assert.Contains("tcp 127.0.0.1:", summary, StringComparison.Ordinal);
        Assert.Contains(console.Lines, l => l.Contains("bad.test.zone:2:10: '999.0.0.1' is not an IPv4 address", StringComparison.Ordinal));
        var port = int.Parse(UdpPort().Match(summary).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        foreach (var (name, expected) in new[] { ("www.good.test.", "192.0.2.7"), ("host1.example.org.", "192.0.2.80") })
        {
            var response = Tools.TryQuery(endPoint, DnsMessage.Query(N(name), DnsType.A).Encode(), TimeSpan.FromSeconds(5));
            Assert.NotNull(response);
            Assert.True(DnsMessage.TryParse(response, out var m, out _));
            Assert.EndsWith(expected, m!.Answers[0].ToString(), StringComparison.Ordinal);
        }
        await cts.CancelAsync();
        await run.AsTask().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Contains(console.Lines, l => l.StartsWith("dns: stopped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Zones_directory_replaces_compiled_in_zones_and_bad_address_is_reported()
    {
        var dir = Directory.CreateTempSubdirectory("dnsjob.").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "dir.test.zone"), "@ 60 SOA ns h 1 2 3 4 5\n");
            var console = new MemoryConsole { Echo = false };
            var data = new MemoryStore(new() { ["compiled.test.zone"] = "@ 60 SOA ns h 1 2 3 4 5\n" });
            using var cts = new CancellationTokenSource();
            var run = new DnsJob(console, new UnixSocketStack(), data, "127.0.0.1", 0, [], dir, "info", "", "", [], [], [], "").RunAsync(cts.Token);
            for (var i = 0; i < 200 && !console.Lines.Any(l => l.StartsWith("dns: serving", StringComparison.Ordinal)); i++)
            {
                await Task.Delay(25);
            }
            Assert.Contains(console.Lines, l => l.Contains("[dir.test.]", StringComparison.Ordinal));
            await cts.CancelAsync();
            await run.AsTask().WaitAsync(TimeSpan.FromSeconds(15));

            var bad = new MemoryConsole { Echo = false };
            await new DnsJob(bad, new UnixSocketStack(), data, "not-an-address", 53, [], "", "info", "", "", [], [], [], "").RunAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(15));
            Assert.Contains(bad.Lines, l => l.Contains("cannot listen on 'not-an-address'", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
