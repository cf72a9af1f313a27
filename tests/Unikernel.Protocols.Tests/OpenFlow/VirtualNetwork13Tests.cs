using System.Net;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>
/// <see cref="VirtualNetworkTests"/> in OpenFlow 1.3: our controller and our switch both offer 1.0 and 1.3 and settle on
/// 1.3, and the controller's two-table pipeline (table-miss entries that send to the controller and flood, learned
/// sources in table 0, learned destinations in table 1) runs in our switch's 1.3 pipeline.
/// </summary>
public sealed class VirtualNetwork13Tests : IAsyncLifetime
{
    private const ulong MacA = 0x02_00_00_00_00_0a;
    private const ulong MacB = 0x02_00_00_00_00_0b;
    private const ulong MacC = 0x02_00_00_00_00_0c;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly LoopbackStack _stack = new();
    private readonly VirtualClock _clock = new() { AutoAdvance = false };
    private readonly List<VirtualSwitch> _links = [];
    private readonly INetworkInterface[] _hosts = new INetworkInterface[3];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _log = [];
    private LearningController _controller = null!;
    private SoftwareSwitch _switch = null!;
    private Task _running = Task.CompletedTask;

    public async Task InitializeAsync()
    {
        var ports = new INetworkInterface[3];
        for (var i = 0; i < 3; i++)
        {
            var link = new VirtualSwitch(seed: i + 1);
            _links.Add(link);
            ports[i] = link.AddPort([0x02, 0, 0, 0, 0x10, (byte)(i + 1)]);
            _hosts[i] = link.AddPort([0x02, 0, 0, 0, 0x20, (byte)(i + 1)]);
        }
        _controller = new LearningController(_stack.Tcp, new LearningControllerOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 6653), IdleTimeout = 10, HardTimeout = 30 }, Log);
        _controller.Listen();
        _switch = new SoftwareSwitch(ports, _stack.Tcp, _clock, _clock, new SoftwareSwitchOptions { Controller = new IPEndPoint(IPAddress.Loopback, 6653), ReconnectDelay = TimeSpan.FromMilliseconds(50) }, Log);
        _running = Task.WhenAll(_controller.RunAsync(_stop.Token), _switch.RunAsync(_stop.Token));
        await Until(() => _controller.DatapathIds.Contains(_switch.DatapathId), "the switch completes the handshake with the controller");
        // The controller installs both table-miss entries right after the handshake.
        await Until(() => _switch.Flows13.CountIn(0) == 1 && _switch.Flows13.CountIn(1) == 1, "the two table-miss entries are installed");
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running.WaitAsync(TimeSpan.FromSeconds(20));
        foreach (var link in _links)
        {
            link.Dispose();
        }
        _stop.Dispose();
    }

    private void Log(string line)
    {
        lock (_log)
        {
            _log.Add(line);
        }
    }

    private async Task Until(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(Wait);
        while (!condition())
        {
            if (timeout.IsCancellationRequested)
            {
                lock (_log)
                {
                    Assert.Fail($"timed out waiting until {what}; log:\n{string.Join("\n", _log)}");
                }
            }
            await Task.Delay(10, CancellationToken.None);
        }
    }

    private static byte[] Frame(ulong from, ulong to, byte tag) => Frames.Udp(from, to, 0x0a000000 | (uint)(from & 0xff), 0x0a000000 | (uint)(to & 0xff), 1000, 2000, 40, tag);

    private static void Expect(INetworkInterface host, byte[] frame, string what) => Frames.Expect(host, frame, what, Wait);

    private List<Of13FlowEntry> Table(byte table) => _switch.Flows13.Select(table, Of13CompiledMatch.Any, 0, strict: false, Of13Port.Any, Of13Group.Any, 0, 0);

    [Fact]
    public async Task The_two_table_pipeline_floods_learns_and_forwards_without_the_controller_then_expires()
    {
        Assert.Contains("(OpenFlow 1.3)", string.Join("\n", _log));

        // A -> B: table 0 misses (to the controller, on to table 1), table 1 misses (flood to B and C).
        var ab = Frame(MacA, MacB, 1);
        Frames.Send(_hosts[0], ab);
        Expect(_hosts[1], ab, "A->B flooded to B");
        Expect(_hosts[2], ab, "A->B flooded to C");
        await Until(() => _switch.Flows13.Count == 4, "A's source and destination entries");

        // B -> A: table 1 knows A, so only A gets it; B is learned.
        var ba = Frame(MacB, MacA, 2);
        Frames.Send(_hosts[1], ba);
        Expect(_hosts[0], ba, "B->A");
        Frames.ExpectNothing(_hosts[2]);
        await Until(() => _switch.Flows13.Count == 6, "B's entries too");

        // A -> B: both tables hit, the controller hears nothing.
        var packetIns = _controller.PacketIns;
        for (var i = 0; i < 5; i++)
        {
            Frames.Send(_hosts[0], ab);
        }
        var received = Frames.Receive(_hosts[1], Wait, atLeast: 5);
        Assert.Equal(5, received.Count);
        Frames.ExpectNothing(_hosts[2]);
        Assert.Equal(packetIns, _controller.PacketIns);
        Assert.Equal(2, _switch.PacketIns); // the first packet from A and from B, whole (the controller's max_len is NO_BUFFER)
        Assert.Equal(0, _controller.PacketOuts);
        Assert.Equal(6UL, _switch.PortCounters(2).TxPackets); // flooded once, then five through the flows

        var table0 = Table(0);
        var table1 = Table(1);
        Assert.Contains(table0, f => f.Match.TryGet(OxmField.EthSrc, out var src) && src == MacA && f.Match.TryGet(OxmField.InPort, out var port) && port == 1 && f.GotoTable == 1 && f.PacketCount == 5);
        Assert.Contains(table1, f => f.Match.TryGet(OxmField.EthDst, out var dst) && dst == MacB && f.WriteActions is not null && f.PacketCount == 5 && f.IdleTimeout == 10);
        Assert.Contains(table1, f => f.IsTableMiss && f.PacketCount == 1);
        Assert.Contains(table0, f => f.IsTableMiss && f.PacketCount == 2);
        Assert.Equal(0, _switch.Misses13);

        // Idle for 11 virtual seconds: the learned entries expire, the table-miss entries stay.
        _clock.Advance(TimeSpan.FromSeconds(11));
        await Until(() => _switch.Flows13.Count == 2, "the learned entries expire");
        await Until(() => _controller.FlowsRemoved == 2, "the controller receives the two flow_removed (destination entries)");

        // The next A -> B starts over: flooded, learned again.
        Frames.Send(_hosts[0], ab);
        Expect(_hosts[1], ab, "A->B after expiry");
        Expect(_hosts[2], ab, "A->B flooded again");
        await Until(() => _switch.Flows13.Count == 4, "A is learned again");
    }

    [Fact]
    public async Task Hard_timeout_expires_busy_flows()
    {
        var ab = Frame(MacA, MacB, 1);
        var ba = Frame(MacB, MacA, 2);
        Frames.Send(_hosts[0], ab);
        Expect(_hosts[1], ab, "A->B flooded");
        Frames.Send(_hosts[1], ba);
        Expect(_hosts[0], ba, "B->A");
        await Until(() => _switch.Flows13.Count == 6, "learned entries for A and B");
        for (var second = 0; second < 30; second += 5)
        {
            Frames.Send(_hosts[1], ba); // keeps B's source entry and A's destination entry busy
            Expect(_hosts[0], ba, "B->A through the flows");
            _clock.Advance(TimeSpan.FromSeconds(5));
            await Task.Delay(20);
        }
        // 31 virtual seconds after it was installed, busy all along (so never idle for 10 s): the hard timeout ends
        // A's destination entry (A sends nothing more, so it is not learned again).
        _clock.Advance(TimeSpan.FromSeconds(1));
        await Until(() => !Table(1).Exists(f => f.Match.TryGet(OxmField.EthDst, out var dst) && dst == MacA), "A's destination entry reaches its hard timeout");
        await Until(() => _controller.FlowsRemoved >= 2, "the controller hears of B's idle and A's hard expiry");
        Assert.Equal(2, Table(Of13Table.All).Count(f => f.IsTableMiss));
    }

    [Fact]
    public async Task Many_hosts_behind_a_port_are_learned_in_both_tables()
    {
        Frames.Send(_hosts[0], Frame(MacA, MacC, 9));
        Assert.NotEmpty(Frames.Receive(_hosts[2], Wait));
        Frames.Receive(_hosts[1], Wait);
        for (ulong i = 0; i < 10; i++)
        {
            var frame = Frame(MacC + (i << 8), MacA, (byte)i);
            Frames.Send(_hosts[2], frame);
            Expect(_hosts[0], frame, $"C{i}->A");
        }
        await Until(() => _switch.Flows13.Count == 2 + 2 * 11, "a source and a destination entry per address");
        Assert.Equal(10, Table(0).Count(f => f.Match.TryGet(OxmField.InPort, out var port) && port == 3));
    }
}
