using System.Net;
using System.Net.Sockets;
using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// Issue 12 defect 3: TCP clients that dribble a byte now and then (slowloris) used to hold every connection slot,
/// locking out every new TCP client. Now each message has a deadline, the oldest-idle connection makes room at the
/// cap, and one address cannot hold more than its share. Every wait is bounded; nothing here measures time.
/// </summary>
[Collection("servers")]
public class SlowClientTests
{
    private static readonly byte[] s_query = Framed(DnsMessage.Query(N("host1.example.org."), DnsType.A, id: 9).Encode());

    private static byte[] Framed(byte[] q) => [(byte)(q.Length >> 8), (byte)q.Length, .. q];

    /// <summary>
    /// Keeps <paramref name="count"/> connections open from the given addresses, each declaring a message of
    /// <paramref name="declared"/> octets and sending one more octet every <paramref name="every"/>; a connection the
    /// server closes is opened again (at most <paramref name="reconnects"/> times in all), as a real attacker would.
    /// </summary>
    internal sealed class SlowClients : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private readonly List<(Socket Socket, IPAddress From)> _sockets = [];
        private readonly IPEndPoint _server;
        private readonly int _declared;
        private int _reconnectsLeft;

        public SlowClients(IPEndPoint server, IReadOnlyList<IPAddress> from, int count, int declared, TimeSpan every, int reconnects)
        {
            _server = server;
            _declared = declared;
            _reconnectsLeft = reconnects;
            for (var i = 0; i < count; i++)
            {
                _sockets.Add((Open(from[i % from.Count]), from[i % from.Count]));
            }
            _loop = Task.Run(async () =>
            {
                var one = new byte[1];
                while (!_stop.IsCancellationRequested)
                {
                    for (var i = 0; i < _sockets.Count; i++)
                    {
                        try
                        {
                            _sockets[i].Socket.Send(one, SocketFlags.None);
                            Sent++;
                        }
                        catch (SocketException)
                        {
                            Closed++;
                            _sockets[i].Socket.Dispose();
                            if (_reconnectsLeft-- > 0)
                            {
                                try
                                {
                                    _sockets[i] = (Open(_sockets[i].From), _sockets[i].From);
                                }
                                catch (SocketException)
                                {
                                    // the listener's backlog is full for a moment: try again next round
                                }
                            }
                        }
                    }
                    try
                    {
                        await Task.Delay(every, _stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            });
        }

        public long Sent { get; private set; }

        /// <summary>Times a send found the connection closed by the server.</summary>
        public int Closed { get; private set; }

        private Socket Open(IPAddress from)
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendTimeout = 2000 };
            s.Bind(new IPEndPoint(from, 0));
            s.Connect(_server);
            s.Send([(byte)(_declared >> 8)]); // half of the length prefix: the message never completes in time
            return s;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop.WaitAsync(TimeSpan.FromSeconds(15));
            foreach (var (socket, _) in _sockets)
            {
                socket.Dispose();
            }
            _stop.Dispose();
        }
    }

    private static int FreshQueries(IPEndPoint server, int count)
    {
        var answered = 0;
        for (var i = 0; i < count; i++)
        {
            try
            {
                var reply = Tools.QueryTcp(server, DnsMessage.Query(N("host1.example.org."), DnsType.A, id: (ushort)i).Encode(), TimeSpan.FromSeconds(5));
                if (DnsMessage.TryParse(reply, out var m, out _) && m.Id == i && m.Rcode == DnsRcode.NoError && m.Answers.Count == 1)
                {
                    answered++;
                }
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
                // not answered
            }
        }
        return answered;
    }

    private static IPAddress Loopback(int last) => new([127, 0, 0, (byte)last]);

