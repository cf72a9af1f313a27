using System.Net;
using System.Net.Sockets;
using Unikernel.Devices;
using Unikernel.Devices.Unix;

namespace Unikernel.Devices.Tests;

public class UnixSocketStackTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task Udp_batch_round_trip(string address)
    {
        var stack = new UnixSocketStack();
        using var server = stack.Udp.Bind(new IPEndPoint(IPAddress.Parse(address), 0));
        Assert.NotEqual(0, server.LocalEndPoint.Port);
        using var client = new UdpClient(server.LocalEndPoint.AddressFamily);
        client.Client.Bind(new IPEndPoint(IPAddress.Parse(address), 0));
        for (var i = 0; i < 5; i++)
        {
            client.Send([(byte)i, 1, 2, 3], server.LocalEndPoint);
        }
        var batch = new DatagramBatch(8, 1500);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var received = 0;
        var reply = new DatagramBatch(8, 1500);
        while (received < 5)
        {
            var n = server.Receive(batch, cts.Token);
            Assert.True(n > 0, "timed out");
            Assert.Equal(n, batch.Count);
            reply.Count = 0;
            for (var i = 0; i < n; i++)
            {
                Assert.Equal(4, batch.Length(i));
                Assert.Equal((byte)(received + i), batch.Datagram(i)[0]);
                Assert.Equal(((IPEndPoint)client.Client.LocalEndPoint!).Port, batch.Peer(i).Port);
                var echo = batch.Datagram(i).ToArray();
                echo[1] = 42;
                Assert.True(reply.TryAdd(echo, batch.Peer(i)));
            }
            Assert.Equal(n, server.Send(reply));
            received += n;
        }
        for (var i = 0; i < 5; i++)
        {
            var result = await client.ReceiveAsync(cts.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(42, result.Buffer[1]);
            Assert.Equal(server.LocalEndPoint, result.RemoteEndPoint);
        }
    }

    [Fact]
    public void A_blocked_receive_returns_nothing_once_cancelled()
    {
        var stack = new UnixSocketStack();
        using var server = stack.Udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var cts = new CancellationTokenSource();
        var received = -1;
        var cancelledWhenReturned = false;
        var thread = new Thread(() =>
        {
            received = server.Receive(new DatagramBatch(4, 512), cts.Token);
            cancelledWhenReturned = cts.IsCancellationRequested;
        });
        thread.Start();
        // Still blocked with nothing to receive; then cancellation must release it (the join is a hang guard).
        Assert.False(thread.Join(TimeSpan.FromMilliseconds(200)));
        cts.Cancel();
        Assert.True(thread.Join(TimeSpan.FromSeconds(30)), "Receive did not return after cancellation");
        Assert.Equal(0, received);
        Assert.True(cancelledWhenReturned);
    }

    [Fact]
    public void Dispose_stops_a_blocked_receiver()
    {
        var stack = new UnixSocketStack();
        var server = stack.Udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var thread = new Thread(() => server.Receive(new DatagramBatch(4, 512), CancellationToken.None));
        thread.Start();
        Thread.Sleep(50);
        server.Dispose();
        Assert.True(thread.Join(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Binding_a_used_port_fails_clearly()
    {
        var stack = new UnixSocketStack();
        using var first = stack.Udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var e = Assert.Throws<SocketException>(() => stack.Udp.Bind(first.LocalEndPoint));
        Assert.Contains("bind", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tcp_listen_connect_echo()
    {
        var stack = new UnixSocketStack();
        using var listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var accept = listener.AcceptAsync(cts.Token).AsTask();
        await using var client = await stack.Tcp.ConnectAsync(listener.LocalEndPoint, cts.Token);
        await using var server = await accept;
        await client.WriteAsync(new byte[] { 1, 2, 3 }, cts.Token);
        client.ShutdownSend();
        var buffer = new byte[16];
        var total = 0;
        while (true)
        {
            var n = await server.ReadAsync(buffer.AsMemory(total), cts.Token);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        Assert.Equal(3, total);
        Assert.Equal(listener.LocalEndPoint.Port, ((IPEndPoint)client.RemoteEndPoint).Port);
    }

    [Fact]
    public async Task Accept_is_cancellable()
    {
        var stack = new UnixSocketStack();
        using var listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await listener.AcceptAsync(cts.Token));
    }
}
