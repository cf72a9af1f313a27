using System.Net;
using System.Net.Sockets;
using Unikernel.Devices;
using Unikernel.Devices.Unix;

namespace Unikernel.Devices.Tests;

// The TCP tests below observe the thread a continuation runs on (the epoll thread, not xUnit's context) and count the
// process's allocations: their awaits must not go back to the test framework's synchronisation context.
#pragma warning disable xUnit1030

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

    private static async Task<(ITcpListener Listener, ITcpConnection Client, ITcpConnection Server)> PairAsync(UnixSocketStack stack, CancellationToken token)
    {
        var listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        var accept = listener.AcceptAsync(token).AsTask();
        var client = await stack.Tcp.ConnectAsync(listener.LocalEndPoint, token).ConfigureAwait(false);
        return (listener, client, await accept.ConfigureAwait(false));
    }

    [Fact]
    public async Task After_a_short_read_the_next_read_gets_data_that_comes_later_and_data_and_the_end_that_came_together()
    {
        var stack = new UnixSocketStack();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var (listener, client, server) = await PairAsync(stack, cts.Token).ConfigureAwait(false);
        using (listener)
        await using (client)
        await using (server)
        {
            var buffer = new byte[64];
            await client.WriteAsync(new byte[] { 1 }, cts.Token).ConfigureAwait(false);
            Assert.Equal(1, await server.ReadAsync(buffer, cts.Token).ConfigureAwait(false)); // short: the next read waits first
            var later = server.ReadAsync(buffer, cts.Token).AsTask();
            await Task.Delay(50, cts.Token).ConfigureAwait(false);
            Assert.False(later.IsCompleted);
            await client.WriteAsync(new byte[] { 2, 3 }, cts.Token).ConfigureAwait(false);
            Assert.Equal(2, await later.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false));

            // Data and the FIN arrive (and their edges are handled) while nobody reads: the short read that takes the
            // data must not make the next read wait for an edge that came already.
            await client.WriteAsync(new byte[] { 4, 5, 6 }, cts.Token).ConfigureAwait(false);
            client.ShutdownSend();
            await Task.Delay(100, cts.Token).ConfigureAwait(false);
            Assert.Equal(3, await server.ReadAsync(buffer, cts.Token).ConfigureAwait(false));
            Assert.Equal(0, await server.ReadAsync(buffer, cts.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false));
        }
    }

    [Fact]
    public async Task A_read_that_waited_continues_on_the_epoll_thread()
    {
        var stack = new UnixSocketStack();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var (listener, client, server) = await PairAsync(stack, cts.Token).ConfigureAwait(false);
        using (listener)
        await using (client)
        await using (server)
        {
            var buffer = new byte[16];
            var read = ReadOnEpollThread();
            await Task.Delay(50, cts.Token).ConfigureAwait(false); // the read is waiting now
            await client.WriteAsync(new byte[] { 7 }, cts.Token).ConfigureAwait(false);
            var (n, thread) = await read.ConfigureAwait(false);
            Assert.Equal(1, n);
            Assert.Equal("tcp epoll", thread); // no hand-off to the thread pool per readiness event

            async Task<(int, string?)> ReadOnEpollThread()
            {
                var count = await server.ReadAsync(buffer, cts.Token).ConfigureAwait(false);
                return (count, Thread.CurrentThread.Name);
            }
        }
    }

    [Fact]
    public async Task A_handler_that_blocks_the_epoll_thread_does_not_stall_other_connections()
    {
        var stack = new UnixSocketStack();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var (listenerA, clientA, serverA) = await PairAsync(stack, cts.Token).ConfigureAwait(false);
        var (listenerB, clientB, serverB) = await PairAsync(stack, cts.Token).ConfigureAwait(false);
        using (listenerA)
        using (listenerB)
        await using (clientA)
        await using (serverA)
        await using (clientB)
        await using (serverB)
        {
            var blocked = new ManualResetEventSlim();
            var release = new ManualResetEventSlim();
            var slow = SlowHandler();
            await Task.Delay(50, cts.Token).ConfigureAwait(false);
            await clientA.WriteAsync(new byte[] { 1 }, cts.Token).ConfigureAwait(false);
            Assert.True(blocked.Wait(TimeSpan.FromSeconds(5)), "the slow handler did not start");
            // Connection B is served while A's handler still holds the thread that polled.
            var started = Environment.TickCount64;
            var pending = serverB.ReadAsync(new byte[16], cts.Token).AsTask();
            await clientB.WriteAsync(new byte[] { 2, 3 }, cts.Token).ConfigureAwait(false);
            var n = await pending.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            var elapsed = Environment.TickCount64 - started;
            Assert.Equal(2, n);
            Assert.False(slow.IsCompleted, $"the slow handler returned first ({elapsed} ms)");
            release.Set();
            Assert.Equal("tcp epoll", await slow.ConfigureAwait(false));
            // And the connection whose handler blocked still works afterwards.
            var echo = serverA.ReadAsync(new byte[16], cts.Token).AsTask();
            await clientA.WriteAsync(new byte[] { 4 }, cts.Token).ConfigureAwait(false);
            Assert.Equal(1, await echo.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false));

            async Task<string?> SlowHandler()
            {
                await serverA.ReadAsync(new byte[16], cts.Token).ConfigureAwait(false);
                var name = Thread.CurrentThread.Name;
                blocked.Set();
                release.Wait(TimeSpan.FromSeconds(10)); // a handler that blocks its thread
                return name;
            }
        }
    }

    [Fact]
    public async Task A_cancelled_read_throws_and_the_connection_reads_again()
    {
        var stack = new UnixSocketStack();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var (listener, client, server) = await PairAsync(stack, cts.Token).ConfigureAwait(false);
        using (listener)
        await using (client)
        await using (server)
        {
            using var soon = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await server.ReadAsync(new byte[16], soon.Token).ConfigureAwait(false)).ConfigureAwait(false);
            var read = server.ReadAsync(new byte[16], cts.Token).AsTask();
            await client.WriteAsync(new byte[] { 9, 9 }, cts.Token).ConfigureAwait(false);
            Assert.Equal(2, await read.ConfigureAwait(false));
        }
    }
}

