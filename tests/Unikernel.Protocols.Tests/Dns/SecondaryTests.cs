using Unikernel.Tests;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using DnsAppliance;
using Unikernel.Devices.Testing;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// Issue 12: NSD 4.6 and Knot 3.2 (Debian) as secondaries of the appliance's job: they transfer the zone with TSIG
/// (AXFR; Knot asks IXFR first and gets the AXFR-style answer), answer as we do, and after a reload with a bumped serial
/// the NOTIFY we send makes them fetch the new version (the SOA refresh is 2 hours: nothing else would).
/// </summary>
[Collection("servers")]
public class SecondaryTests
{
    private static readonly string[] Questions =
    [
        "example.org. SOA", "example.org. NS", "example.org. MX", "example.org. A", "example.org. AAAA", "example.org. TXT",
        "example.org. CAA", "host1.example.org. AAAA", "www.example.org. CNAME", "web.example.org. CNAME", "mail.example.org. A",
        "nope.example.org. A", "b.c.example.org. A", "a.b.c.example.org. A", "x.apps.example.org. TXT", "_sip._udp.example.org. SRV",
        "txt.example.org. TXT", "ttl.example.org. A", "unknown.example.org. TYPE65280", "4.2.0.192.example.org. PTR", "ns.sub.example.org. AAAA",
    ];

    [Fact]
    public async Task Nsd_and_knot_transfer_the_zone_with_tsig_answer_alike_and_follow_notify()
    {
        var dir = Directory.CreateTempSubdirectory("dns-secondary.").FullName;
        var zonePath = Path.Combine(dir, "zones", "example.org.zone");
        Directory.CreateDirectory(Path.GetDirectoryName(zonePath)!);
        File.Copy(SamplePath, zonePath);
        var ourPort = TestPorts.Free();
        var nsdPort = TestPorts.Free();
        var knotPort = TestPorts.Free();
        var console = new MemoryConsole { Echo = false };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(170));
        var job = new DnsJob(console, new UnixSocketStack(), new MemoryStore([]), "127.0.0.1", ourPort, [], Path.GetDirectoryName(zonePath)!, "info", "", "",
            [$"{TransferTests.KeyName}:hmac-sha256:{TransferTests.Secret}"], ["127.0.0.1+key:" + TransferTests.KeyName],
            [$"127.0.0.1:{nsdPort}", $"127.0.0.1:{knotPort}"], "");
        var run = job.RunAsync(cts.Token);
        Process? nsd = null;
        Process? knot = null;
        try
        {
            await Until(() => console.Lines.Any(l => l.StartsWith("dns: serving", StringComparison.Ordinal)) || run.IsCompleted, TimeSpan.FromSeconds(20), console);
            Assert.False(run.IsCompleted, string.Join("\n", console.Lines));
            var ours = new IPEndPoint(IPAddress.Loopback, ourPort);
            nsd = StartNsd(dir, nsdPort, ourPort);
            knot = StartKnot(dir, knotPort, ourPort);
            var secondaries = new[] { ("nsd", new IPEndPoint(IPAddress.Loopback, nsdPort)), ("knot", new IPEndPoint(IPAddress.Loopback, knotPort)) };
            foreach (var (name, endPoint) in secondaries)
            {
                await Until(() => Serial(endPoint) == 2026112601, TimeSpan.FromSeconds(30), console, () => Logs(dir, name));
                foreach (var question in Questions)
                {
                    Assert.Equal(Answer(ours, question), Answer(endPoint, question));
                }
            }
            // Without the key the same client is refused.
            var dig = Tools.Run(Tools.Require("dig", "/usr/bin/dig"), ["+tcp", "+time=5", "-p", ourPort.ToString(CultureInfo.InvariantCulture), "@127.0.0.1", "example.org.", "AXFR"], TimeSpan.FromSeconds(30));
            Assert.Contains("Transfer failed", dig.Output, StringComparison.Ordinal);

            // A new version: serial bumped, a record added and one changed; SIGHUP's path (Reload) then NOTIFY.
            var text = File.ReadAllText(zonePath).Replace("2026112601 ; serial", "2026112602 ; serial", StringComparison.Ordinal)
                .Replace("mail    IN A    192.0.2.25", "mail    IN A    192.0.2.26", StringComparison.Ordinal) + "added   IN A    192.0.2.77\n";
            File.WriteAllText(zonePath, text);
            job.Reload();
            foreach (var (name, endPoint) in secondaries)
            {
                await Until(() => Serial(endPoint) == 2026112602, TimeSpan.FromSeconds(30), console, () => Logs(dir, name));
                Assert.Contains("answer added.example.org. 3600 IN A 192.0.2.77", Answer(endPoint, "added.example.org. A"), StringComparison.Ordinal);
                foreach (var question in Questions.Append("added.example.org. A"))
                {
                    Assert.Equal(Answer(ours, question), Answer(endPoint, question));
                }
            }
            // NSD asks AXFR (request-xfr: AXFR); Knot asks IXFR and gets the difference kept across the reload.
            Assert.Contains(console.Lines, l => l.Contains("transfer example.org. serial 2026112602 to 127.0.0.1: AXFR", StringComparison.Ordinal) && l.EndsWith("TSIG xfr-key.", StringComparison.Ordinal));
            Assert.Contains(console.Lines, l => l.Contains("transfer example.org. serial 2026112602 to 127.0.0.1: IXFR incremental from serial 2026112601, 7 records", StringComparison.Ordinal));
            Assert.Contains(console.Lines, l => l.Contains($"notify example.org. serial 2026112602 to 127.0.0.1:{nsdPort}: acknowledged", StringComparison.Ordinal));
            Assert.Contains(console.Lines, l => l.Contains($"notify example.org. serial 2026112602 to 127.0.0.1:{knotPort}: acknowledged", StringComparison.Ordinal));
        }
        finally
        {
            Stop(nsd);
            Stop(knot);
            await cts.CancelAsync();
            await run.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void Stop(Process? p)
    {
        if (p is null)
        {
            return;
        }
        if (!p.HasExited)
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
        }
        p.Dispose();
    }

