using System.Net;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>
/// A <see cref="SoftwareSwitch"/> with two ports, each on its own virtual link with one host, connected over the
/// loopback stack to a test's <see cref="OfPeer"/> acting as the controller, on a virtual clock that moves only when
/// the test advances it. The switch's hello has been read (<see cref="SwitchHello"/>); nothing has been sent yet.
/// </summary>
internal sealed class SwitchUnderTest : IAsyncDisposable
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly LoopbackStack _stack = new();
    private readonly VirtualSwitch[] _links = [new(seed: 1), new(seed: 2)];
    private readonly CancellationTokenSource _stop = new();
    private ITcpListener? _listener;
    private Task _running = Task.CompletedTask;

    private SwitchUnderTest()
    {
    }

    public VirtualClock Clock { get; } = new() { AutoAdvance = false };

    /// <summary>The host on each port's link: Hosts[0] on port 1, Hosts[1] on port 2.</summary>
    public INetworkInterface[] Hosts { get; } = new INetworkInterface[2];

    public SoftwareSwitch Switch { get; private set; } = null!;

    public OfPeer Peer { get; private set; } = null!;

    /// <summary>The hello the switch sent first.</summary>
    public byte[] SwitchHello { get; private set; } = [];

    public static async Task<SwitchUnderTest> StartAsync(ulong datapathId)
    {
        var net = new SwitchUnderTest();
        try
        {
            var controller = new IPEndPoint(IPAddress.Loopback, 6653);
            net._listener = net._stack.Tcp.Listen(controller);
            var ports = new INetworkInterface[2];
            for (var i = 0; i < 2; i++)
            {
                ports[i] = net._links[i].AddPort([0x02, 0, 0, 0, 0x10, (byte)(i + 1)]);
                net.Hosts[i] = net._links[i].AddPort([0x02, 0, 0, 0, 0x20, (byte)(i + 1)]);
            }
            net.Switch = new SoftwareSwitch(ports, net._stack.Tcp, net.Clock, net.Clock, new SoftwareSwitchOptions { Controller = controller, DatapathId = datapathId });
            net._running = net.Switch.RunAsync(net._stop.Token);
            var connection = await net._listener.AcceptAsync(CancellationToken.None).AsTask().WaitAsync(Wait);
            net.Peer = new OfPeer(new ConnectionStream(connection));
            net.SwitchHello = net.Peer.ReadUntil(OfType.Hello, Wait);
            return net;
        }
        catch
        {
            await net.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Peer?.Dispose();
        await _stop.CancelAsync();
        await _running.WaitAsync(TimeSpan.FromSeconds(20));
        _listener?.Dispose();
        foreach (var link in _links)
        {
            link.Dispose();
        }
        _stop.Dispose();
    }
}
