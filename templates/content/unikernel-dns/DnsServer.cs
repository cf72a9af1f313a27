using System;
using System.Globalization;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;
using Unikernel.Protocols.Dns;

namespace UnikernelApp;

/// <summary>
/// An authoritative DNS server: loads every zone file of <paramref name="zones"/> (a directory read when the
/// appliance starts, see config.cs) and answers over UDP and TCP until stopped.
/// </summary>
public sealed class DnsServer(IConsole console, INetworkStack stack, IKeyValueStore zones, string address, int port) : IJob
{
    public async Job RunAsync(CancellationToken cancellationToken)
    {
        if (!IPAddress.TryParse(address, out var ip) || port is < 0 or > 65535)
        {
            throw new ArgumentException($"cannot listen on '{address}' port {port}");
        }
        var zoneSet = ZoneCatalog.Load(zones, [], line => console.WriteLine("UnikernelApp: " + line), out var failed);
        if (failed > 0 || zoneSet.Count == 0)
        {
            throw new InvalidOperationException($"{failed} zone file(s) did not load, {zoneSet.Count} did (see above)");
        }
        var service = new DnsService(stack, new DnsResponder(zoneSet), new DnsServiceOptions { EndPoints = [new IPEndPoint(ip, port)] });
        service.Bind();
        var inv = CultureInfo.InvariantCulture;
        console.WriteLine($"UnikernelApp: serving {zoneSet.Count.ToString(inv)} zone(s), {zoneSet.RecordCount.ToString(inv)} records on {ip}:{port.ToString(inv)}");
        await service.RunAsync(cancellationToken).ConfigureAwait(false);
    }
}
