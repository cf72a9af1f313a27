using System;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Net;

// TcpBench --interface TAP --ipv4 ADDR/PREFIX [--bytes N] [--seconds S]
// Attaches the direct stack to an existing tap and serves until --seconds pass (or SIGTERM):
//   port 5201: sink (reads every connection to its end, discards, prints the byte count);
//   port 5202: source (writes --bytes bytes to every connection, then closes).
// Prints "ready" once it serves and the TCP counters when it stops.
string? tap = null, ipv4 = null;
long bytes = 1L << 30;
var seconds = 600;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--interface": tap = args[i + 1]; break;
        case "--ipv4": ipv4 = args[i + 1]; break;
        case "--bytes": bytes = long.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--seconds": seconds = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"TcpBench: unknown option {args[i]}"); return 2;
    }
}
if (tap is null || ipv4 is null)
{
    Console.Error.WriteLine("usage: TcpBench --interface TAP --ipv4 ADDR/PREFIX [--bytes N] [--seconds S]");
    return 2;
}
using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});
using var network = new TapNetworkInterface(tap);
using var stack = new DirectStack(network, new UnixMonotonicClock(), new UnixTime(), new UnixRandom(), ipv4, "");
await stack.StartAsync(stop.Token);
using var sink = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 5201));
using var source = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 5202));
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
var c = stack.Counters.Tcp;
Console.WriteLine($"counters: segments in {c.SegmentsReceived} out {c.SegmentsSent}, retransmits {c.Retransmits} (fast {c.FastRetransmits}, timeouts {c.Timeouts}), " +
    $"out of order {c.OutOfOrder}, RSTs in {c.RstsReceived} out {c.RstsSent}; frames sent {stack.Counters.FramesSent}, transmit drops {stack.Counters.TransmitDrops}");
return 0;
