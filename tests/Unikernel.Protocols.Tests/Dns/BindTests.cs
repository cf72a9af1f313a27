using System.Net;
using System.Net.Sockets;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Dns;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// Port 0 asks the kernel for a port free for UDP; TCP may hold that port already (an outgoing connection's ephemeral
/// port). The service must then try another port, not fail: this happened in CI with tests running side by side.
/// </summary>
public class BindTests
{
    [Fact]
    public async Task Port_zero_moves_on_when_tcp_already_holds_the_port_udp_got()
    {
        using var stack = new PortThief(new UnixSocketStack(), takeFirst: 3);
        var service = new DnsService(stack, new DnsResponder(new ZoneSet([TestZone.LoadSample()])),
            new DnsServiceOptions { EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)] });
        service.Bind();

        Assert.Equal(3, stack.Stolen.Count);
        var udp = Assert.Single(service.UdpEndPoints);
        var tcp = Assert.Single(service.TcpEndPoints);
        Assert.Equal(udp.Port, tcp.Port);
        Assert.DoesNotContain(udp.Port, stack.Stolen);
        // The ports given up are released for UDP: nothing of ours is left bound on them.
        foreach (var port in stack.Stolen)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
        }
        await service.RunAsync(new CancellationToken(canceled: true)); // closes its sockets
    }

    [Fact]
    public void A_fixed_port_taken_by_tcp_is_an_error_that_names_it()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        holder.Listen();
        var port = ((IPEndPoint)holder.LocalEndPoint!).Port;
        var service = new DnsService(new UnixSocketStack(), new DnsResponder(new ZoneSet([TestZone.LoadSample()])),
            new DnsServiceOptions { EndPoints = [new IPEndPoint(IPAddress.Loopback, port)] });

        var error = Assert.Throws<SocketException>(service.Bind);
        Assert.Equal(SocketError.AddressAlreadyInUse, error.SocketErrorCode);
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
        Assert.Empty(service.UdpEndPoints);
    }

    /// <summary>The host's stack, except that the first few TCP listens find their port held by a real socket.</summary>
    private sealed class PortThief(INetworkStack inner, int takeFirst) : INetworkStack, ITcp, IDisposable
    {
        private readonly List<Socket> _holders = [];

        public List<int> Stolen { get; } = [];

        public IUdp Udp => inner.Udp;

        public ITcp Tcp => this;

        public ITcpListener Listen(IPEndPoint localEndPoint, int backlog = 128)
        {
            if (Stolen.Count < takeFirst)
            {
                var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                holder.Bind(localEndPoint);
                holder.Listen();
                _holders.Add(holder);
                Stolen.Add(localEndPoint.Port);
            }
            return inner.Tcp.Listen(localEndPoint, backlog);
        }

        public ValueTask<ITcpConnection> ConnectAsync(IPEndPoint remoteEndPoint, CancellationToken cancellationToken) =>
            inner.Tcp.ConnectAsync(remoteEndPoint, cancellationToken);

        public void Dispose()
        {
            foreach (var holder in _holders)
            {
                holder.Dispose();
            }
        }
    }
}
