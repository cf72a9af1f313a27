using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.Net;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>
/// TCP through the whole direct stack (Ethernet, ARP, IPv4 and the TCP layer on the IPv4 seam): two stacks on a
/// <see cref="VirtualSwitch"/>, on a virtual clock that a driver thread moves 1 ms at a time, used only through
/// <see cref="ITcp"/> and <see cref="ITcpConnection"/> as an appliance would.
/// </summary>
public sealed class TcpDirectStackTests : IDisposable
{
    private readonly VirtualSwitch _switch = new(seed: 7);
    private readonly VirtualClock _clock = new() { AutoAdvance = false };
    private readonly List<IDisposable> _disposables = [];
    private readonly VirtualClockDriver _driver;

    public TcpDirectStackTests() => _driver = new VirtualClockDriver(_clock);

    public void Dispose()
    {
        _driver.Dispose();
        for (var i = _disposables.Count - 1; i >= 0; i--)
        {
            _disposables[i].Dispose();
        }
        _switch.Dispose();
    }

    private (DirectStack A, DirectStack B) StartPair()
    {
        var stacks = new DirectStack[2];
        for (var i = 0; i < 2; i++)
        {
            var port = _switch.AddPort();
            stacks[i] = new DirectStack(port, _clock, _clock, new SeededRandom((ulong)i + 1), $"10.0.0.{i + 1}/24", "");
            _disposables.Add(port);
            _disposables.Add(stacks[i]);
            Assert.True(stacks[i].StartAsync(CancellationToken.None).AsTask().Wait(TimeSpan.FromSeconds(5)));
        }
        _driver.Start();
        return (stacks[0], stacks[1]);
    }

    private static async Task<byte[]> ReadAllAsync(ITcpConnection connection, CancellationToken cancellationToken)
    {
        var received = new MemoryStream();
        var buffer = new byte[16384];
        int n;
        while ((n = await connection.ReadAsync(buffer, cancellationToken)) > 0)
        {
            received.Write(buffer, 0, n);
        }
        return received.ToArray();
    }

