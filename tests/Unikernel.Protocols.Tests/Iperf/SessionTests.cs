using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.Iperf;

namespace Unikernel.Protocols.Tests.Iperf;

/// <summary>
/// The server's state machine driven by a scripted iperf3 client over the in-memory stack: whole forward and reverse
/// tests byte for byte, a second client while a test runs, and hostile clients (bad cookies, huge or broken JSON,
/// early closes, streams that never come, a test that never ends). After each hostile one a normal test still runs.
/// (The real iperf3 client is in the end-to-end tests.) Every wait is bounded.
/// </summary>
public sealed class SessionTests
{
    private const int Port = 5201;
    private static readonly byte[] Cookie = Encoding.ASCII.GetBytes("abcdefghijklmnopqrstuvwxyz2345672345\0");
    private static readonly byte[] OtherCookie = Encoding.ASCII.GetBytes("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\0");

    private sealed class Harness : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new(TimeSpan.FromSeconds(60));
        private readonly Task _run;

        public Harness(TimeSpan? stepTimeout = null, TimeSpan? endGrace = null)
        {
            Server = new IperfServer(Stack, new IperfServerOptions
            {
                EndPoint = new IPEndPoint(IPAddress.Loopback, Port),
                StepTimeout = stepTimeout ?? TimeSpan.FromSeconds(5),
                EndGrace = endGrace ?? TimeSpan.FromSeconds(5),
                Log = Lines.Enqueue,
            });
            Server.Bind();
            _run = Server.RunAsync(_stop.Token);
        }

        public LoopbackStack Stack { get; } = new();

        public IperfServer Server { get; }

        public ConcurrentQueue<string> Lines { get; } = new();

        public string Log => string.Join('\n', Lines);

