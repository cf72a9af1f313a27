using System.Net;
using Unikernel.Protocols.Net;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>
/// The engine's timer queue (a min-heap with lazy deletion) with many connections on the virtual clock: every timer
/// fires at its own time, however many connections are idle, and the queue stays bounded.
/// </summary>
public sealed class TcpTimerTests
{
    private static readonly uint A = IPv4Address.Parse("10.0.0.1");
    private static readonly uint B = IPv4Address.Parse("10.0.0.2");
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(10);
    private const long Ms = 1_000_000;

    [Fact]
    public void Keep_alive_timers_of_a_thousand_staggered_connections_fire_each_at_its_time()
    {
        var net = new TcpTestNet(3);
        var client = net.Add(A, new TcpSettings { KeepAliveIdle = TimeSpan.FromSeconds(10), KeepAliveInterval = TimeSpan.FromSeconds(5), KeepAliveProbes = 3 }, seed: 11);
        var server = net.Add(B, seed: 22);
        var listener = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 2048);
        var connections = new List<(TcpConnection Connection, long OpenedAt)>();
        for (var i = 0; i < 1000; i++)
        {
            var c = net.Connect(client, server.EndPoint(80));
            net.Accept(server, listener);
            connections.Add((c, net.Now));
            net.Advance(TimeSpan.FromMilliseconds(7)); // 1,000 connections spread over about 9 s (7 ms apart, plus each handshake)
        }
        Assert.Equal(1000, client.Engine.ConnectionCount);
        var start = connections[0].OpenedAt;
        // Watch the probes go out: at every step, exactly the probes due by then have been sent. A connection's k-th
        // probe is due 10 s after the answer to the one before (the handshake's last ACK starts the first idle time; an
        // answer takes one 2 ms round trip), so allow those 2 ms each way.
        for (var t = 9_000 * Ms; t <= 21_000 * Ms; t += 250 * Ms)
        {
            net.Run(() => false, TimeSpan.FromTicks((start + t - net.Now) / 100));
            long surely = 0, possibly = 0;
            foreach (var (_, openedAt) in connections)
            {
                for (var k = 1; k <= 3; k++)
                {
                    surely += net.Now - openedAt >= k * (10_000 * Ms + 2 * Ms) + 2 * Ms ? 1 : 0;
                    possibly += net.Now - openedAt >= k * 10_000 * Ms - 2 * Ms ? 1 : 0;
                }
            }
            Assert.InRange(client.Counters.KeepAlivesSent, surely, possibly);
        }
        net.Run(() => false, TimeSpan.FromTicks((connections[^1].OpenedAt + 10_100 * Ms - net.Now) / 100));
        Assert.True(client.Counters.KeepAlivesSent >= 1000);
        // Every peer answered: all still established, the next probes 10 s after each answer.
        Assert.All(connections, x => Assert.Equal(TcpState.Established, x.Connection.State));
        Assert.InRange(client.Engine.TimerQueueLength, 1000, 2 * 1000 + 64);
        Assert.Equal(0, server.Engine.TimerQueueLength); // the server's idle connections have no timer at all
    }

    [Fact]
    public void Time_wait_of_many_connections_expires_in_order_while_a_thousand_idle_ones_wait()
    {
        var net = new TcpTestNet(5);
        var client = net.Add(A, new TcpSettings { Msl = TimeSpan.FromSeconds(2) }, seed: 11);
        var server = net.Add(B, seed: 22);
        var listener = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 2048);
        // A thousand idle connections left in CLOSE-WAIT on the server (the client half-closed them).
        for (var i = 0; i < 1000; i++)
        {
            var c = net.Connect(client, server.EndPoint(80));
            var s = net.Accept(server, listener);
            lock (client.Gate)
            {
                c.ShutdownSendLocked();
            }
            net.Run(() => s.State == TcpState.CloseWait, Budget);
        }
        // Then 50 connections closed one every 100 ms by the client first: each enters TIME-WAIT for 2·MSL = 4 s.
        var closedAt = new List<(TcpConnection Connection, long At)>();
        var other = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 81), backlog: 64);
        for (var i = 0; i < 50; i++)
        {
            var c = net.Connect(client, server.EndPoint(81));
            var s = net.Accept(server, other);
            lock (client.Gate)
            {
                c.CloseLocked();
            }
            net.Run(() => s.State == TcpState.CloseWait, Budget);
            lock (server.Gate)
            {
                s.CloseLocked();
            }
            net.Run(() => c.State == TcpState.TimeWait, Budget);
            closedAt.Add((c, net.Now));
            net.Advance(TimeSpan.FromMilliseconds(100));
        }
        for (var step = 0; step < 120; step++)
        {
            net.Advance(TimeSpan.FromMilliseconds(50));
            foreach (var (connection, at) in closedAt)
            {
                var age = net.Now - at;
                if (age < 4_000 * Ms - Ms)
                {
                    Assert.Equal(TcpState.TimeWait, connection.State);
                }
                else if (age > 4_000 * Ms + Ms)
                {
                    Assert.Equal(TcpState.Closed, connection.State);
                }
            }
        }
        Assert.Equal(0, client.Engine.TimeWaitCount);
        Assert.Equal(2000, client.Engine.ConnectionCount + server.Engine.ConnectionCount); // the idle thousand on both sides
        Assert.True(client.Engine.TimerQueueLength <= 2 * client.Engine.ConnectionCount + 64);
    }

    [Fact]
    public void Churn_next_to_a_thousand_close_wait_connections_visits_only_the_timers_that_are_due()
    {
        var net = new TcpTestNet(9);
        var client = net.Add(A, seed: 11);
        var server = net.Add(B, seed: 22);
        var idle = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 5204), backlog: 2048);
        var echo = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 5203), backlog: 64);
        // The benchmark's state (bench/tcp/connections.sh): a thousand connections the client closed, which the
        // server's application holds in CLOSE-WAIT and never touches again.
        for (var i = 0; i < 1000; i++)
        {
            var c = net.Connect(client, server.EndPoint(5204));
            var s = net.Accept(server, idle);
            lock (client.Gate)
            {
                c.CloseLocked();
            }
            net.Run(() => s.State == TcpState.CloseWait, Budget);
        }
        net.Advance(TimeSpan.FromMinutes(2)); // the client's side finishes (FIN-WAIT-2 timeout, TIME-WAIT)
        Assert.Equal(1000, server.Engine.ConnectionCount);
        var visitedBefore = server.Engine.TimerEntriesVisited;
        // Churn: connect, one byte each way, close; 200 times.
        for (var i = 0; i < 200; i++)
        {
            var c = net.Connect(client, server.EndPoint(5203));
            var s = net.Accept(server, echo);
            var one = new byte[1];
            lock (client.Gate)
            {
                Assert.Equal(1, c.TryWriteLocked([(byte)i]));
            }
            net.Run(() => { lock (server.Gate) { return s.TryReadLocked(one, out _) == 1; } }, Budget);
            lock (server.Gate)
            {
                Assert.Equal(1, s.TryWriteLocked(one));
                s.CloseLocked();
            }
            net.Run(() => c.State == TcpState.CloseWait, Budget);
            lock (client.Gate)
            {
                c.CloseLocked();
            }
            net.Run(() => s.State is TcpState.TimeWait or TcpState.Closed, Budget);
        }
        var visited = server.Engine.TimerEntriesVisited - visitedBefore;
        // A handful of timer entries per churned connection (delayed ACKs, retransmission timers re-armed, TIME-WAIT),
        // none for the idle thousand: a scan would have looked at 1,000+ connections on every poll.
        Assert.InRange(visited, 1, 200 * 20);
        Assert.Equal(1000, server.Engine.ConnectionCount - server.Engine.TimeWaitCount);
    }

    [Fact]
    public void A_retransmission_timer_rearmed_later_fires_at_the_later_time_not_the_first()
    {
        // The queue keeps the first (earlier) entry; when it comes up the connection is queued again at its real deadline.
        var net = new TcpTestNet(7);
        var client = net.Add(A, seed: 11);
        var server = net.Add(B, seed: 22);
        var listener = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 80));
        var c = net.Connect(client, server.EndPoint(80));
        net.Accept(server, listener);
        net.Filter = (from, _, _) => from != B; // the server's ACKs are lost: only timeouts move data
        var data = TcpTestNet.RandomBytes(1000, 1);
        lock (client.Gate)
        {
            Assert.Equal(1000, c.TryWriteLocked(data));
        }
        // RTO 200 ms after the handshake's RTT sample (the floor), doubling at each timeout (RFC 6298 §5.5): each
        // fires at its own time, though the connection's queue entry was made for the first.
        var fired = new List<long>();
        var start = net.Now;
        for (var step = 0; step < 3000 && fired.Count < 6; step++)
        {
            var before = client.Counters.Timeouts;
            net.Advance(TimeSpan.FromMilliseconds(10));
            if (client.Counters.Timeouts != before)
            {
                Assert.Equal(before + 1, client.Counters.Timeouts);
                fired.Add((net.Now - start) / Ms);
            }
        }
        Assert.Equal(6, fired.Count);
        var expected = new long[] { 200, 600, 1400, 3000, 6200, 12600 };
        for (var i = 0; i < fired.Count; i++)
        {
            Assert.InRange(fired[i], expected[i], expected[i] + 20);
        }
    }
}