    private static async Task SendAllAsync(ITcpConnection connection, byte[] data, CancellationToken cancellationToken)
    {
        for (var offset = 0; offset < data.Length; offset += 50_000)
        {
            await connection.WriteAsync(data.AsMemory(offset, Math.Min(50_000, data.Length - offset)), cancellationToken);
        }
        connection.ShutdownSend();
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.01, 0.05)]
    public async Task Bulk_transfer_both_ways_between_two_stacks(double loss, double reorder)
    {
        var (a, b) = StartPair();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        using var listener = b.Tcp.Listen(new IPEndPoint(IPAddress.Any, 8080));
        var accepting = listener.AcceptAsync(timeout.Token).AsTask();
        await using var client = await a.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 8080), timeout.Token);
        await using var server = await accepting;
        Assert.Equal(IPAddress.Parse("10.0.0.1"), server.RemoteEndPoint.Address);
        _switch.LossRate = loss;
        _switch.ReorderRate = reorder;

        var up = TcpTestNet.RandomBytes(2 << 20, 1);
        var down = TcpTestNet.RandomBytes(1 << 20, 2);
        var serverReads = ReadAllAsync(server, timeout.Token);
        var clientReads = ReadAllAsync(client, timeout.Token);
        try
        {
            await Task.WhenAll(SendAllAsync(client, up, timeout.Token), SendAllAsync(server, down, timeout.Token), serverReads, clientReads);
        }
        catch (OperationCanceledException)
        {
            // Say where each side stands (a wedge once came from segments the IP layer refused as too long).
            Assert.Fail($"the transfer stalled: client {((TcpConnection)client).DescribeLocked()}; server {((TcpConnection)server).DescribeLocked()}; " +
                $"send failures {a.Counters.Tcp.SendFailures} / {b.Counters.Tcp.SendFailures}");
        }
        Assert.Equal(SHA256.HashData(up), SHA256.HashData(await serverReads));
        Assert.Equal(SHA256.HashData(down), SHA256.HashData(await clientReads));
        Assert.Equal(0, a.Counters.Tcp.SendFailures + b.Counters.Tcp.SendFailures);
        if (loss > 0)
        {
            Assert.True(_switch.FramesLost > 0);
            Assert.True(a.Counters.Tcp.Retransmits + b.Counters.Tcp.Retransmits > 0);
        }
        Assert.Equal(0, a.Counters.Errors + b.Counters.Errors);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_reader_woken_by_a_segment_continues_on_the_receive_thread_only_when_run_to_completion_is_on(bool runToCompletion)
    {
        var (a, b) = StartPair();
        b.RunTcpToCompletion = runToCompletion;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var listener = b.Tcp.Listen(new IPEndPoint(IPAddress.Any, 8080));
        var accepting = listener.AcceptAsync(timeout.Token).AsTask();
        await using var client = await a.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 8080), timeout.Token);
        await using var server = await accepting;
        // An echo server: every read waits (nothing is sent before it), then answers from where it resumed.
        var threads = new List<string?>();
        var echo = Task.Run(async () =>
        {
            var buffer = new byte[64];
            for (var i = 0; i < 20; i++)
            {
                var n = await server.ReadAsync(buffer, timeout.Token);
                Assert.True(n > 0);
                threads.Add(Thread.CurrentThread.Name);
                await server.WriteAsync(buffer.AsMemory(0, n), timeout.Token);
            }
        });
        var reply = new byte[64];
        for (var i = 0; i < 20; i++)
        {
            var message = new[] { (byte)i, (byte)(i * 3) };
            await client.WriteAsync(message, timeout.Token);
            var got = 0;
            while (got < 2)
            {
                got += await client.ReadAsync(reply.AsMemory(got), timeout.Token);
            }
            Assert.Equal(message, reply[..2]);
        }
        await echo;
        Assert.Equal(20, threads.Count);
        // Run to completion: reads that waited resumed on the receive thread (a read that finds its data already there,
        // as the first may when Task.Run starts late on a busy machine, completes where it was called). Off: never there.
        var onReceiveThread = threads.Count(t => t == "direct-stack-rx");
        if (runToCompletion)
        {
            Assert.True(onReceiveThread >= 15, $"{onReceiveThread} of 20 reads resumed on the receive thread");
        }
        else
        {
            Assert.Equal(0, onReceiveThread);
        }
        Assert.Equal(0, a.Counters.Errors + b.Counters.Errors);
    }

    [Fact]
    public async Task Connecting_to_a_closed_port_is_refused_and_the_rst_is_counted()
    {
        var (a, b) = StartPair();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var error = await Assert.ThrowsAsync<SocketException>(async () => await a.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 9), timeout.Token));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.Equal(1, b.Counters.Tcp.RstsSent);
        Assert.Equal(1, a.Counters.Tcp.RstsReceived);
        Assert.Equal(1, b.Counters.Tcp.DropsNoListener);
    }

    [Fact]
    public async Task Many_short_connections_in_a_row()
    {
        var (a, b) = StartPair();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var listener = b.Tcp.Listen(new IPEndPoint(IPAddress.Any, 7));
        var echo = Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                await using var connection = await listener.AcceptAsync(timeout.Token);
                var request = await ReadAllAsync(connection, timeout.Token);
                await connection.WriteAsync(request, timeout.Token);
            }
        });
        for (var i = 0; i < 50; i++)
        {
            await using var connection = await a.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 7), timeout.Token);
            var request = TcpTestNet.RandomBytes(100 + i * 37, i);
            await connection.WriteAsync(request, timeout.Token);
            connection.ShutdownSend();
            Assert.Equal(request, await ReadAllAsync(connection, timeout.Token));
        }
        await echo;
        Assert.Equal(50, b.Counters.Tcp.ConnectionsAccepted);
    }
}