        public async Task<Client> ConnectAsync() => new(await Stack.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port), CancellationToken.None));

        /// <summary>Waits (bounded) until the server's current test counted <paramref name="bytes"/>.</summary>
        public async Task WaitForBytesAsync(long bytes)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (Server.CountedBytes < bytes)
            {
                Assert.True(DateTime.UtcNow < deadline, $"the server counted {Server.CountedBytes} of {bytes} bytes\n{Log}");
                await Task.Delay(5);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _run.WaitAsync(TimeSpan.FromSeconds(10));
            _stop.Dispose();
        }
    }

    /// <summary>One connection of the scripted client; every read is bounded by 10 s.</summary>
    private sealed class Client(ITcpConnection connection) : IAsyncDisposable
    {
        public ITcpConnection Connection { get; } = connection;

        public async Task SendAsync(byte[] bytes)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await Connection.WriteAsync(bytes, timeout.Token);
        }

        public Task SendStateAsync(IperfState state) => SendAsync([unchecked((byte)state)]);

        public Task SendJsonAsync(string json)
        {
            var body = Encoding.UTF8.GetBytes(json);
            var message = new byte[4 + body.Length];
            BinaryPrimitives.WriteInt32BigEndian(message, body.Length);
            body.CopyTo(message, 4);
            return SendAsync(message);
        }

        public async Task<byte[]> ReadAsync(int count)
        {
            var buffer = new byte[count];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            Assert.True(await IperfSession.ReadExactlyAsync(Connection, buffer, timeout.Token), $"the connection ended before {count} bytes");
            return buffer;
        }

        public async Task<IperfState> ReadStateAsync() => (IperfState)(sbyte)(await ReadAsync(1))[0];

        public async Task<int> ReadInt32Async() => BinaryPrimitives.ReadInt32BigEndian(await ReadAsync(4));

        public async Task<JsonValue> ReadJsonAsync()
        {
            var length = await ReadInt32Async();
            Assert.InRange(length, 1, 1 << 20);
            Assert.True(JsonReader.TryParse(await ReadAsync(length), out var json, out var error), error);
            return json;
        }

        /// <summary>Reads until the end of the stream (bounded); the byte count.</summary>
        public async Task<long> ReadToEndAsync()
        {
            var buffer = new byte[65536];
            long total = 0;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (true)
            {
                var n = await Connection.ReadAsync(buffer, timeout.Token);
                if (n == 0)
                {
                    return total;
                }
                total += n;
            }
        }

        public async Task ExpectServerErrorAsync(IperfError error, int errno)
        {
            Assert.Equal(IperfState.ServerError, await ReadStateAsync());
            Assert.Equal((int)error, await ReadInt32Async());
            Assert.Equal(errno, await ReadInt32Async());
            Assert.Equal(0, await ReadToEndAsync());
        }

        public ValueTask DisposeAsync() => Connection.DisposeAsync();
    }

    private static async Task<Client> StartTestAsync(Harness harness, string parameters)
    {
        var control = await harness.ConnectAsync();
        await control.SendAsync(Cookie);
        Assert.Equal(IperfState.ParamExchange, await control.ReadStateAsync());
        await control.SendJsonAsync(parameters);
        return control;
    }

    private static async Task<Client[]> CreateStreamsAsync(Harness harness, Client control, int count)
    {
        Assert.Equal(IperfState.CreateStreams, await control.ReadStateAsync());
        var streams = new Client[count];
        for (var i = 0; i < count; i++)
        {
            streams[i] = await harness.ConnectAsync();
            await streams[i].SendAsync(Cookie);
        }
        Assert.Equal(IperfState.TestStart, await control.ReadStateAsync());
        Assert.Equal(IperfState.TestRunning, await control.ReadStateAsync());
        return streams;
    }

    private const string ClientResults = "{\"cpu_util_total\":1.5,\"cpu_util_user\":0.5,\"cpu_util_system\":1,\"sender_has_retransmits\":1,"
        + "\"streams\":[{\"id\":1,\"bytes\":3000,\"retransmits\":0,\"jitter\":0,\"errors\":0,\"packets\":0,\"start_time\":0,\"end_time\":1}]}";

    /// <summary>TEST_END, then EXCHANGE_RESULTS both ways, DISPLAY_RESULTS, IPERF_DONE: the server's results.</summary>
    private static async Task<JsonValue> EndTestAsync(Client control)
    {
        await control.SendStateAsync(IperfState.TestEnd);
        Assert.Equal(IperfState.ExchangeResults, await control.ReadStateAsync());
        await control.SendJsonAsync(ClientResults);
        var results = await control.ReadJsonAsync();
        Assert.Equal(IperfState.DisplayResults, await control.ReadStateAsync());
        await control.SendStateAsync(IperfState.IperfDone);
        Assert.Equal(0, await control.ReadToEndAsync());
        return results;
    }

    /// <summary>A whole forward test of one stream and 3,000 bytes: the server's counting still works.</summary>
    private static async Task RunForwardAsync(Harness harness)
    {
        var control = await StartTestAsync(harness, "{\"tcp\":true,\"time\":10,\"parallel\":1}");
        var streams = await CreateStreamsAsync(harness, control, 1);
        await streams[0].SendAsync(new byte[3000]);
        await harness.WaitForBytesAsync(3000);
        var results = await EndTestAsync(control);
        Assert.Equal(3000, results["streams"]!.Items[0]["bytes"]!.Integer);
    }

    [Fact]
    public async Task A_forward_test_with_two_streams_counts_each_and_numbers_them_as_iperf3()
    {
        await using var harness = new Harness();
        var control = await StartTestAsync(harness, "{\"tcp\":true,\"omit\":0,\"time\":10,\"num\":0,\"blockcount\":0,\"parallel\":2,\"len\":1000,\"client_version\":\"3.12\"}");
        var streams = await CreateStreamsAsync(harness, control, 2);
        await streams[0].SendAsync(new byte[3000]);
        await streams[1].SendAsync(new byte[5000]);
        await harness.WaitForBytesAsync(8000);
        var results = await EndTestAsync(control);

        Assert.Equal(-1, results["sender_has_retransmits"]!.Integer);
        var list = results["streams"]!.Items;
        Assert.Equal(2, list.Count);
        Assert.Equal([1, 3], list.Select(s => s["id"]!.Integer));
        Assert.Equal([3000, 5000], list.Select(s => s["bytes"]!.Integer));
        Assert.All(list, s => Assert.InRange(s["end_time"]!.Number, 0, 60));
        Assert.Equal(0, await streams[0].ReadToEndAsync()); // the server closed the streams at TEST_END
        Assert.Equal(1, harness.Server.Completed);
        Assert.Contains("received 8000 bytes on 2 stream(s)", harness.Log, StringComparison.Ordinal);
        Assert.Contains("the client counted 3000 bytes; client 3.12", harness.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reverse_test_by_bytes_sends_exactly_that_many_over_its_streams()
    {
        await using var harness = new Harness();
        var control = await StartTestAsync(harness, "{\"tcp\":true,\"time\":0,\"num\":10000,\"parallel\":2,\"len\":1000,\"reverse\":true,\"get_server_output\":1}");
        var streams = await CreateStreamsAsync(harness, control, 2);
        await harness.WaitForBytesAsync(10000);
        var results = await EndTestAsync(control);
        var received = await streams[0].ReadToEndAsync() + await streams[1].ReadToEndAsync();

        Assert.Equal(10000, received);
        Assert.Equal(10000, results["streams"]!.Items.Sum(s => s["bytes"]!.Integer));
        Assert.Equal(0, results["sender_has_retransmits"]!.Integer);
        Assert.Contains("sender", results["server_output_text"]!.Text, StringComparison.Ordinal);
        Assert.Contains("[SUM]", results["server_output_text"]!.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_client_gets_access_denied_while_a_test_runs()
    {
        await using var harness = new Harness();
        // While the first client has not sent its parameters yet...
        var first = await harness.ConnectAsync();
        await first.SendAsync(Cookie);
        Assert.Equal(IperfState.ParamExchange, await first.ReadStateAsync());
        var second = await harness.ConnectAsync();
        await second.SendAsync(OtherCookie);
        Assert.Equal(IperfState.AccessDenied, await second.ReadStateAsync());
        Assert.Equal(0, await second.ReadToEndAsync());

        // ... and while it runs.
        await first.SendJsonAsync("{\"tcp\":true,\"time\":10}");
        var streams = await CreateStreamsAsync(harness, first, 1);
        var third = await harness.ConnectAsync();
        await third.SendAsync(OtherCookie);
        Assert.Equal(IperfState.AccessDenied, await third.ReadStateAsync());
        Assert.Equal(0, await third.ReadToEndAsync());

        await streams[0].SendAsync(new byte[100]);
        await harness.WaitForBytesAsync(100);
        await EndTestAsync(first);
        Assert.Equal(2, harness.Server.Denied);
        await RunForwardAsync(harness);
    }

    [Fact]
    public async Task A_stream_with_another_cookie_is_denied_and_the_test_goes_on()
    {
        await using var harness = new Harness();
        var control = await StartTestAsync(harness, "{\"tcp\":true,\"time\":10,\"parallel\":1}");
        Assert.Equal(IperfState.CreateStreams, await control.ReadStateAsync());
        var stranger = await harness.ConnectAsync();
        await stranger.SendAsync(OtherCookie);
        Assert.Equal(IperfState.AccessDenied, await stranger.ReadStateAsync());
        Assert.Equal(0, await stranger.ReadToEndAsync());
        var stream = await harness.ConnectAsync();
        await stream.SendAsync(Cookie);
        Assert.Equal(IperfState.TestStart, await control.ReadStateAsync());
        Assert.Equal(IperfState.TestRunning, await control.ReadStateAsync());
        await stream.SendAsync(new byte[10]);
        await harness.WaitForBytesAsync(10);
        Assert.Equal(10, (await EndTestAsync(control))["streams"]!.Items[0]["bytes"]!.Integer);
    }

    [Fact]
    public async Task A_malformed_cookie_is_denied()
    {
        await using var harness = new Harness();
        var client = await harness.ConnectAsync();
        await client.SendAsync(Encoding.ASCII.GetBytes(new string('x', IperfWire.CookieSize)));
        Assert.Equal(IperfState.AccessDenied, await client.ReadStateAsync());
        Assert.Equal(0, await client.ReadToEndAsync());
        Assert.Contains("not an iperf3 cookie", harness.Log, StringComparison.Ordinal);
        await RunForwardAsync(harness);
    }

    [Fact]
    public async Task A_huge_json_length_is_refused_before_anything_is_read_for_it()
    {
        await using var harness = new Harness();
        var client = await harness.ConnectAsync();
        await client.SendAsync(Cookie);
        Assert.Equal(IperfState.ParamExchange, await client.ReadStateAsync());
        await client.SendAsync([0xFF, 0xFF, 0xFF, 0xFF]);
        await client.ExpectServerErrorAsync(IperfError.ReceiveParameters, IperfParameters.Errno.MessageTooLong);
        Assert.Equal(1, harness.Server.Refused);
        await RunForwardAsync(harness);
    }

    [Theory]
    [InlineData("{oops")]
    [InlineData("{\"tcp\":true,}")]
    [InlineData("[]")]
    [InlineData("{\"tcp\":true}{}")]
    public async Task Bad_parameters_are_refused_with_server_error(string json)
    {
        await using var harness = new Harness();
        var client = await StartTestAsync(harness, json);
        await client.ExpectServerErrorAsync(IperfError.ReceiveParameters, IperfParameters.Errno.BadMessage);
        await RunForwardAsync(harness);
    }

    [Fact]
    public async Task Udp_and_too_many_streams_are_refused_with_the_error_iperf3_prints()
    {
        await using var harness = new Harness();
        await (await StartTestAsync(harness, "{\"udp\":true,\"time\":1}")).ExpectServerErrorAsync(IperfError.Unimplemented, 0);
        await (await StartTestAsync(harness, "{\"tcp\":true,\"parallel\":200}")).ExpectServerErrorAsync(IperfError.NumStreams, 0);
        Assert.Equal(2, harness.Server.Refused);
        await RunForwardAsync(harness);
    }

    [Fact]
    public async Task A_client_right_after_a_refused_one_waits_for_it_instead_of_being_denied()
    {
        await using var harness = new Harness();
        for (var i = 0; i < 20; i++)
        {
            var refused = await StartTestAsync(harness, "{\"udp\":true}");
            Assert.Equal(IperfState.ServerError, await refused.ReadStateAsync());
            // The next client connects before the refused one's connection has closed.
            var next = await harness.ConnectAsync();
            await next.SendAsync(Cookie);
            Assert.Equal(IperfState.ParamExchange, await next.ReadStateAsync());
            await next.DisposeAsync();
            await refused.DisposeAsync();
            await WaitForLogAsync(harness, $"closed the control connection", count: i + 1);
        }
        Assert.Equal(0, harness.Server.Denied);
    }

    [Fact]
    public async Task Early_closes_end_the_test_and_the_next_one_runs()
    {
        await using var harness = new Harness();
        // Before the cookie is complete.
        var a = await harness.ConnectAsync();
        await a.SendAsync(Cookie[..10]);
        await a.DisposeAsync();
        await WaitForLogAsync(harness, "closed before sending its cookie");
        // Inside the parameters.
        var b = await harness.ConnectAsync();
        await b.SendAsync(Cookie);
        Assert.Equal(IperfState.ParamExchange, await b.ReadStateAsync());
        await b.SendAsync([0, 0, 0, 100, (byte)'{']);
        await b.DisposeAsync();
        await WaitForLogAsync(harness, "inside a JSON message");
        // During the test, with CLIENT_TERMINATE.
        var c = await StartTestAsync(harness, "{\"tcp\":true,\"time\":10}");
        var streams = await CreateStreamsAsync(harness, c, 1);
        await c.SendStateAsync(IperfState.ClientTerminate);
        Assert.Equal(0, await c.ReadToEndAsync());
        Assert.Equal(0, await streams[0].ReadToEndAsync());
        await WaitForLogAsync(harness, "terminated the test");
        // While creating streams, by closing the control connection.
        var d = await StartTestAsync(harness, "{\"tcp\":true,\"time\":10,\"parallel\":2}");
        Assert.Equal(IperfState.CreateStreams, await d.ReadStateAsync());
        await d.DisposeAsync();
        await WaitForLogAsync(harness, "closed the control connection");
        await RunForwardAsync(harness);
        Assert.Equal(1, harness.Server.Completed);
    }

    [Fact]
    public async Task Streams_that_never_connect_end_the_test_with_server_error()
    {
        await using var harness = new Harness(stepTimeout: TimeSpan.FromMilliseconds(300));
        var control = await StartTestAsync(harness, "{\"tcp\":true,\"time\":10,\"parallel\":3}");
        Assert.Equal(IperfState.CreateStreams, await control.ReadStateAsync());
        var one = await harness.ConnectAsync();
        await one.SendAsync(Cookie);
        await control.ExpectServerErrorAsync(IperfError.Accept, 0);
        Assert.Equal(0, await one.ReadToEndAsync());
        Assert.Contains("1 of 3 stream(s) connected", harness.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_test_without_test_end_is_terminated_after_its_time_and_the_grace()
    {
        await using var harness = new Harness(endGrace: TimeSpan.FromMilliseconds(200));
        var control = await StartTestAsync(harness, "{\"tcp\":true,\"time\":1}");
        var streams = await CreateStreamsAsync(harness, control, 1);
        Assert.Equal(IperfState.ServerTerminate, await control.ReadStateAsync());
        Assert.Equal(0, await control.ReadToEndAsync());
        Assert.Equal(0, await streams[0].ReadToEndAsync());
        await RunForwardAsync(harness);
    }

    [Fact]
    public async Task Bad_client_results_are_refused()
    {
        await using var harness = new Harness();
        var control = await StartTestAsync(harness, "{\"tcp\":true,\"time\":10}");
        await CreateStreamsAsync(harness, control, 1);
        await control.SendStateAsync(IperfState.TestEnd);
        Assert.Equal(IperfState.ExchangeResults, await control.ReadStateAsync());
        await control.SendJsonAsync("{\"streams\":[]}");
        await control.ExpectServerErrorAsync(IperfError.ReceiveResults, IperfParameters.Errno.BadMessage);
        await RunForwardAsync(harness);
    }

    private static async Task WaitForLogAsync(Harness harness, string text, int count = 1)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (harness.Lines.Count(l => l.Contains(text, StringComparison.Ordinal)) < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the server never logged '{text}':\n{harness.Log}");
            await Task.Delay(5);
        }
        // The session is over once it logged; wait (bounded) for the server to be free again.
        await Task.Delay(20);
    }
}
