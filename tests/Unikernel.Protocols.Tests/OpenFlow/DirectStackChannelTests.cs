using System.Net;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.Net;
using Unikernel.Protocols.OpenFlow;
using Unikernel.Protocols.Tests.Net;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>
/// Our controller and our switch with the control channel on two direct stacks (Ethernet, ARP, IPv4 and our TCP) on a
/// <see cref="VirtualSwitch"/>, the stacks on a virtual clock that a driver thread moves 1 ms at a time. The controller
/// is built from its stack, as the appliance builds it, so on the direct stack its connections continue on the
/// stack's receive thread (run to completion): nothing in it may block that thread.
/// </summary>
public sealed class DirectStackChannelTests : IDisposable
{
    private const ulong MacA = 0x02_00_00_00_00_0a;
    private const ulong MacB = 0x02_00_00_00_00_0b;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly VirtualSwitch _network = new(seed: 11);
    private readonly VirtualClock _stackClock = new() { AutoAdvance = false };
    private readonly VirtualClock _flowClock = new() { AutoAdvance = false }; // flow timeouts move only when the test says
    private readonly List<IDisposable> _disposables = [];
    private readonly VirtualClockDriver _driver;

    public DirectStackChannelTests() => _driver = new VirtualClockDriver(_stackClock);

    public void Dispose()
    {
        _driver.Dispose();
        for (var i = _disposables.Count - 1; i >= 0; i--)
        {
            _disposables[i].Dispose();
        }
        _network.Dispose();
    }

    private DirectStack Stack(int host)
    {
        var port = _network.AddPort();
        var stack = new DirectStack(port, _stackClock, _stackClock, new SeededRandom((ulong)host), $"10.0.0.{host}/24", "");
        _disposables.Add(port);
        _disposables.Add(stack);
        Assert.True(stack.StartAsync(CancellationToken.None).AsTask().Wait(TimeSpan.FromSeconds(5)));
        return stack;
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(Wait);
        while (!condition())
        {
            Assert.False(timeout.IsCancellationRequested, $"timed out waiting until {what}");
            await Task.Delay(10, CancellationToken.None);
        }
    }

    private static byte[] Frame(ulong from, ulong to, byte tag) => Frames.Udp(from, to, 0x0a010000 | (uint)(from & 0xff), 0x0a010000 | (uint)(to & 0xff), 1000, 2000, 40, tag);

    private static void Expect(INetworkInterface host, byte[] frame, string what) => Frames.Expect(host, frame, what, Wait);

    [Fact]
    public async Task A_controller_built_from_the_direct_stack_runs_to_completion_and_serves_a_switch_over_our_tcp()
    {
        var switchStack = Stack(1);
        var controllerStack = Stack(2);
        _driver.Start();
        Assert.False(controllerStack.RunTcpToCompletion);
        var controller = new LearningController(controllerStack, new LearningControllerOptions { EndPoint = new IPEndPoint(IPAddress.Any, 6653), IdleTimeout = 10, HardTimeout = 30 });
        Assert.True(controllerStack.RunTcpToCompletion);

        var ports = new INetworkInterface[2];
        var hosts = new INetworkInterface[2];
        for (var i = 0; i < 2; i++)
        {
            var link = new VirtualSwitch(seed: i + 21);
            _disposables.Add(link);
            ports[i] = link.AddPort([0x02, 0, 0, 0, 0x10, (byte)(i + 1)]);
            hosts[i] = link.AddPort([0x02, 0, 0, 0, 0x20, (byte)(i + 1)]);
        }
        var software = new SoftwareSwitch(ports, switchStack.Tcp, _flowClock, _flowClock, new SoftwareSwitchOptions { Controller = new IPEndPoint(IPAddress.Parse("10.0.0.2"), 6653), ReconnectDelay = TimeSpan.FromMilliseconds(50), OpenFlow13 = false });
        using var stop = new CancellationTokenSource();
        controller.Listen();
        var running = Task.WhenAll(controller.RunAsync(stop.Token), software.RunAsync(stop.Token));
        try
        {
            await Until(() => controller.DatapathIds.Contains(software.DatapathId), "the switch completes the handshake over the direct stacks");

            // A -> B floods (B unknown); B -> A installs a flow; A -> B installs the other.
            var ab = Frame(MacA, MacB, 1);
            var ba = Frame(MacB, MacA, 2);
            Frames.Send(hosts[0], ab);
            Expect(hosts[1], ab, "A->B flooded");
            Frames.Send(hosts[1], ba);
            Expect(hosts[0], ba, "B->A");
            Frames.Send(hosts[0], ab);
            Expect(hosts[1], ab, "A->B");
            await Until(() => software.Flows.Count == 2, "two flows are installed");

            // Many addresses behind port 2, one packet_in and one flow_mod each, answered one after the other on the
            // controller stack's receive thread.
            for (ulong i = 1; i <= 50; i++)
            {
                var frame = Frame(MacB + (i << 8), MacA, (byte)i);
                Frames.Send(hosts[1], frame);
                Expect(hosts[0], frame, $"B{i}->A");
            }
            await Until(() => software.Flows.Count == 52, "52 flows are installed");
            Assert.Equal(52, controller.FlowMods);
            Assert.Equal(0, controller.Errors);
            Assert.Equal(0, controllerStack.Counters.Errors + switchStack.Counters.Errors);
        }
        finally
        {
            await stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(20));
        }
    }
}
