using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Net;
using Xunit.Abstractions;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>
/// TCP of the direct stack against the Linux kernel's over a tap in a namespace the test makes (see <see cref="LinuxLink"/>),
/// with socat, curl and nc as the peers. Needs root, /dev/net/tun and the Debian packages iproute2, socat, curl and
/// netcat-openbsd (and ethtool); fails (never skips) without them.
/// </summary>
[Collection("LinuxPeer")]
public sealed class TcpLinuxPeerTests(ITestOutputHelper output)
{
    private const string KernelAddress = "10.214.0.1";
    private const string StackAddress = "10.214.0.2";
    private static readonly string[] Tools = ["socat", "curl", "nc", "ss", "ethtool"];

    private static DirectStack NewStack(INetworkInterface network) =>
        new(network, new UnixMonotonicClock(), new UnixTime(), new UnixRandom(), StackAddress + "/24", "");

    private static string Sha256(byte[] data) => Convert.ToHexString(SHA256.HashData(data));

    private static async Task<byte[]> ReadAllAsync(ITcpConnection connection, CancellationToken cancellationToken)
    {
        var received = new MemoryStream();
        var buffer = new byte[65536];
        int n;
        while ((n = await connection.ReadAsync(buffer, cancellationToken)) > 0)
        {
            received.Write(buffer, 0, n);
        }
        return received.ToArray();
    }

    /// <summary>Waits (bounded) until a Linux listener is up on <paramref name="port"/> in the namespace.</summary>
    private static void WaitForListener(LinuxLink link, int port)
    {
        for (var i = 0; i < 100; i++)
        {
            if (link.Exec("ss", "-ltnH", $"sport = :{port}").Stdout.Contains($":{port}", StringComparison.Ordinal))
            {
                return;
            }
            Thread.Sleep(50);
        }
        Assert.Fail($"no Linux listener on port {port}");
    }

    private static async Task<string> WaitAsync(Process process, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var stderr = process.StandardError.ReadToEndAsync(cancel.Token);
        await process.WaitForExitAsync(cancel.Token);
        return await stderr;
    }

    [Fact]
    public async Task Linux_sends_to_our_listener_and_receives_from_it_with_socat_curl_and_nc()
    {
        using var link = LinuxLink.Create(output, KernelAddress + "/24", Tools);
        using var stack = NewStack(link.Tap);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await stack.StartAsync(timeout.Token);
        var directory = Directory.CreateTempSubdirectory("uk-tcp-linux-");
        try
        {
            var upload = TcpTestNet.RandomBytes(8 << 20, 1);
            var uploadPath = Path.Combine(directory.FullName, "upload");
            await File.WriteAllBytesAsync(uploadPath, upload, timeout.Token);

            // Linux → us with socat; we check the SYN's options and what arrives.
            using (var listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 5001)))
            {
                var accepting = listener.AcceptAsync(timeout.Token).AsTask();
                var socat = link.StartInNamespace("socat", "-u", "OPEN:" + uploadPath, $"TCP:{StackAddress}:5001");
                await using var connection = await accepting;
                var tcp = (TcpConnection)connection;
                Assert.Equal(1460, tcp.PeerMss);
                Assert.True(tcp.SackEnabled, "Linux offers SACK-permitted");
                Assert.True(tcp.TimestampsEnabled, "Linux offers timestamps");
                Assert.InRange(tcp.SendShift, 1, 14); // Linux's window scale
                Assert.Equal(1448, tcp.Mss);
                var received = await ReadAllAsync(connection, timeout.Token);
                Assert.Equal(Sha256(upload), Sha256(received));
                output.WriteLine(await WaitAsync(socat, TimeSpan.FromSeconds(20)));
                Assert.Equal(0, socat.ExitCode);
            }

