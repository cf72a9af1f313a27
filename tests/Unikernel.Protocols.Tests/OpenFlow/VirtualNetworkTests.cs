using System.Net;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>
/// Our controller and our switch together over in-memory devices: the control channel over the loopback stack's TCP,
/// each switch port wired to a host by a two-port virtual switch, flow timeouts on a virtual clock moved by the test.
/// OpenFlow 1.0 (the switch offers only 1.0); <see cref="VirtualNetwork13Tests"/> is the same in 1.3.
/// </summary>
public sealed class VirtualNetworkTests : IAsyncLifetime
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
        _switch = new SoftwareSwitch(ports, _stack.Tcp, _clock, _clock, new SoftwareSwitchOptions { Controller = new IPEndPoint(IPAddress.Loopback, 6653), ReconnectDelay = TimeSpan.FromMilliseconds(50), OpenFlow13 = false }, Log);
        _running = Task.WhenAll(_controller.RunAsync(_stop.Token), _switch.RunAsync(_stop.Token));
        await Until(() => _controller.DatapathIds.Contains(_switch.DatapathId), "the switch completes the handshake with the controller");
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

    [Fact]
    public async Task Learning_switch_floods_then_installs_flows_that_forward_without_the_controller_and_expire()
    {
        // A -> B: B unknown, flooded to B and C.
        var ab = Frame(MacA, MacB, 1);
        Frames.Send(_hosts[0], ab);
        Expect(_hosts[1], ab, "A->B flooded to B");
        Expect(_hosts[2], ab, "A->B flooded to C");

        // B -> A: A was learned on port 1, so a flow is installed (and applied to the buffered packet).
        var ba = Frame(MacB, MacA, 2);
        Frames.Send(_hosts[1], ba);
        Expect(_hosts[0], ba, "B->A");
        Frames.ExpectNothing(_hosts[2]);

        // A -> B again: now a flow too.
        Frames.Send(_hosts[0], ab);
        Expect(_hosts[1], ab, "A->B");
        Frames.ExpectNothing(_hosts[2]);
        await Until(() => _switch.Flows.Count == 2, "two flows are installed");
        Assert.Equal(2, _controller.FlowMods);

        // More traffic goes through the flow table alone.
        var packetIns = _controller.PacketIns;
        for (var i = 0; i < 5; i++)
        {
            Frames.Send(_hosts[0], ab);
        }
        var received = Frames.Receive(_hosts[1], Wait, atLeast: 5);
        Assert.Equal(5, received.Count);
        Assert.Equal(packetIns, _controller.PacketIns);
        // flooded once, the buffered packet, five through the flow; the switch counts a batch after sending it, so the
        // last frames can arrive before their count does
        await Until(() => _switch.PortCounters(2).TxPackets >= 7, "port 2 counts what it sent");
        Assert.Equal(7UL, _switch.PortCounters(2).TxPackets);
        var stats = _switch.Flows.Select(OfMatch.Any, OfPort.None);
        Assert.Contains(stats, f => f.Match.DlSrc == MacA && f.Match.DlDst == MacB && f.PacketCount == 5 && f.IdleTimeout == 10);

        // Idle for 11 virtual seconds: both flows expire and the controller hears of it.
        _clock.Advance(TimeSpan.FromSeconds(11));
        await Until(() => _switch.Flows.Count == 0, "the flows expire");
        await Until(() => _controller.FlowsRemoved == 2, "the controller receives two flow_removed");

        // Learned addresses survive: the next A -> B installs a flow straight away.
        Frames.Send(_hosts[0], ab);
        Expect(_hosts[1], ab, "A->B after expiry");
        await Until(() => _switch.Flows.Count == 1, "a flow is reinstalled");
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
        await Until(() => _switch.Flows.Count == 1, "one flow");
        for (var second = 0; second < 30; second += 5)
        {
            Frames.Send(_hosts[1], ba); // keeps the flow from idling out
            Expect(_hosts[0], ba, "B->A through the flow");
            _clock.Advance(TimeSpan.FromSeconds(5));
            await Task.Delay(20);
        }
        // 30 virtual seconds after it was installed, busy all along (so never idle for 10 s): the hard timeout ends it.
        _clock.Advance(TimeSpan.FromSeconds(1));
        await Until(() => _switch.Flows.Count == 0, "the flow reaches its hard timeout");
        await Until(() => _controller.FlowsRemoved == 1, "the controller hears of it");
    }

    [Fact]
    public async Task Many_hosts_behind_a_port_are_learned_and_get_their_own_flows()
    {
        // Ten addresses behind port 3 talk to A: each gets a flow C_i -> A once A is known.
        Frames.Send(_hosts[0], Frame(MacA, MacC, 9));
        Assert.NotEmpty(Frames.Receive(_hosts[2], Wait));
        Frames.Receive(_hosts[1], Wait);
        for (ulong i = 0; i < 10; i++)
        {
            var frame = Frame(MacC + (i << 8), MacA, (byte)i);
            Frames.Send(_hosts[2], frame);
            Expect(_hosts[0], frame, $"C{i}->A");
        }
        await Until(() => _switch.Flows.Count == 10, "ten flows");
        Assert.All(_switch.Flows.Select(OfMatch.Any, OfPort.None), f => Assert.Equal(3, f.Match.InPort));
    }
}