    [Fact]
    public async Task Slow_clients_from_one_address_do_not_lock_out_other_clients()
    {
        await using var server = new OurServer(new DnsServiceOptions { EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)] });
        var endPoint = server.Service.TcpEndPoints[0];
        // 150 dribbling connections from 127.0.0.2 (the issue: 128 of them locked everyone out).
        await using (var attack = new SlowClients(endPoint, [Loopback(2)], 150, 16382, TimeSpan.FromMilliseconds(300), reconnects: 300))
        {
            Assert.Equal(12, FreshQueries(endPoint, 12));
            Assert.True(server.Service.TcpActive <= 128, $"{server.Service.TcpActive} connections open");
            Assert.True(server.Service.TcpEvicted >= 150 - 32, $"only {server.Service.TcpEvicted} evicted");
        }
        Assert.InRange(server.Service.TcpBufferBytesPeak, 1, server.Service.TcpMemoryCeiling);
    }

    [Fact]
    public async Task Slow_clients_from_many_addresses_fill_the_cap_and_new_clients_still_get_in_within_the_memory_ceiling()
    {
        const int cap = 64;
        await using var server = new OurServer(new DnsServiceOptions { EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)], MaxTcpConnections = cap });
        var endPoint = server.Service.TcpEndPoints[0];
        var from = Enumerable.Range(10, 40).Select(Loopback).ToArray();
        await using (var attack = new SlowClients(endPoint, from, 100, 16382, TimeSpan.FromMilliseconds(300), reconnects: 200))
        {
            Assert.Equal(12, FreshQueries(endPoint, 12));
            Assert.True(server.Service.TcpActive <= cap + 1, $"{server.Service.TcpActive} connections open");
            Assert.True(server.Service.TcpEvicted > 0);
        }
        // Stated ceiling: 16 KiB input per connection plus a 64 KiB output buffer only while an answer is written.
        Assert.Equal(cap * (16384L + 65536L), server.Service.TcpMemoryCeiling);
        Assert.InRange(server.Service.TcpBufferBytesPeak, 1, server.Service.TcpMemoryCeiling);
        // Slow clients never complete a message, so they never hold an output buffer: the peak is far below it.
        Assert.True(server.Service.TcpBufferBytesPeak <= (cap + 2) * 16384L + 2 * 65536L, $"peak {server.Service.TcpBufferBytesPeak}");
    }

    [Fact]
    public async Task A_message_that_is_not_complete_within_the_idle_timeout_closes_the_connection_even_if_bytes_keep_coming()
    {
        await using var server = new OurServer(new DnsServiceOptions
        {
            EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)],
            TcpIdleTimeout = TimeSpan.FromMilliseconds(500),
        });
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 20_000 };
        socket.Connect(server.Service.TcpEndPoints[0]);
        // A valid query sent one byte every 50 ms: it would take well over the timeout to complete. Before, each byte
        // restarted the timer and the query was finally answered.
        var sent = 0;
        var closed = false;
        for (; sent < s_query.Length && !closed; sent++)
        {
            try
            {
                socket.Send(s_query.AsSpan(sent, 1));
            }
            catch (SocketException)
            {
                closed = true;
                break;
            }
            closed = socket.Poll(50_000, SelectMode.SelectRead) && socket.Available == 0;
        }
        Assert.True(closed, $"the server kept the connection open for the whole {s_query.Length}-octet query");
        Assert.True(sent < s_query.Length);
        Assert.Equal(0, server.Service.TcpQueries);
    }
    [Fact]
    public async Task Soak_mutated_queries_over_udp_and_tcp_with_slow_clients_while_legitimate_queries_keep_99_percent_answers()
    {
        await using var server = new OurServer(new DnsServiceOptions { EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)], UdpThreads = 2 });
        var udp = server.EndPoint;
        var tcp = server.Service.TcpEndPoints[0];
        using var stop = new CancellationTokenSource();
        var seeds = new[] { "www.example.org.", "x.apps.example.org.", "www.sub.example.org.", "nope.example.org.", "example.org." }
            .Select(n => DnsMessage.Query(N(n), DnsType.A, ednsPayload: 1232).Encode()).ToArray();
        byte[] Mutate(Random random)
        {
            var packet = (byte[])seeds[random.Next(seeds.Length)].Clone();
            for (var k = random.Next(1, 5); k > 0 && packet.Length > 0; k--)
            {
                packet[random.Next(packet.Length)] = (byte)random.Next(256);
            }
            return random.Next(5) == 0 ? packet[..random.Next(packet.Length + 1)] : packet;
        }
        var mutatedUdp = 0;
        var mutatedTcp = 0;
        var noise = Task.Run(() =>
        {
            var random = new Random(777);
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(udp);
            for (var i = 0; i < 5000 && !stop.IsCancellationRequested; i++)
            {
                socket.Send(Mutate(random));
                mutatedUdp++;
                if (i % 25 == 0)
                {
                    // a mutated message over TCP, the connection left for the server to close
                    try
                    {
                        using var t = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { SendTimeout = 2000 };
                        t.Connect(tcp);
                        var m = Mutate(random);
                        t.Send([(byte)(m.Length >> 8), (byte)m.Length, .. m]);
                        mutatedTcp++;
                    }
                    catch (SocketException)
                    {
                    }
                }
                if (i % 50 == 0)
                {
                    Thread.Sleep(1);
                }
            }
        });
        int answered = 0;
        const int legitimate = 300;
        await using (var slow = new SlowClients(tcp, [Loopback(3)], 40, 300, TimeSpan.FromMilliseconds(200), reconnects: 100))
        {
            for (var i = 0; i < legitimate; i++)
            {
                var q = DnsMessage.Query(N("host1.example.org."), DnsType.A, id: (ushort)(i + 1)).Encode();
                var reply = i % 10 == 9
                    ? TryTcp(tcp, q)
                    : Tools.TryQuery(udp, q, TimeSpan.FromSeconds(1));
                if (reply is not null && DnsMessage.TryParse(reply, out var m, out _) && m.Id == i + 1 && m.Answers.Count == 1)
                {
                    answered++;
                }
            }
            await stop.CancelAsync();
            await noise.WaitAsync(TimeSpan.FromSeconds(30));
        }
        Assert.True(answered * 100 >= legitimate * 99, $"{answered} of {legitimate} legitimate queries answered during {mutatedUdp} mutated UDP and {mutatedTcp} mutated TCP queries and 40 slow clients");
        Assert.Equal(0, server.Service.Faults);
        Assert.True(mutatedUdp > 0 && mutatedTcp > 0);
    }

    private static byte[]? TryTcp(IPEndPoint server, byte[] query)
    {
        try
        {
            return Tools.QueryTcp(server, query, TimeSpan.FromSeconds(2));
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            return null;
        }
    }
}
