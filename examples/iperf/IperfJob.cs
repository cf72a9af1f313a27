using System;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Iperf;

namespace IperfAppliance;

/// <summary>
/// The iperf3 appliance: an iperf3 server (Unikernel.Protocols.Iperf) that the stock <c>iperf3 -c</c> client measures,
/// over the host's sockets or our direct stack, until cancelled.
/// </summary>
public sealed class IperfJob(IConsole console, INetworkStack stack, string address, int port, int maxDuration, int maxStreams, string logLevel) : IJob
{
    public async Job RunAsync(CancellationToken cancellationToken)
    {
        var level = logLevel.ToLowerInvariant() switch { "debug" or "info" => 1, "warn" or "warning" => 2, "error" => 3, _ => -1 };
        if (level < 0)
        {
            console.WriteLine($"iperf: error: --log-level must be debug, info, warn or error, got '{logLevel}'");
            return;
        }
        if (!IPAddress.TryParse(address, out var ip) || port is < 0 or > 65535 || maxDuration < 1 || maxStreams is < 1 or > 128)
        {
            console.WriteLine($"iperf: error: cannot serve on '{address}' port {port} with --max-duration {maxDuration} and --max-streams {maxStreams} (1 to 128)");
            return;
        }
        var server = new IperfServer(stack, new IperfServerOptions
        {
            EndPoint = new IPEndPoint(ip, port),
            Limits = IperfLimits.Default with { MaxDuration = maxDuration, MaxStreams = maxStreams },
            Log = level <= 1 ? console.WriteLine : null,
        });
        try
        {
            server.Bind();
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or InvalidOperationException or NotSupportedException)
        {
            console.WriteLine($"iperf: error: cannot listen on {ip}:{port}: {e.Message}");
            return;
        }
        if (level <= 2)
        {
            console.WriteLine($"iperf: serving on {server.LocalEndPoint} over the {StackName(stack)} stack (TCP tests, at most {maxStreams} stream(s) and {maxDuration} s)");
        }
        await server.RunAsync(cancellationToken).ConfigureAwait(false);
        if (level <= 1)
        {
            console.WriteLine($"iperf: stopped: {server.Tests} test(s), {server.Completed} completed, {server.Refused} refused, {server.Denied} denied");
        }
    }

    private static string StackName(INetworkStack stack) => stack switch
    {
        UnixSocketStack => "socket",
        Unikernel.Protocols.Net.DirectStack => "direct",
        _ => "in-memory",
    };
}
