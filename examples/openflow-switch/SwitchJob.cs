using System;
using System.Globalization;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;
using Unikernel.Protocols.OpenFlow;

namespace OpenFlowSwitchAppliance;

/// <summary>
/// Runs a <see cref="SoftwareSwitch"/> over two network interfaces, controlled by the given controller in OpenFlow 1.0 or
/// 1.3 (whichever the controller's hello allows, 1.3 first: an 8-table pipeline; 1.0: one table).
/// </summary>
public sealed class SwitchJob(IConsole console, IMonotonicClock clock, ITime time, INetworkStack stack, INetworkInterface port1, INetworkInterface port2, string controller, string datapathId, int maxFlows, string listen, string logLevel) : IJob
{
    public async Job RunAsync(CancellationToken cancellationToken)
    {
        var level = logLevel.ToLowerInvariant() switch { "debug" => 0, "info" => 1, "warn" or "warning" => 2, "error" => 3, _ => 1 };
        if (!IPEndPoint.TryParse(controller, out var endPoint) || endPoint.Port == 0)
        {
            console.WriteLine($"openflow-switch: error: --controller '{controller}' is not ADDRESS:PORT");
            return;
        }
        ulong dpid = 0;
        if (datapathId.Length > 0 && !ulong.TryParse(datapathId, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out dpid))
        {
            console.WriteLine($"openflow-switch: error: --datapath-id '{datapathId}' is not a hexadecimal number");
            return;
        }
        IPEndPoint? management = null;
        if (listen.Length > 0 && (!IPEndPoint.TryParse(listen, out management) || management.Port == 0))
        {
            console.WriteLine($"openflow-switch: error: --listen '{listen}' is not ADDRESS:PORT");
            return;
        }
        if (maxFlows < 1)
        {
            console.WriteLine("openflow-switch: error: --max-flows must be at least 1");
            return;
        }
        var sw = new SoftwareSwitch([port1, port2], stack.Tcp, clock, time, new SoftwareSwitchOptions
        {
            Controller = endPoint,
            DatapathId = dpid,
            MaxFlows = maxFlows,
            Listen = management,
        }, level <= 1 ? line => console.WriteLine("openflow-switch: " + line) : null);
        if (level <= 2)
        {
            console.WriteLine($"openflow-switch: datapath {sw.DatapathId:x16}, 2 ports, controller {endPoint} (OpenFlow 1.0 and 1.3)");
        }
        await sw.RunAsync(cancellationToken).ConfigureAwait(false);
        if (level <= 1)
        {
            var inv = CultureInfo.InvariantCulture;
            var p1 = sw.PortCounters(1);
            var p2 = sw.PortCounters(2);
            console.WriteLine($"openflow-switch: stopped: {(sw.Flows.Count + sw.Flows13.Count).ToString(inv)} flow(s), {sw.PacketIns.ToString(inv)} packet_in ({sw.PacketInsDropped.ToString(inv)} dropped), port 1 rx {p1.RxPackets.ToString(inv)} tx {p1.TxPackets.ToString(inv)}, port 2 rx {p2.RxPackets.ToString(inv)} tx {p2.TxPackets.ToString(inv)}");
        }
    }
}
