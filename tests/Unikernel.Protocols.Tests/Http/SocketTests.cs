using System.Net;
using System.Net.Sockets;
using System.Text;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Http;
using static Unikernel.Protocols.Tests.Http.HttpTestKit;

namespace Unikernel.Protocols.Tests.Http;

/// <summary>
/// The server over the host's sockets (UnixSocketStack) on loopback: timeouts against slow clients, the connection
/// cap, shutdown. Every wait is bounded; nothing asserts on how long something took.
/// </summary>
public sealed class SocketTests
{
    private sealed class Running : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _run;

        public Running(HttpServerOptions options)
        {
            Server = new HttpServer(new UnixSocketStack(), options, Site(), EchoRoutes());
            Server.Bind();
            _run = Server.RunAsync(_stop.Token);
        }

        public HttpServer Server { get; }

        public IPEndPoint EndPoint => Server.EndPoints[0];

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            Assert.True(_run.Wait(TimeSpan.FromSeconds(20)), "the server did not stop");
            _stop.Dispose();
        }
    }

    private static HttpServerOptions Options(TimeSpan? header = null, TimeSpan? idle = null, TimeSpan? body = null, int maxConnections = 64) => new()
    {
        EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)],
        Clock = new FixedClock(Now),
        HeaderTimeout = header ?? TimeSpan.FromSeconds(10),
        IdleTimeout = idle ?? TimeSpan.FromSeconds(10),
        BodyTimeout = body ?? TimeSpan.FromSeconds(10),
        MaxConnections = maxConnections,
    };

    private static Socket Connect(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 20000 };
        socket.Connect(endPoint);
        return socket;
    }

    /// <summary>Everything until the server closes (bounded by the receive timeout).</summary>
    private static string ReadToEnd(Socket socket)
    {
        var buffer = new byte[65536];
        var all = new MemoryStream();
        while (true)
        {
            var n = socket.Receive(buffer);
            if (n == 0)
            {
                return Encoding.Latin1.GetString(all.ToArray());
            }
            all.Write(buffer, 0, n);
        }
    }

    [Fact]
    public async Task Serves_keep_alive_and_pipelined_requests_over_real_sockets()
    {
        await using var running = new Running(Options());
        using var socket = Connect(running.EndPoint);
        socket.Send(Encoding.ASCII.GetBytes("GET /style.css HTTP/1.1\r\nHost: h\r\n\r\nGET /digits.txt HTTP/1.1\r\nHost: h\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        var responses = Responses(ReadToEnd(socket));
        Assert.Equal(3, responses.Count);
        Assert.Equal("body{}", responses[0].Body);
        Assert.Equal("0123456789", responses[1].Body);
        Assert.Equal(Encoding.Latin1.GetString(Big), responses[2].Body);
    }

    [Fact]
    public async Task A_slow_head_gets_408_and_is_closed()
    {
        await using var running = new Running(Options(header: TimeSpan.FromMilliseconds(300)));
        using var socket = Connect(running.EndPoint);
        socket.Send("GET / HTTP/1.1\r\nHost: h\r\n"u8.ToArray()); // never finished
        var response = ReadToEnd(socket);
        Assert.StartsWith("HTTP/1.1 408 Request Timeout\r\n", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_slowloris_dripping_bytes_is_cut_off_by_the_header_deadline()
    {
        await using var running = new Running(Options(header: TimeSpan.FromMilliseconds(500)));
        using var socket = Connect(running.EndPoint);
        socket.Send("GET / HTTP/1.1\r\n"u8.ToArray());
        // Keep sending a byte every 50 ms: each read resets nothing, the deadline holds (bounded: at most 200 bytes).
        var closed = false;
        for (var i = 0; i < 200 && !closed; i++)
        {
            try
            {
                socket.Send("X"u8.ToArray());
            }
            catch (SocketException)
            {
                closed = true;
                break;
            }
            Thread.Sleep(50);
            if (socket.Poll(0, SelectMode.SelectRead))
            {
                closed = true;
            }
        }
        Assert.True(closed, "the server kept a dripping client");
    }

    [Fact]
    public async Task An_idle_keep_alive_connection_is_closed()
    {
        await using var running = new Running(Options(idle: TimeSpan.FromMilliseconds(300)));
        using var socket = Connect(running.EndPoint);
        socket.Send("GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n"u8.ToArray());
        var text = ReadToEnd(socket); // returns when the server closes after the idle timeout
        Assert.Equal("body{}", Responses(text).Single().Body);
    }

    [Fact]
    public async Task A_body_that_stops_coming_is_cut_off()
    {
        await using var running = new Running(Options(body: TimeSpan.FromMilliseconds(300)));
        using var socket = Connect(running.EndPoint);
        socket.Send("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc"u8.ToArray());
        Assert.Equal("", ReadToEnd(socket)); // closed without an answer for a body that never came
    }

    [Fact]
    public async Task Connections_above_the_cap_get_503_and_those_below_keep_working()
    {
        await using var running = new Running(Options(maxConnections: 2));
        using var first = Connect(running.EndPoint);
        using var second = Connect(running.EndPoint);
        // Both are accepted (a request on each proves it) before the third arrives.
        foreach (var socket in new[] { first, second })
        {
            socket.Send("GET /style.css HTTP/1.1\r\nHost: h\r\n\r\n"u8.ToArray());
            var buffer = new byte[4096];
            Assert.True(socket.Receive(buffer) > 0);
        }
        using var third = Connect(running.EndPoint);
        Assert.StartsWith("HTTP/1.1 503 Service Unavailable\r\n", ReadToEnd(third), StringComparison.Ordinal);
        Assert.Equal(1, running.Server.Rejected);
        first.Send("GET /digits.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"u8.ToArray());
        Assert.Equal("0123456789", Responses(ReadToEnd(first)).Single().Body);
    }

    [Fact]
    public async Task A_client_that_does_not_read_does_not_stall_others()
    {
        await using var running = new Running(Options());
        using var greedy = Connect(running.EndPoint);
        greedy.ReceiveBufferSize = 4096;
        // Ask for ~10 MB and read none of it.
        var request = string.Concat(Enumerable.Repeat("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n", 100));
        greedy.Send(Encoding.ASCII.GetBytes(request));
        using var other = Connect(running.EndPoint);
        other.Send("GET /digits.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"u8.ToArray());
        Assert.Equal("0123456789", Responses(ReadToEnd(other)).Single().Body);
    }
}