            // us → Linux with curl: a minimal HTTP/1.0 response carrying 8 MiB.
            var download = TcpTestNet.RandomBytes(8 << 20, 2);
            using (var listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 8080)))
            {
                var serving = Task.Run(async () =>
                {
                    await using var connection = await listener.AcceptAsync(timeout.Token);
                    var request = new MemoryStream();
                    var buffer = new byte[4096];
                    while (!Encoding.ASCII.GetString(request.ToArray()).Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        var n = await connection.ReadAsync(buffer, timeout.Token);
                        Assert.True(n > 0, "the request ended early");
                        request.Write(buffer, 0, n);
                    }
                    await connection.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.0 200 OK\r\nContent-Length: {download.Length}\r\n\r\n"), timeout.Token);
                    await connection.WriteAsync(download, timeout.Token);
                    connection.ShutdownSend();
                    Assert.Equal(0, await connection.ReadAsync(buffer, timeout.Token)); // curl closes after the body
                });
                var downloadPath = Path.Combine(directory.FullName, "download");
                var curl = link.ExecWithTimeout(TimeSpan.FromSeconds(60), "curl", "-sS", "--max-time", "50", "-o", downloadPath, $"http://{StackAddress}:8080/").Check();
                await serving;
                Assert.Equal(Sha256(download), Sha256(await File.ReadAllBytesAsync(downloadPath, timeout.Token)));
                _ = curl;
            }

            // us → Linux with nc listening: we connect, send, half-close.
            var pushPath = Path.Combine(directory.FullName, "pushed");
            var nc = link.StartInNamespace("sh", "-c", $"nc -l -N 5003 < /dev/null > {pushPath}");
            WaitForListener(link, 5003);
            await using (var connection = await stack.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse(KernelAddress), 5003), timeout.Token))
            {
                var tcp = (TcpConnection)connection;
                Assert.True(tcp.SackEnabled && tcp.TimestampsEnabled);
                await connection.WriteAsync(upload, timeout.Token);
                connection.ShutdownSend();
                Assert.Equal(0, await connection.ReadAsync(new byte[16], timeout.Token)); // nc closes after our FIN
            }
            output.WriteLine(await WaitAsync(nc, TimeSpan.FromSeconds(20)));
            Assert.Equal(Sha256(upload), Sha256(await File.ReadAllBytesAsync(pushPath, timeout.Token)));
            Assert.Equal(0, stack.Counters.Errors);
            Assert.Equal(0, stack.Counters.Tcp.DropsBadChecksum);
            output.WriteLine($"tcp: {stack.Counters.Tcp.SegmentsReceived} segments in, {stack.Counters.Tcp.SegmentsSent} out, {stack.Counters.Tcp.Retransmits} retransmitted");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Linux_socket_sees_our_options_and_both_directions_survive_loss_on_our_side()
    {
        using var link = LinuxLink.Create(output, KernelAddress + "/24", Tools);
        using var lossy = new LossyInterface(link.Tap, seed: 1234, lossRate: 0.02, reorderRate: 0.02);
        using var stack = NewStack(lossy);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        await stack.StartAsync(timeout.Token);
        var directory = Directory.CreateTempSubdirectory("uk-tcp-loss-");
        try
        {
            // Linux listens (socat), we connect and send 2 MiB through a link that drops and reorders frames.
            var up = TcpTestNet.RandomBytes(2 << 20, 3);
            var upPath = Path.Combine(directory.FullName, "up");
            var sink = link.StartInNamespace("socat", "-u", "TCP-LISTEN:5010,reuseaddr", "CREATE:" + upPath);
            WaitForListener(link, 5010);
            await using (var connection = await stack.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse(KernelAddress), 5010), timeout.Token))
            {
                await connection.WriteAsync(up, timeout.Token);
                var ss = link.Exec("ss", "-tniH", "state", "established").Check();
                // Linux's view of the connection: our window scale (3) applied to what we advertise, and an MSS of
                // 1460 − 12 (timestamps in use). This kernel's ss does not print "ts"/"sack"; our side checks that
                // Linux's SYN-ACK carried both.
                Assert.Matches(@"wscale:3,\d+", ss.Stdout);
                Assert.Contains("mss:1448", ss.Stdout, StringComparison.Ordinal);
                Assert.True(((TcpConnection)connection).SackEnabled && ((TcpConnection)connection).TimestampsEnabled);
                connection.ShutdownSend();
                Assert.Equal(0, await connection.ReadAsync(new byte[16], timeout.Token));
            }
            output.WriteLine(await WaitAsync(sink, TimeSpan.FromSeconds(30)));
            Assert.Equal(Sha256(up), Sha256(await File.ReadAllBytesAsync(upPath, timeout.Token)));

            // Linux connects (socat) and sends 2 MiB to our listener over the same lossy link.
            var down = TcpTestNet.RandomBytes(2 << 20, 4);
            var downPath = Path.Combine(directory.FullName, "down");
            await File.WriteAllBytesAsync(downPath, down, timeout.Token);
            using (var listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 5011)))
            {
                var accepting = listener.AcceptAsync(timeout.Token).AsTask();
                var source = link.StartInNamespace("socat", "-u", "OPEN:" + downPath, $"TCP:{StackAddress}:5011,retry=20,interval=0.5");
                await using var connection = await accepting;
                Assert.Equal(Sha256(down), Sha256(await ReadAllAsync(connection, timeout.Token)));
                output.WriteLine(await WaitAsync(source, TimeSpan.FromSeconds(30)));
            }
            Assert.True(lossy.Dropped > 0, "the filter dropped nothing");
            Assert.True(link.Tap.OffloadWrites > 0, "no segmentation offload through the lossy link");
            Assert.True(lossy.DroppedOffloaded > 0, "no offloaded frame was dropped");
            Assert.True(stack.Counters.Tcp.Retransmits > 0, "no retransmissions over a lossy link");
            Assert.True(stack.Counters.Tcp.OutOfOrder > 0, "nothing arrived out of order");
            output.WriteLine($"dropped {lossy.Dropped} (offloaded {lossy.DroppedOffloaded}), reordered {lossy.Reordered}; retransmits {stack.Counters.Tcp.Retransmits} " +
                $"(fast {stack.Counters.Tcp.FastRetransmits}, timeouts {stack.Counters.Tcp.Timeouts}), out of order {stack.Counters.Tcp.OutOfOrder}");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Segmentation_offload_sends_64_KiB_packets_that_Linux_receives_whole_and_can_be_turned_off()
    {
        foreach (var offload in new[] { true, false })
        {
            using var link = LinuxLink.Create(output, KernelAddress + "/24", offload, Tools);
            using var stack = NewStack(link.Tap);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await stack.StartAsync(timeout.Token);
            var directory = Directory.CreateTempSubdirectory("uk-tcp-tso-");
            try
            {
                // us → Linux: we connect to nc and send 16 MiB, then half-close.
                var data = TcpTestNet.RandomBytes(16 << 20, offload ? 5 : 6);
                var path = Path.Combine(directory.FullName, "received");
                var nc = link.StartInNamespace("sh", "-c", $"nc -l -N 5020 < /dev/null > {path}");
                WaitForListener(link, 5020);
                await using (var connection = await stack.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse(KernelAddress), 5020), timeout.Token))
                {
                    await connection.WriteAsync(data, timeout.Token);
                    connection.ShutdownSend();
                    Assert.Equal(0, await connection.ReadAsync(new byte[16], timeout.Token));
                }
                output.WriteLine(await WaitAsync(nc, TimeSpan.FromSeconds(20)));
                Assert.Equal(Sha256(data), Sha256(await File.ReadAllBytesAsync(path, timeout.Token)));
                var tap = link.Tap;
                var tcp = stack.Counters.Tcp;
                output.WriteLine($"offload {offload}: {tap.OffloadWrites} offloaded writes, {tap.OffloadBytes} bytes ({(tap.OffloadWrites == 0 ? 0 : tap.OffloadBytes / tap.OffloadWrites)} per write); " +
                    $"{stack.Counters.FramesSent} frames, {tcp.SegmentsSent} segments ({tcp.OffloadedSegmentsSent} offloaded, {tcp.OffloadedBytesSent} bytes), {tcp.Retransmits} retransmitted");
                if (offload)
                {
                    Assert.Equal(TapNetworkInterface.MaxOffloadPacket, tap.SegmentOffload);
                    Assert.True(tap.OffloadWrites > 0, "no frame was sent for the kernel to segment");
                    Assert.True(tap.OffloadBytes / tap.OffloadWrites > 14 + tap.Mtu, "offloaded frames are no larger than the MTU");
                    Assert.Equal(tap.OffloadWrites, stack.Counters.OffloadFramesSent);
                    Assert.Equal(tap.OffloadWrites, tcp.OffloadedSegmentsSent);
                    // Most of the data went in offloaded packets, so far fewer writes than MSS-sized segments.
                    Assert.True(tcp.OffloadedBytesSent > data.Length / 2, $"only {tcp.OffloadedBytesSent} of {data.Length} bytes offloaded");
                    Assert.True(stack.Counters.FramesSent < data.Length / 1448 / 4, $"{stack.Counters.FramesSent} frames for {data.Length} bytes");
                }
                else
                {
                    Assert.Equal(0, tap.SegmentOffload);
                    Assert.Equal(0, tap.OffloadWrites);
                    Assert.Equal(0, tcp.OffloadedSegmentsSent);
                }
                Assert.Equal(0, tap.OffloadedReadsDropped);
                Assert.Equal(0, stack.Counters.Errors);
                Assert.Equal(0, stack.Counters.TransmitDrops);
                Assert.Equal(0, tcp.DropsBadChecksum);
            }
            finally
            {
                directory.Delete(recursive: true);
            }
        }
    }

    [Fact]
    public async Task Receive_offload_takes_Linux_packets_larger_than_the_MTU_and_can_be_turned_off()
    {
        foreach (var offload in new[] { true, false })
        {
            using var link = LinuxLink.Create(output, KernelAddress + "/24", offload, Tools);
            using var stack = NewStack(link.Tap);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await stack.StartAsync(timeout.Token);
            var directory = Directory.CreateTempSubdirectory("uk-tcp-rxo-");
            try
            {
                // Linux → us: socat sends 16 MiB to our listener; the kernel hands the tap whole TSO packets.
                var data = TcpTestNet.RandomBytes(16 << 20, offload ? 7 : 8);
                var path = Path.Combine(directory.FullName, "upload");
                await File.WriteAllBytesAsync(path, data, timeout.Token);
                using (var listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 5030)))
                {
                    var accepting = listener.AcceptAsync(timeout.Token).AsTask();
                    var socat = link.StartInNamespace("socat", "-u", "OPEN:" + path, $"TCP:{StackAddress}:5030");
                    await using var connection = await accepting;
                    Assert.Equal(Sha256(data), Sha256(await ReadAllAsync(connection, timeout.Token)));
                    output.WriteLine(await WaitAsync(socat, TimeSpan.FromSeconds(20)));
                }
                var tap = link.Tap;
                var tcp = stack.Counters.Tcp;
                output.WriteLine($"offload {offload}: {tap.OffloadReads} offloaded reads, {tap.OffloadReadBytes} bytes ({(tap.OffloadReads == 0 ? 0 : tap.OffloadReadBytes / tap.OffloadReads)} per read), " +
                    $"{tap.ChecksumTrustedReads} with a trusted checksum; {stack.Counters.FramesReceived} frames received, {tcp.SegmentsReceived} segments, {tcp.SegmentsSent} sent");
                if (offload)
                {
                    Assert.True(tap.OffloadReads > 0, "the kernel handed over no packet larger than the MTU");
                    Assert.True(tap.OffloadReadBytes / tap.OffloadReads > 14 + tap.Mtu, "offloaded reads are no larger than the MTU");
                    Assert.Equal(tap.OffloadReads, stack.Counters.OffloadFramesReceived);
                    Assert.True(stack.Counters.FramesReceived < data.Length / 1448 / 2, $"{stack.Counters.FramesReceived} frames for {data.Length} bytes");
                }
                else
                {
                    Assert.Equal(0, tap.OffloadReads);
                    Assert.Equal(0, tap.ChecksumTrustedReads);
                    Assert.Equal(0, stack.Counters.OffloadFramesReceived);
                }
                Assert.Equal(0, tap.OffloadedReadsDropped);
                Assert.Equal(0, stack.Counters.Errors);
                Assert.Equal(0, tcp.DropsBadChecksum);
                Assert.Equal(0, tcp.DropsMalformed);
            }
            finally
            {
                directory.Delete(recursive: true);
            }
        }
    }

    /// <summary>
    /// Received locally, an offloaded packet keeps its partial checksum unchecked; forwarded out of a veth whose
    /// offloads are off, the kernel must cut it and complete every segment's checksum itself, and the receiver in a
    /// second namespace checks each one. So a wrong pseudo-header sum shows here as checksum errors (and a stall).
    /// </summary>
    [Fact]
    public async Task Offloaded_packets_forwarded_and_segmented_in_software_arrive_with_valid_checksums()
    {
        using var link = LinuxLink.Create(output, KernelAddress + "/24", Tools);
        var far = link.Namespace + "f";
        var veth = "ukf" + link.TapName[3..];
        try
        {
            link.Run("ip", "netns", "add", far).Check();
            link.Run("ip", "link", "add", veth + "c", "netns", link.Namespace, "type", "veth", "peer", "name", veth + "l", "netns", far).Check();
            link.Exec("sysctl", "-q", "-w", "net.ipv4.ip_forward=1").Check();
            link.Exec("sysctl", "-q", "-w", $"net.ipv6.conf.{veth}c.disable_ipv6=1");
            link.Exec("ip", "addr", "add", "10.214.1.1/24", "dev", veth + "c").Check();
            link.Exec("ip", "link", "set", veth + "c", "up").Check();
            // No checksum or segmentation offload out of the veth, no checksum trust or GRO into the far end.
            link.Exec("ethtool", "-K", veth + "c", "tx", "off", "sg", "off", "tso", "off", "gso", "off").Check();
            link.Run("ip", "netns", "exec", far, "ethtool", "-K", veth + "l", "rx", "off", "gro", "off").Check();
            link.Run("ip", "-n", far, "addr", "add", "10.214.1.2/24", "dev", veth + "l").Check();
            link.Run("ip", "-n", far, "link", "set", veth + "l", "up").Check();
            link.Run("ip", "-n", far, "link", "set", "lo", "up").Check();
            link.Run("ip", "-n", far, "route", "add", "10.214.0.0/24", "via", "10.214.1.1").Check();

            using var stack = new DirectStack(link.Tap, new UnixMonotonicClock(), new UnixTime(), new UnixRandom(), StackAddress + "/24", KernelAddress);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await stack.StartAsync(timeout.Token);
            var directory = Directory.CreateTempSubdirectory("uk-tcp-tsofwd-");
            try
            {
                var data = TcpTestNet.RandomBytes(8 << 20, 7);
                var path = Path.Combine(directory.FullName, "received");
                var nc = link.StartInNamespace("ip", "netns", "exec", far, "sh", "-c", $"nc -l -N 5030 < /dev/null > {path}");
                for (var i = 0; i < 100 && !link.Run("ip", "netns", "exec", far, "ss", "-ltnH", "sport = :5030").Stdout.Contains(":5030", StringComparison.Ordinal); i++)
                {
                    Thread.Sleep(50);
                }
                await using (var connection = await stack.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.214.1.2"), 5030), timeout.Token))
                {
                    await connection.WriteAsync(data, timeout.Token);
                    connection.ShutdownSend();
                    Assert.Equal(0, await connection.ReadAsync(new byte[16], timeout.Token));
                }
                output.WriteLine(await WaitAsync(nc, TimeSpan.FromSeconds(20)));
                Assert.Equal(Sha256(data), Sha256(await File.ReadAllBytesAsync(path, timeout.Token)));
                var snmp = link.Run("ip", "netns", "exec", far, "cat", "/proc/net/snmp").Check().Stdout.Split('\n');
                var names = snmp.First(l => l.StartsWith("Tcp: ", StringComparison.Ordinal)).Split(' ');
                var values = snmp.Where(l => l.StartsWith("Tcp: ", StringComparison.Ordinal)).Skip(1).First().Split(' ');
                long Counter(string name) => long.Parse(values[Array.IndexOf(names, name)], System.Globalization.CultureInfo.InvariantCulture);
                output.WriteLine($"far end: {Counter("InSegs")} segments in, {Counter("InCsumErrors")} checksum errors; we: {link.Tap.OffloadWrites} offloaded writes, " +
                    $"{stack.Counters.Tcp.Retransmits} retransmitted");
                Assert.True(link.Tap.OffloadWrites > 0, "nothing was offloaded");
                Assert.Equal(0, Counter("InCsumErrors"));
                Assert.True(Counter("InSegs") >= data.Length / 1448, "the far end got fewer segments than MSS-sized pieces: nothing was cut");
            }
            finally
            {
                directory.Delete(recursive: true);
            }
        }
        finally
        {
            link.Run("ip", "netns", "del", far);
            Assert.DoesNotContain(far, link.Run("ip", "netns", "list").Stdout, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// Our side of the tap with seeded faults: drops frames in both directions (offloaded ones whole) and swaps received
    /// frames with the next one (reordering), so TCP's recovery runs against a real Linux peer.
    /// </summary>
    private sealed class LossyInterface(INetworkInterface inner, int seed, double lossRate, double reorderRate) : INetworkInterface
    {
        private readonly Random _random = new(seed);
        private readonly Lock _gate = new();
        private const int OffloadedDropPeriod = 16;
        private byte[]? _held;
        private long _offloadedSeen;

        public long Dropped { get; private set; }

        /// <summary>Dropped frames that the tap would have segmented (a whole burst of segments lost at once).</summary>
        public long DroppedOffloaded { get; private set; }

        public int SegmentOffload => inner.SegmentOffload;

        public long Reordered { get; private set; }

        public ReadOnlySpan<byte> MacAddress => inner.MacAddress;

        public int Mtu => inner.Mtu;

        public int Receive(DatagramBatch frames, CancellationToken cancellationToken)
        {
            while (true)
            {
                var n = inner.Receive(frames, cancellationToken);
                if (n == 0)
                {
                    return 0;
                }
                var kept = 0;
                lock (_gate)
                {
                    var extra = new List<byte[]>();
                    var trusted = new HashSet<byte[]>(ReferenceEqualityComparer.Instance);
                    for (var i = 0; i < n; i++)
                    {
                        var frame = frames.Datagram(i).ToArray();
                        if (frames.IsChecksumTrusted(i))
                        {
                            trusted.Add(frame); // the kernel left its checksum partial: keep saying so
                        }
                        if (IsTcp(frame) && _random.NextDouble() < lossRate)
                        {
                            Dropped++;
                            continue;
                        }
                        if (IsTcp(frame) && _held is null && _random.NextDouble() < reorderRate)
                        {
                            _held = frame; // delivered after the next frame
                            Reordered++;
                            continue;
                        }
                        extra.Add(frame);
                        if (_held is not null)
                        {
                            extra.Add(_held);
                            _held = null;
                        }
                    }
                    frames.Count = 0;
                    foreach (var frame in extra)
                    {
                        if (frames.TryAdd(frame, default))
                        {
                            frames.SetChecksumTrusted(frames.Count - 1, trusted.Contains(frame));
                            kept++;
                        }
                    }
                }
                if (kept > 0)
                {
                    return kept;
                }
            }
        }

        public int Send(DatagramBatch frames)
        {
            lock (_gate)
            {
                var count = frames.Count;
                var keep = new List<(byte[] Frame, int SegmentSize)>();
                for (var i = 0; i < count; i++)
                {
                    var frame = frames.Datagram(i);
                    // An offloaded frame stands for up to 45 segments, so a bulk send has few frames: besides the
                    // random drops, every 16th of them is dropped whole (a burst loss), so that our side always has
                    // something to recover.
                    var offloaded = frames.SegmentSize(i) != 0;
                    if (IsTcp(frame) && ((offloaded && ++_offloadedSeen % OffloadedDropPeriod == 0) || _random.NextDouble() < lossRate))
                    {
                        Dropped++;
                        DroppedOffloaded += offloaded ? 1 : 0;
                        continue;
                    }
                    keep.Add((frame.ToArray(), frames.SegmentSize(i)));
                }
                frames.Count = 0;
                foreach (var (frame, segmentSize) in keep)
                {
                    frames.TryAdd(frame, default);
                    frames.SetSegmentSize(frames.Count - 1, segmentSize);
                }
                inner.Send(frames);
                return count;
            }
        }

        private static bool IsTcp(ReadOnlySpan<byte> frame) => frame.Length > 34 && frame[12] == 0x08 && frame[13] == 0x00 && frame[23] == IPProtocol.Tcp;

        public void Dispose()
        {
        }
    }
}