/// <summary>Alone (no other test allocating at the same time): the process-wide allocation count is the measure.</summary>
[CollectionDefinition("socket allocations", DisableParallelization = true)]
public class SocketAllocationCollection
{
}

[Collection("socket allocations")]
public class SocketAllocationTests
{
    [Fact]
    public async Task A_tcp_round_trip_that_waits_allocates_nothing()
    {
        var stack = new UnixSocketStack();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        var accept = listener.AcceptAsync(cts.Token).AsTask();
        await using var client = await stack.Tcp.ConnectAsync(listener.LocalEndPoint, cts.Token).ConfigureAwait(false);
        await using var server = await accept.ConfigureAwait(false);
        using (listener)
        {
            var echo = Echo();
            var message = new byte[] { 1, 2, 3, 4 };
            var buffer = new byte[16];
            async Task<long> RoundTrips(int count)
            {
                var before = GC.GetTotalAllocatedBytes(precise: true);
                for (var i = 0; i < count; i++)
                {
                    await client.WriteAsync(message, cts.Token).ConfigureAwait(false);
                    var got = 0;
                    while (got < message.Length)
                    {
                        got += await client.ReadAsync(buffer.AsMemory(got), cts.Token).ConfigureAwait(false);
                    }
                }
                return GC.GetTotalAllocatedBytes(precise: true) - before;
            }
            await RoundTrips(200).ConfigureAwait(false); // warm up (pools, registrations, tiering)
            var few = long.MaxValue;
            var many = long.MaxValue;
            for (var run = 0; run < 3; run++)
            {
                few = Math.Min(few, await RoundTrips(100).ConfigureAwait(false));
                many = Math.Min(many, await RoundTrips(1100).ConfigureAwait(false));
            }
            // 1,000 more round trips (each with two waits for readiness) cost less than 8 bytes each.
            Assert.True(many - few < 8000, $"100 round trips: {few} bytes, 1100: {many} bytes");
            client.ShutdownSend();
            await echo.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);

            async Task Echo()
            {
                var b = new byte[64];
                while (true)
                {
                    var n = await server.ReadAsync(b, cts.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        return;
                    }
                    await server.WriteAsync(b.AsMemory(0, n), cts.Token).ConfigureAwait(false);
                }
            }
        }
    }
}