    private static string Logs(string dir, string name)
    {
        var path = Path.Combine(dir, name, name + ".log");
        return File.Exists(path) ? File.ReadAllText(path) : "(no log)";
    }

    private static Process StartNsd(string root, int port, int primaryPort)
    {
        var nsd = Tools.Require("nsd", "/usr/sbin/nsd");
        var dir = Path.Combine(root, "nsd");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "nsd.conf"), $"""
            server:
                server-count: 1
                ip-address: 127.0.0.1
                port: {port}
                do-ip4: yes
                do-ip6: no
                username: ""
                chroot: ""
                zonesdir: "{dir}"
                database: ""
                zonelistfile: "{dir}/zone.list"
                xfrdfile: "{dir}/xfrd.state"
                xfrdir: "{dir}"
                pidfile: "{dir}/nsd.pid"
                logfile: "{dir}/nsd.log"
                verbosity: 2
                minimal-responses: yes
                rrl-ratelimit: 0
            remote-control:
                control-enable: no
            key:
                name: "{TransferTests.KeyName}"
                algorithm: hmac-sha256
                secret: "{TransferTests.Secret}"
            zone:
                name: "example.org"
                zonefile: "{dir}/example.org.secondary"
                request-xfr: AXFR 127.0.0.1@{primaryPort} {TransferTests.KeyName}
                allow-notify: 127.0.0.1 NOKEY
            """);
        return Process.Start(new ProcessStartInfo(nsd, ["-d", "-c", Path.Combine(dir, "nsd.conf")]) { RedirectStandardError = true, RedirectStandardOutput = true })
            ?? throw new InvalidOperationException("cannot start nsd");
    }

    private static Process StartKnot(string root, int port, int primaryPort)
    {
        var knotd = Tools.Require("knotd", "/usr/sbin/knotd");
        var dir = Path.Combine(root, "knot");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "knot.conf"), $"""
            server:
                rundir: "{dir}"
                listen: 127.0.0.1@{port}
                udp-workers: 1
                tcp-workers: 1
                background-workers: 1
            database:
                storage: "{dir}"
            log:
              - target: "{dir}/knot.log"
                any: info
            key:
              - id: {TransferTests.KeyName}
                algorithm: hmac-sha256
                secret: {TransferTests.Secret}
            remote:
              - id: primary
                address: 127.0.0.1@{primaryPort}
                key: {TransferTests.KeyName}
            acl:
              - id: notify-from-primary
                address: 127.0.0.1
                action: notify
            template:
              - id: default
                storage: "{dir}"
                file: "%s.zone"
            zone:
              - domain: example.org
                master: primary
                acl: notify-from-primary
            """);
        return Process.Start(new ProcessStartInfo(knotd, ["-c", Path.Combine(dir, "knot.conf")]) { RedirectStandardError = true, RedirectStandardOutput = true })
            ?? throw new InvalidOperationException("cannot start knotd");
    }

    private static long Serial(IPEndPoint server)
    {
        var reply = Tools.TryQuery(server, DnsMessage.Query(N("example.org."), DnsType.SOA).Encode(), TimeSpan.FromMilliseconds(300));
        if (reply is null || !DnsMessage.TryParse(reply, out var m, out _) || m!.Answers.Count != 1)
        {
            return -1;
        }
        var data = m.Answers[0].Data;
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(data.Length - 20));
    }

    /// <summary>The rcode, AA flag, answer and authority sections (sorted lines) of a UDP answer to "NAME TYPE".</summary>
    private static string Answer(IPEndPoint server, string question)
    {
        var parts = question.Split(' ');
        Assert.True(DnsType.TryParse(parts[1], out var type));
        var reply = Tools.TryQuery(server, DnsMessage.Query(N(parts[0]), type).Encode(), TimeSpan.FromSeconds(3));
        Assert.NotNull(reply);
        Assert.True(DnsMessage.TryParse(reply, out var m, out var error), error);
        var lines = new List<string> { $"{question}: {DnsRcode.ToName(m!.Flags & 0xF)} aa={(m.Flags & DnsFlags.AA) != 0}" };
        lines.AddRange(m.Answers.Select(r => "answer " + r).Order(StringComparer.Ordinal));
        lines.AddRange(m.Authority.Select(r => "authority " + r).Order(StringComparer.Ordinal));
        return string.Join('\n', lines);
    }

    private static async Task Until(Func<bool> condition, TimeSpan limit, MemoryConsole console, Func<string>? more = null)
    {
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline && !condition())
        {
            await Task.Delay(100);
        }
        Assert.True(condition(), $"not reached within {limit}:\n{string.Join("\n", console.Lines)}\n{more?.Invoke()}");
    }
}
