using System;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Net;

// TcpBench --interface TAP --ipv4 ADDR/PREFIX [--bytes N] [--seconds S]   (our direct stack on an existing tap)
// TcpBench --socket                                                         (the socket stack, for comparison)
// Serves until --seconds pass (or SIGTERM):
//   port 5201: sink (reads every connection to its end, discards, prints the byte count);
//   port 5202: source (writes --bytes bytes to every connection, then closes);
//   port 5203: one request (reads once, writes it back, closes) — connections per second;
//   port 5204: holds every connection open without reading — memory per idle connection.
// Prints "ready" once it serves and the TCP counters when it stops.
string? tap = null, ipv4 = null;
var socket = false;
long bytes = 1L << 30;
var seconds = 600;
for (var i = 0; i < args.Length; i++)
{
    var value = i + 1 < args.Length ? args[i + 1] : "";
    switch (args[i])
    {
        case "--socket": socket = true; continue;
        case "--interface": tap = value; break;
        case "--ipv4": ipv4 = value; break;
        case "--bytes": bytes = long.Parse(value, CultureInfo.InvariantCulture); break;
        case "--seconds": seconds = int.Parse(value, CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"TcpBench: unknown option {args[i]}"); return 2;
    }
    i++;
}
if (!socket && (tap is null || ipv4 is null))
{
    Console.Error.WriteLine("usage: TcpBench --interface TAP --ipv4 ADDR/PREFIX [--bytes N] [--seconds S] | TcpBench --socket [--bytes N] [--seconds S]");
    return 2;
}
using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});
using var network = socket ? null : new TapNetworkInterface(tap!);
using var direct = network is null ? null : new DirectStack(network, new UnixMonotonicClock(), new UnixTime(), new UnixRandom(), ipv4!, "");
INetworkStack stack = direct is null ? new UnixSocketStack() : direct;
if (direct is not null)
{
    await direct.StartAsync(stop.Token);
}
using var sink = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 5201));
using var source = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 5202));
using var echo = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 5203), backlog: 1024);
using var idle = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 5204), backlog: 1024);
var held = new System.Collections.Concurrent.ConcurrentBag<ITcpConnection>();
Console.WriteLine("ready");

var block = new byte[256 * 1024];
async Task Serve(ITcpListener listener, Func<ITcpConnection, Task> handle)
{
    while (!stop.IsCancellationRequested)
    {
        ITcpConnection connection;
        try
        {
            connection = await listener.AcceptAsync(stop.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        _ = Task.Run(async () =>
        {
            await using (connection)
            {
                try
                {
                    await handle(connection);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    Console.WriteLine($"connection {connection.RemoteEndPoint}: {e.Message}");
                }
            }
        });
    }
}

var serving = Task.WhenAll(
    Serve(echo, async connection =>
    {
        var buffer = new byte[64];
        var n = await connection.ReadAsync(buffer, stop.Token);
        await connection.WriteAsync(buffer.AsMemory(0, n), stop.Token);
    }),
    Task.Run(async () =>
    {
        try
        {
            while (true)
            {
                held.Add(await idle.AcceptAsync(stop.Token));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }),
    Serve(sink, async connection =>
    {
        var buffer = new byte[256 * 1024];
        long total = 0;
        var watch = Stopwatch.StartNew();
        int n;
        while ((n = await connection.ReadAsync(buffer, stop.Token)) > 0)
        {
            total += n;
        }
        Console.WriteLine($"sink: {total} bytes in {watch.Elapsed.TotalSeconds:F3} s");
    }),
    Serve(source, async connection =>
    {
        for (var left = bytes; left > 0; left -= block.Length)
        {
            await connection.WriteAsync(block.AsMemory(0, (int)Math.Min(block.Length, left)), stop.Token);
        }
        connection.ShutdownSend();
        var rest = new byte[16];
        while (await connection.ReadAsync(rest, stop.Token) > 0)
        {
        }
    }));
try
{
    await serving;
}
catch (OperationCanceledException)
{
}
if (direct is null)
{
    return 0;
}
var c = direct.Counters.Tcp;
Console.WriteLine($"counters: segments in {c.SegmentsReceived} out {c.SegmentsSent}, retransmits {c.Retransmits} (fast {c.FastRetransmits}, timeouts {c.Timeouts}), " +
    $"out of order {c.OutOfOrder}, RSTs in {c.RstsReceived} out {c.RstsSent}; frames sent {direct.Counters.FramesSent}, transmit drops {direct.Counters.TransmitDrops}");
return 0;
