using System;
using System.Globalization;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;
using Unikernel.Protocols.OpenFlow;

namespace OpenFlowControllerAppliance;

/// <summary>Runs the MAC-learning <see cref="LearningController"/> on the given stack until cancelled.</summary>
public sealed class ControllerJob(IConsole console, INetworkStack stack, string address, int port, int idleTimeout, int hardTimeout, int maxSwitches, int maxMacs, string logLevel) : IJob
{
    public async Job RunAsync(CancellationToken cancellationToken)
    {
        var level = logLevel.ToLowerInvariant() switch { "debug" => 0, "info" => 1, "warn" or "warning" => 2, "error" => 3, _ => 1 };
        if (!IPAddress.TryParse(address, out var ip) || port is < 0 or > 65535)
        {
            console.WriteLine($"openflow-controller: error: cannot listen on '{address}' port {port}");
            return;
        }
        if (idleTimeout is < 0 or > ushort.MaxValue || hardTimeout is < 0 or > ushort.MaxValue || maxSwitches < 1 || maxMacs < 1)
        {
            console.WriteLine("openflow-controller: error: timeouts must be 0..65535 seconds, --max-switches and --max-macs at least 1");
            return;
        }
        var controller = new LearningController(stack, new LearningControllerOptions
        {
            EndPoint = new IPEndPoint(ip, port),
            IdleTimeout = (ushort)idleTimeout,
            HardTimeout = (ushort)hardTimeout,
            MaxSwitches = maxSwitches,
            MaxMacsPerSwitch = maxMacs,
        }, level <= 1 ? line => console.WriteLine("openflow-controller: " + line) : null);
        try
        {
            controller.Listen();
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or NotSupportedException or InvalidOperationException)
        {
            console.WriteLine($"openflow-controller: error: cannot listen on {ip}:{port}: {e.Message}");
            return;
        }
        if (level <= 2)
        {
            console.WriteLine($"openflow-controller: listening on tcp {controller.LocalEndPoint} (OpenFlow 1.0 and 1.3, MAC learning, idle {idleTimeout} s, hard {hardTimeout} s)");
        }
        await controller.RunAsync(cancellationToken).ConfigureAwait(false);
        if (level <= 1)
        {
            var inv = CultureInfo.InvariantCulture;
            console.WriteLine($"openflow-controller: stopped: {controller.SwitchesConnected.ToString(inv)} switch connection(s), {controller.PacketIns.ToString(inv)} packet_in, {controller.FlowMods.ToString(inv)} flow_mod, {controller.PacketOuts.ToString(inv)} packet_out, {controller.FlowsRemoved.ToString(inv)} flow_removed");
        }
    }
}
