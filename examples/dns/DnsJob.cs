using System;
using System.Collections.Generic;
using System.Globalization;
using System.Net;
using System.Threading;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Dns;

namespace DnsAppliance;

/// <summary>
/// The authoritative DNS appliance: loads zones (compiled-in, or <c>--zones DIR</c>, plus each <c>--zone FILE</c>),
/// then serves them on UDP and TCP until cancelled. <c>--chaos-version</c>/<c>--chaos-id</c> are the CH TXT answers
/// for version.bind and id.server (RFC 4892); empty: refused. <c>--tsig-key</c>, <c>--allow-transfer</c>, <c>--notify</c>
/// and <c>--notify-key</c>: TSIG keys, who may transfer zones (AXFR/IXFR), and the secondaries NOTIFYed when a zone
/// changes (at start-up and after a reload that changes its serial). The logic lives in Unikernel.Protocols.Dns.
/// </summary>
/// <remarks>
/// The files it is given (<c>--zones</c>, <c>--zone</c>, <c>--tsig-key @FILE</c>) are read in <see cref="StartAsync"/>,
/// which runs before a sealed image seals itself (the VM images are sealed by default): a sealed image opens no file
/// after start, so its SIGHUP reload keeps file-backed zones as they are and says so.
/// </remarks>
[SystemCalls("rt_sigaction", Reason = "SIGHUP reloads the zones")]
public sealed class DnsJob(IConsole console, INetworkStack stack, IKeyValueStore data, string address, int port, string[] zone, string zones, string logLevel, string chaosVersion, string chaosId,
    string[] tsigKey, string[] allowTransfer, string[] notify, string notifyKey) : IJob, IStartable
{
    // A pending reload request, or the job waiting for one (no SemaphoreSlim: its WaitAsync links Task, issue 17).
    private readonly Lock _reloadGate = new();
    private bool _reloadPending;
    private JobSource? _reloadWaiter;
    private long _reloads;
    private Loaded? _loaded;

    /// <summary>What the files gave: the zones (null when the --zones directory cannot be read), the zones that failed, the TSIG keys and problems.</summary>
    private sealed record Loaded(ZoneSet? Zones, int Failed, List<TsigKey> Keys, List<string> Problems);

    /// <summary>Reads the zones and key files now, before the appliance is sealed (the generated Main starts every IStartable first).</summary>
    public Job StartAsync(CancellationToken cancellationToken)
    {
        _loaded ??= Load();
        return Job.CompletedJob;
    }

    private Loaded Load()
    {
        var problems = new List<string>();
        var keys = TsigKey.ParseAll(tsigKey, problems);
        var store = OpenStore();
        if (store is null)
        {
            return new Loaded(null, 0, keys, problems);
        }
        var zoneSet = ZoneCatalog.Load(store, zone, line => console.WriteLine("dns: " + line), out var failed);
        return new Loaded(zoneSet, failed, keys, problems);
    }

    /// <summary>Whether its zones come from files (which a sealed image cannot read again).</summary>
    private bool ZonesFromFiles => zones.Length > 0 || zone.Length > 0;

    /// <summary>Reloads completed (after <see cref="Reload"/> or SIGHUP).</summary>
    public long Reloads => Interlocked.Read(ref _reloads);

    /// <summary>Asks the running job to load its zones again (what SIGHUP does); several requests may merge into one.</summary>
    public void Reload()
    {
        JobSource? waiter;
        lock (_reloadGate)
        {
            waiter = _reloadWaiter;
            _reloadWaiter = null;
            _reloadPending = waiter is null; // several requests before the next wait merge into one
        }
        waiter?.TrySetResult();
    }

    /// <summary>Completes on the next reload request (at once if one is pending) or when <see cref="Wake"/> is called.</summary>
    private Job NextReload(CancellationToken cancellationToken)
    {
        lock (_reloadGate)
        {
            // The token is checked under the lock Wake takes: a cancellation either is seen here or wakes the waiter.
            if (cancellationToken.IsCancellationRequested)
            {
                return Job.CompletedJob;
            }
            if (_reloadPending)
            {
                _reloadPending = false;
                return Job.CompletedJob;
            }
            return (_reloadWaiter ??= new JobSource()).Job;
        }
    }

    /// <summary>Ends the current wait for a reload without one (the job is being cancelled).</summary>
    private void Wake()
    {
        JobSource? waiter;
        lock (_reloadGate)
        {
            waiter = _reloadWaiter;
            _reloadWaiter = null;
        }
        waiter?.TrySetResult();
    }

    /// <summary>The zones of <paramref name="after"/> that are new or whose SOA serial differs from <paramref name="before"/>.</summary>
    private static List<Zone> ChangedZones(ZoneSet before, ZoneSet after)
    {
        var changed = new List<Zone>();
        foreach (var z in after.Zones)
        {
            var old = before.FindZone(z.Origin.Key);
            if (old is null || !old.Origin.Equals(z.Origin) || Serial(old) != Serial(z))
            {
                changed.Add(z);
            }
        }
        return changed;
    }

    private static uint Serial(Zone z) => System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(z.Soa.Data.AsSpan(z.Soa.Data.Length - 20));

    private IKeyValueStore? OpenStore()
    {
        if (zones.Length == 0)
        {
            return data;
        }
        try
        {
            return new DirectoryKeyValueStore(zones); // read afresh: files may have changed
        }
        catch (Exception e) when (e is System.IO.IOException or UnauthorizedAccessException)
        {
            console.WriteLine($"dns: error: --zones {zones}: {e.Message}");
            return null;
        }
    }

    public async Job RunAsync(CancellationToken cancellationToken)
    {
        var level = logLevel.ToLowerInvariant() switch { "debug" => 0, "info" => 1, "warn" or "warning" => 2, "error" => 3, _ => 1 };
        if (!IPAddress.TryParse(address, out var ip) || port is < 0 or > 65535)
        {
            console.WriteLine($"dns: error: cannot listen on '{address}' port {port}");
            return;
        }
        // Read in StartAsync when the generated Main runs the job (before sealing); a caller that only runs it reads now.
        var loaded = _loaded ??= Load();
        if (loaded.Zones is not { } zoneSet)
        {
            return;
        }
        var failed = loaded.Failed;
        if (level == 0)
        {
            foreach (var z in zoneSet.Zones)
            {
                console.WriteLine($"dns: zone {z}");
            }
        }
        // Zone transfers, TSIG and NOTIFY (RFC 5936, 1995, 8945, 1996): a bad key, rule or target stops the start.
        var problems = new List<string>(loaded.Problems);
        var keys = loaded.Keys;
        var keyring = keys.Count > 0 ? new TsigKeyring(keys) : null;
        var rules = new List<TransferRule>();
        foreach (var text in allowTransfer)
        {
            if (TransferRule.TryParse(text, keyring, out var rule, out var error))
            {
                rules.Add(rule!);
            }
            else
            {
                problems.Add(error);
            }
        }
        var secondaries = new List<IPEndPoint>();
        foreach (var text in notify)
        {
            if (NotifySender.TryParseTarget(text, out var target))
            {
                secondaries.Add(target!);
            }
            else
            {
                problems.Add($"--notify '{text}': not an address or address:port");
            }
        }
        TsigKey? notifySigner = null;
        if (notifyKey.Length > 0 && (notifySigner = keyring?.FindByName(notifyKey)) is null)
        {
            problems.Add($"--notify-key {notifyKey}: no such TSIG key (give it with --tsig-key)");
        }
        foreach (var problem in problems)
        {
            console.WriteLine("dns: error: " + problem);
        }
        if (problems.Count > 0)
        {
            return;
        }
        var responder = new DnsResponder(zoneSet, version: chaosVersion.Length > 0 ? chaosVersion : null, id: chaosId.Length > 0 ? chaosId : null) { Keys = keyring };
        var journal = new TransferJournal();
        var transfers = rules.Count > 0 || keyring is not null ? new ZoneTransfers(responder, rules) { Journal = journal, Log = level <= 1 ? line => console.WriteLine("dns: " + line) : null } : null;
        var service = new DnsService(stack, responder, new DnsServiceOptions
        {
            EndPoints = [new IPEndPoint(ip, port)],
            UdpThreads = Math.Max(1, Environment.ProcessorCount / 2),
            Log = line => console.WriteLine("dns: " + line),
            Transfers = transfers,
        });
        var notifier = secondaries.Count > 0 ? new NotifySender(stack, secondaries, notifySigner, line => console.WriteLine("dns: " + line)) : null;
        try
        {
            service.Bind();
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or InvalidOperationException)
        {
            console.WriteLine($"dns: error: cannot listen on {ip}:{port}: {e.Message}");
            return;
        }
        if (service.TcpUnavailable is not null && level <= 2)
        {
            console.WriteLine($"dns: warning: serving UDP only: {service.TcpUnavailable}");
        }
        var names = new List<string>();
        foreach (var z in zoneSet.Zones)
        {
            names.Add(z.Origin.ToString());
        }
        var endpoints = new List<string>();
        foreach (var ep in service.UdpEndPoints)
        {
            endpoints.Add("udp " + ep);
        }
        foreach (var ep in service.TcpEndPoints)
        {
            endpoints.Add("tcp " + ep);
        }
        if (level <= 2)
        {
            var inv = CultureInfo.InvariantCulture;
            console.WriteLine($"dns: serving {zoneSet.Count.ToString(inv)} zone(s) [{string.Join(", ", names)}], {zoneSet.RecordCount.ToString(inv)} records"
                + (failed > 0 ? $", {failed.ToString(inv)} zone(s) NOT loaded (see above)" : "")
                + $"; listening on {string.Join(", ", endpoints)}");
        }
        // Zone reload without restart: SIGHUP (or Reload()) loads every zone again and swaps them in atomically; a
        // zone that no longer loads keeps its previous version, its errors logged at file:line:column.
        // Through Unikernel.Runtime.Signals, not PosixSignalRegistration: the host handles SIGINT and SIGTERM that way,
        // and the two would take System.Native's one signal callback from each other. The signal does not terminate.
        using var hangup = OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()
            ? Unikernel.Runtime.Signals.Handle(System.Runtime.InteropServices.PosixSignal.SIGHUP, Reload)
            : null;
        if (level <= 1 && transfers is not null)
        {
            console.WriteLine(rules.Count == 0 ? "dns: zone transfers: refused to all" : $"dns: zone transfers allowed to: {string.Join(", ", rules)}");
        }
        var serving = service.RunAsync(cancellationToken);
        var notifying = new List<Job>();
        using var wake = cancellationToken.UnsafeRegister(static state => ((DnsJob)state!).Wake(), this);
        if (notifier is not null)
        {
            notifying.Add(notifier.NotifyAsync(zoneSet.Zones, cancellationToken));
        }
        while (!serving.IsCompleted)
        {
            await NextReload(cancellationToken);
            if (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            if (ZonesFromFiles && Unikernel.Runtime.Seal.IsSealed)
            {
                // A sealed image opens no file after start: the files were read once, before sealing.
                console.WriteLine("dns: reload: a sealed image reads no file after start: keeping every zone as it was (restart it to serve changed zone files)");
                continue;
            }
            var reloadStore = OpenStore();
            if (reloadStore is null)
            {
                console.WriteLine("dns: reload: keeping every zone as it was");
                continue;
            }
            var reloaded = ZoneCatalog.Reload(responder.Zones, reloadStore, zone, line => console.WriteLine("dns: reload: " + line), out var reloadFailed);
            var before = responder.Zones;
            if (transfers is not null)
            {
                foreach (var z in reloaded.Zones)
                {
                    if (before.FindZone(z.Origin.Key) is { } old && old.Origin.Equals(z.Origin) && !ReferenceEquals(old, z))
                    {
                        journal.Add(old, z); // for incremental IXFR
                    }
                }
            }
            responder.Replace(reloaded);
            Interlocked.Increment(ref _reloads);
            if (notifier is not null)
            {
                notifying.RemoveAll(t => t.IsCompleted);
                notifying.Add(notifier.NotifyAsync(ChangedZones(before, reloaded), cancellationToken));
            }
            console.WriteLine($"dns: reloaded: {reloaded.Count.ToString(CultureInfo.InvariantCulture)} zone(s), {reloaded.RecordCount.ToString(CultureInfo.InvariantCulture)} records"
                + (reloadFailed > 0 ? $", {reloadFailed.ToString(CultureInfo.InvariantCulture)} zone(s) failed (see above)" : ""));
        }
        await serving;
        foreach (var n in notifying)
        {
            await n;
        }
        if (level <= 1)
        {
            console.WriteLine($"dns: stopped: udp {service.UdpQueries} queries, tcp {service.TcpQueries} queries on {service.TcpConnections} connections, memo cache {responder.CacheHits} hits / {responder.CacheMisses} misses, {service.Faults} fault(s)");
        }
    }
}
