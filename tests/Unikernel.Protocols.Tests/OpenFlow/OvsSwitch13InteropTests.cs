using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using Unikernel.Devices.Testing;
using Unikernel.Devices.Unix;
using Unikernel.OpenFlow.Testing;
using Unikernel.Protocols.OpenFlow;
using Xunit.Abstractions;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>
/// ovs-ofctl 3.1 with <c>-O OpenFlow13</c> manages our switch through its management listener: flows in several
/// tables with OXM matches and instructions, what ovs-ofctl prints back, traffic through them, port changes, deletes;
/// and every message ovs-ofctl sent round-trips through our 1.3 codecs.
/// </summary>
[Collection("ovs")]
public sealed class OvsSwitch13InteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Ovs_ofctl_speaking_1_3_manages_our_switch()
    {
        OfLabTools.RequireOfctl();
        using var lab = OvsLab.Create();
        var links = new[] { new VirtualSwitch(seed: 1), new VirtualSwitch(seed: 2) };
        var ports = links.Select((l, i) => l.AddPort([2, 0, 0, 0, 0x10, (byte)(i + 1)])).ToArray();
        var hosts = links.Select((l, i) => l.AddPort([2, 0, 0, 0, 0x20, (byte)(i + 1)])).ToArray();
        var tcp = new RecordingTcp(new UnixSocketStack().Tcp);
        var log = new ConcurrentQueue<string>();
        var sw = new SoftwareSwitch(ports, tcp, new UnixMonotonicClock(), new UnixTime(), new SoftwareSwitchOptions
        {
            Controller = new IPEndPoint(IPAddress.Loopback, 9), // nobody: this switch is managed through its listener only
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            ReconnectDelay = TimeSpan.FromSeconds(5),
        }, log.Enqueue);
        using var stop = new CancellationTokenSource();
        var running = sw.RunAsync(stop.Token);
        CommandResult Ofctl(params string[] arguments) => lab.Run("ovs-ofctl", ["-O", "OpenFlow13", .. arguments]);
        try
        {
            lab.WaitFor(() => tcp.ListenerEndPoint is not null, "the switch's management listener");
            var target = $"tcp:127.0.0.1:{tcp.ListenerEndPoint!.Port}";

            var show = Ofctl("show", target).Check().Output;
            output.WriteLine(show);
            Assert.Contains("n_tables:8, n_buffers:256", show, StringComparison.Ordinal);
            Assert.Contains("1(port1): addr:02:00:00:00:10:01", show, StringComparison.Ordinal);
            Assert.Contains("speed: 1000 Mbps now, 1000 Mbps max", show, StringComparison.Ordinal);

            // Two tables: table 0 tags and sets the metadata, table 1 rewrites and outputs.
            Ofctl("add-flow", target, "table=0,priority=100,in_port=1,dl_type=0x0800,nw_dst=10.0.0.0/8,actions=push_vlan:0x8100,set_field:4101->vlan_vid,write_metadata:0x5/0xff,goto_table:1").Check();
            Ofctl("add-flow", target, "table=1,priority=10,ip,metadata=0x5/0xff,actions=set_field:10.0.0.9->ip_dst,dec_ttl,write_actions(output:2)").Check();
            Ofctl("add-flow", target, "table=0,priority=0,actions=CONTROLLER:65535").Check();
            Assert.Equal(3, sw.Flows13.Count);

            var dump = Ofctl("dump-flows", target).Check().Output;
            output.WriteLine(dump);
            Assert.Contains("priority=100,ip,in_port=1,nw_dst=10.0.0.0/8 actions=push_vlan:0x8100,set_field:4101->vlan_vid,write_metadata:0x5/0xff,goto_table:1", dump, StringComparison.Ordinal);
            Assert.Contains("table=1,", dump, StringComparison.Ordinal);
            Assert.Contains("priority=10,ip,metadata=0x5/0xff actions=set_field:10.0.0.9->ip_dst,dec_ttl,write_actions(output:2)", dump, StringComparison.Ordinal);
            Assert.Contains("priority=0 actions=CONTROLLER:65535", dump, StringComparison.Ordinal);

            var frame = Frames.Udp(0x02000000000a, 0x02000000000b, 0x0a000001, 0x0a000002, 1000, 2000, 40);
            Frames.Send(hosts[0], frame);
            var tagged = Assert.Single(Frames.Receive(hosts[1], Wait));
            Assert.Equal(frame.Length + 4, tagged.Length);
            Assert.Equal(0x81000005u, BinaryPrimitives.ReadUInt32BigEndian(tagged.AsSpan(12)));
            Assert.Equal(0x0a000009u, BinaryPrimitives.ReadUInt32BigEndian(tagged.AsSpan(18 + 16)));
            Assert.Contains("n_packets=1", Ofctl("dump-flows", target, "table=1").Check().Output, StringComparison.Ordinal);
            Assert.Contains("flow_count=3", Ofctl("dump-aggregate", target).Check().Output, StringComparison.Ordinal);
            var tables = Ofctl("dump-tables", target).Check().Output;
            output.WriteLine(tables);
            Assert.Contains("table 1:", tables, StringComparison.Ordinal);
            var features = Ofctl("dump-table-features", target).Check().Output;
            output.WriteLine(features[..Math.Min(features.Length, 3000)]);
            Assert.Contains("max_entries=65536", features, StringComparison.Ordinal);
            Assert.Contains("goto_table", features, StringComparison.Ordinal);
            Assert.Contains("Unikernel", Ofctl("dump-desc", target).Check().Output, StringComparison.Ordinal);
            var portStats = Ofctl("dump-ports", target).Check().Output;
            output.WriteLine(portStats);
            Assert.Contains("port  1: rx pkts=1", portStats, StringComparison.Ordinal);
            Assert.Contains("port  2: rx pkts=0", portStats, StringComparison.Ordinal);
            Assert.Contains("port2", Ofctl("dump-ports-desc", target).Check().Output, StringComparison.Ordinal);

            // mod-flows (non-strict, table 1) keeps the counters; packet-out; mod-port.
            Ofctl("mod-flows", target, "table=1,ip,metadata=0x5/0xff,actions=write_actions(output:1)").Check();
            Assert.Contains("n_packets=1", Ofctl("dump-flows", target, "table=1").Check().Output, StringComparison.Ordinal);
            Ofctl("packet-out", target, "1", "output:2", Convert.ToHexString(frame)).Check();
            Assert.Equal(Convert.ToHexString(frame), Convert.ToHexString(Assert.Single(Frames.Receive(hosts[1], Wait))));
            Ofctl("mod-port", target, "2", "down").Check();
            Assert.Contains("PORT_DOWN", Ofctl("show", target).Check().Output, StringComparison.Ordinal);
            Ofctl("mod-port", target, "2", "up").Check();

            // A group or a meter: refused with an error ovs-ofctl reports.
            var group = Ofctl("add-group", target, "group_id=1,type=all,bucket=output:1");
            output.WriteLine(group.Error);
            Assert.NotEqual(0, group.ExitCode);
            Assert.Contains("OFPGMFC_OUT_OF_GROUPS", group.Error, StringComparison.Ordinal);
            var meter = Ofctl("add-meter", target, "meter=1,kbps,band=type=drop,rate=1000");
            output.WriteLine(meter.Error);
            Assert.NotEqual(0, meter.ExitCode);
            Assert.Contains("OFPBRC_BAD_TYPE", meter.Error, StringComparison.Ordinal);

            Ofctl("--strict", "del-flows", target, "table=0,priority=0").Check();
            Assert.Equal(2, sw.Flows13.Count);
            Ofctl("del-flows", target).Check();
            Assert.Equal(0, sw.Flows13.Count);

            var messages = tcp.Messages();
            output.WriteLine("captured from ovs-ofctl: " + string.Join(", ", messages.Select(m => (Of13Type)m[1])));
            foreach (var message in messages.Where(Codec13.Known))
            {
                Codec13.AssertRoundTrip(message, "ovs-ofctl");
            }
            Assert.Contains(messages, m => m[1] == (byte)Of13Type.FlowMod);
        }
        catch
        {
            output.WriteLine(lab.Log);
            output.WriteLine(string.Join("\n", log));
            throw;
        }
        finally
        {
            await stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(20));
            foreach (var link in links)
            {
                link.Dispose();
            }
        }
    }
}
