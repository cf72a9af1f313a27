using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Unikernel.Protocols.OpenFlow;

// cbench-style load generator. N emulated OpenFlow 1.0 switches connect to the controller, answer its handshake
// (features, config, echo, barrier), then send packet_in messages: first one per MAC address from its port (so the
// controller learns all M addresses), then packet_in from MAC k to MAC k+1 (on another port) with a buffer id, for
// which a learning controller answers with a flow_mod. We count flow_mod responses per second:
//   throughput mode: each switch keeps up to --window packet_in unanswered (sent in batches);
//   latency mode:    each switch has one packet_in outstanding and sends the next when the flow_mod arrives.
// The same generator measures every controller, so the ratios compare the controllers only.
// --poller threads (default): one blocking reader thread per switch. --poller single: one thread waits on a
// level-triggered epoll set of every switch's socket (as cbench's single select loop, without its per-wait cost): per
// readable socket one non-blocking recv(2) of all that is there, every complete message parsed in place, the answers
// and (latency mode) the next packet_in written into a per-switch buffer and sent with one send(2); nothing allocated
// per message. So the generator stays cheaper per message than the controllers it measures (it used to be the
// bottleneck in latency mode: Socket.Select over all sockets per wake, ~98% of its core). The output line ends with
// generator_cpu: the generator's CPU (all threads, user + system) over the measured window, 100% = one core.

var options = Options.Parse(args);
var switches = new List<EmulatedSwitch>();
for (var i = 0; i < options.Switches; i++)
{
    switches.Add(new EmulatedSwitch(i + 1, options));
}
using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(options.Warmup + options.Seconds + 30));
var tasks = switches.Select(s => Task.Run(() => s.RunAsync(stop.Token))).ToList();
Thread? poller = null;
if (options.Poller == "single")
{
    poller = new Thread(() => EmulatedSwitch.PollLoop(switches, stop.Token)) { IsBackground = true, Name = "ofbench-poll" };
    poller.Start();
}
var ready = Stopwatch.StartNew();
while (switches.Any(s => !s.Learned) && ready.Elapsed < TimeSpan.FromSeconds(30))
{
    if (tasks.FirstOrDefault(t => t.IsFaulted) is { } failed)
    {
        Console.Error.WriteLine("ofbench: a switch failed: " + failed.Exception!.InnerException!.Message);
        return 1;
    }
    await Task.Delay(10);
}
if (switches.Any(s => !s.Learned))
{
    Console.Error.WriteLine($"ofbench: only {switches.Count(s => s.Learned)} of {switches.Count} switches finished the handshake and learning phase in 30 s");
    return 1;
}
foreach (var s in switches)
{
    s.Start();
}
await Task.Delay(TimeSpan.FromSeconds(options.Warmup));
var before = switches.Sum(s => s.FlowMods);
using var self = Process.GetCurrentProcess();
var cpuBefore = self.TotalProcessorTime; // all of the generator's threads, user + system (/proc/self/stat)
var watch = Stopwatch.StartNew();
await Task.Delay(TimeSpan.FromSeconds(options.Seconds));
var after = switches.Sum(s => s.FlowMods);
var elapsed = watch.Elapsed.TotalSeconds;
self.Refresh();
var cpuShare = (self.TotalProcessorTime - cpuBefore).TotalSeconds / elapsed; // 1.0 = one core busy all the time
var rate = (after - before) / elapsed;
var inv = CultureInfo.InvariantCulture;
Console.WriteLine(string.Create(inv, $"mode={options.Mode} switches={options.Switches} macs={options.Macs} flow_mods_per_s={rate:F0} total_flow_mods={after} packet_outs={switches.Sum(s => s.PacketOuts)} errors={switches.Sum(s => s.Errors)} retries={switches.Sum(s => s.Retries)} generator_cpu={cpuShare * 100:F0}%"));
await stop.CancelAsync();
poller?.Join(TimeSpan.FromSeconds(1)); // out of its raw recv/send before the sockets close
foreach (var s in switches)
{
    s.Close();
}
try
{
    await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(5));
}
catch (Exception)
{
    // the sockets were closed under the loops
}
return rate > 0 ? 0 : 1;

internal sealed record Options(IPEndPoint Controller, int Switches, int Macs, string Mode, int Seconds, int Warmup, int Window, int Ports, string Poller)
{
    public static Options Parse(string[] args)
    {
        var map = new Dictionary<string, string>();
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            map[args[i].TrimStart('-')] = args[i + 1];
        }
        string Get(string key, string fallback) => map.TryGetValue(key, out var v) ? v : fallback;
        int Int(string key, int fallback) => int.Parse(Get(key, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        var mode = Get("mode", "throughput");
        if (mode is not ("throughput" or "latency"))
        {
            throw new ArgumentException("--mode is throughput or latency");
        }
        var poller = Get("poller", "threads");
        if (poller is not ("threads" or "single"))
        {
            throw new ArgumentException("--poller is threads or single");
        }
        return new Options(IPEndPoint.Parse(Get("controller", "127.0.0.1:6653")), Int("switches", 16), Int("macs", 1000), mode, Int("seconds", 10), Int("warmup", 2), Int("window", 256), Int("ports", 4), poller);
    }
}

internal sealed class EmulatedSwitch(int id, Options options)
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    private readonly SemaphoreSlim _credit = new(0, int.MaxValue);
    private readonly byte[] _out = new byte[1 << 16];
    private readonly SemaphoreSlim _sending = new(1, 1); // the read loop's replies and the packet_in batches share the socket
    private long _flowMods;
    private long _packetOuts;
    private long _errors;
    private long _retries;
    private int _inFlight; // latency mode: packet_in sent and not yet answered (1, or briefly 2 after a re-send)
    private volatile bool _started;
    private volatile bool _learned;

    public bool Learned => _learned;
    public long FlowMods => Interlocked.Read(ref _flowMods);
    public long PacketOuts => Interlocked.Read(ref _packetOuts);
    public long Errors => Interlocked.Read(ref _errors);
    public long Retries => Interlocked.Read(ref _retries);

    private ulong Mac(int k) => 0x020000000000UL | ((ulong)id << 24) | (uint)k;

    private ushort PortOf(int k) => (ushort)(k % options.Ports + 1);

    public void Start()
    {
        _started = true;
        _credit.Release(options.Mode == "latency" ? 1 : options.Window);
    }

    public void Close() => _socket.Dispose();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        // A synchronous connect: an asynchronous one would register the socket with .NET's own epoll thread, which
        // then woke (and woke a thread-pool worker) for every message the controller sent, beside the poll loop: 40% of
        // the generator's CPU in a latency run. The descriptor stays blocking; the poll loop's recv and send say
        // MSG_DONTWAIT.
        _socket.Connect(options.Controller);
        var readerThread = new Thread(() => ReadLoop(cancellationToken)) { IsBackground = true, Name = "ofbench-read" };
        if (options.Poller == "threads")
        {
            readerThread.Start();
        }
        else
        {
            _connected = true;
        }
        var n = Write(new OfSimpleMessage(OfType.Hello).TryWrite(_out, 1, out var w), w);
        await SendAsync(n, cancellationToken);
        // Wait for the handshake (the features reply is sent by the read loop), then teach every address.
        await Task.Delay(200, cancellationToken);
        for (var k = 0; k < options.Macs; k += 32)
        {
            var length = 0;
            for (var j = k; j < Math.Min(options.Macs, k + 32); j++)
            {
                length += PacketIn(_out.AsSpan(length), Mac(j), 0xffffffffffff, PortOf(j), OfBuffer.None);
            }
            await SendAsync(length, cancellationToken);
        }
        await Task.Delay(500, cancellationToken);
        _learned = true;
        while (!_started)
        {
            await Task.Delay(5, cancellationToken);
        }
        if (options.Mode == "latency")
        {
            // One packet_in in flight: the read loop sends the next as soon as the flow_mod arrives (no thread hop).
            Interlocked.Exchange(ref _inFlight, 1);
            await SendAsync(NextPacketIns(_out, 1), cancellationToken);
            // A controller that drops a packet_in would stall this switch: after 100 ms without an answer, send another
            // (counted in the output as retries), forgetting the one that went unanswered.
            var seen = FlowMods;
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(100, cancellationToken);
                if (FlowMods == seen)
                {
                    Interlocked.Increment(ref _retries);
                    Interlocked.Exchange(ref _inFlight, 1);
                    await SendAsync(NextPacketIns(_out, 1), cancellationToken);
                }
                seen = FlowMods;
            }
            if (options.Poller == "threads") { readerThread.Join(); }
            return;
        }
        while (!cancellationToken.IsCancellationRequested)
        {
            await _credit.WaitAsync(cancellationToken);
            var batch = 1;
            while (batch < 64 && _credit.Wait(0))
            {
                batch++;
            }
            await SendAsync(NextPacketIns(_out, batch), cancellationToken);
        }
        if (options.Poller == "threads") { readerThread.Join(); }
    }

    private int _next;
    private uint _buffer = 1;

    /// <summary>Writes <paramref name="count"/> packet_in (MAC k to MAC k+1 on another port, each with a buffer id); returns the length.</summary>
    private int NextPacketIns(Span<byte> destination, int count)
    {
        lock (this)
        {
            var length = 0;
            for (var b = 0; b < count; b++)
            {
                var k = _next;
                _next = (_next + 1) % options.Macs;
                var to = (k + 1) % options.Macs;
                if (PortOf(to) == PortOf(k))
                {
                    to = (to + 1) % options.Macs;
                }
                length += PacketIn(destination[length..], Mac(k), Mac(to), PortOf(k), _buffer++ & 0xffffff);
            }
            return length;
        }
    }

    private static int Write(bool ok, int written) => ok ? written : throw new InvalidOperationException("encoding failed");

    private static int PacketIn(Span<byte> destination, ulong source, ulong target, ushort port, uint bufferId)
    {
        Span<byte> frame = stackalloc byte[60];
        frame.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)(target >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(frame[2..], (uint)target);
        BinaryPrimitives.WriteUInt16BigEndian(frame[6..], (ushort)(source >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(frame[8..], (uint)source);
        BinaryPrimitives.WriteUInt16BigEndian(frame[12..], 0x0800);
        frame[14] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(frame[16..], 46);
        frame[22] = 64;
        frame[23] = 17;
        BinaryPrimitives.WriteUInt32BigEndian(frame[26..], 0x0a000000 | (uint)(source & 0xffffff));
        BinaryPrimitives.WriteUInt32BigEndian(frame[30..], 0x0a000000 | (uint)(target & 0xffffff));
        var packetIn = new OfPacketIn { BufferId = bufferId, TotalLength = 60, InPort = port, Reason = OfPacketInReason.NoMatch, Data = frame };
        return Write(packetIn.TryWrite(destination, 0, out var n), n);
    }

    private Task SendAsync(int length, CancellationToken cancellationToken)
    {
        Send(_out, length);
        return Task.CompletedTask;
    }

    /// <summary>Blocking send of the whole buffer; the reader's answers and the packet_in batches share the socket.</summary>
    private void Send(byte[] buffer, int length)
    {
        _sending.Wait();
        try
        {
            var sent = 0;
            if (options.Poller == "single")
            {
                // One non-blocking send(2) usually takes everything; the rest goes through the blocking send below.
                sent = Math.Max(0, Native.Send((int)_socket.Handle, buffer.AsSpan(0, length)));
            }
            while (sent < length)
            {
                sent += _socket.Send(buffer.AsSpan(sent, length - sent));
            }
        }
        finally
        {
            _sending.Release();
        }
    }

    private readonly byte[] _input = new byte[1 << 17];
    private readonly byte[] _reply = new byte[1 << 16];
    private int _filled;
    private volatile bool _connected;
    private bool _closed;

    /// <summary>
    /// One thread for every switch: a level-triggered epoll set of the connected sockets (each registered once, its
    /// switch's index as the event's data). Per readable socket one non-blocking recv of everything that is there, every
    /// complete message parsed in place, the answers (and in latency mode the next packet_in) sent with one send. Nothing
    /// allocated per message and no system call per switch beyond that recv and send.
    /// </summary>
    public static void PollLoop(List<EmulatedSwitch> switches, CancellationToken cancellationToken)
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            throw new PlatformNotSupportedException("--poller single knows struct epoll_event's x86-64 layout only");
        }
        var epoll = Native.EpollCreate1(0);
        if (epoll < 0)
        {
            throw new InvalidOperationException("epoll_create1 failed: " + Marshal.GetLastPInvokeError());
        }
        var registered = new bool[switches.Count];
        var pending = switches.Count;
        var events = new Native.EpollEvent[64];
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (pending > 0)
                {
                    // Switches connect on their own tasks: register each once it is connected.
                    for (var i = 0; i < switches.Count; i++)
                    {
                        if (!registered[i] && switches[i]._connected)
                        {
                            var ev = new Native.EpollEvent { Events = Native.EPOLLIN, Data = (ulong)i };
                            if (Native.EpollCtl(epoll, Native.EPOLL_CTL_ADD, (int)switches[i]._socket.Handle, ref ev) != 0)
                            {
                                throw new InvalidOperationException("epoll_ctl failed: " + Marshal.GetLastPInvokeError());
                            }
                            registered[i] = true;
                            pending--;
                        }
                    }
                }
                var n = Native.EpollWait(epoll, events, events.Length, pending > 0 ? 1 : 100);
                for (var e = 0; e < n; e++)
                {
                    var s = switches[(int)events[e].Data];
                    if (!s._closed && !s.ReadOnce())
                    {
                        s._closed = true;
                        var none = default(Native.EpollEvent);
                        Native.EpollCtl(epoll, Native.EPOLL_CTL_DEL, (int)s._socket.Handle, ref none);
                    }
                }
            }
        }
        finally
        {
            Native.Close(epoll);
        }
    }

    private void ReadLoop(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested && ReadOnce())
        {
        }
    }

    /// <summary>One receive and everything it completes; false when the connection is gone.</summary>
    private bool ReadOnce()
    {
        var input = _input;
        var reply = _reply;
        ref var filled = ref _filled;
        {
            int read;
            if (options.Poller == "single")
            {
                read = Native.Receive((int)_socket.Handle, input.AsSpan(filled));
                if (read < 0)
                {
                    return Marshal.GetLastPInvokeError() is Native.EAGAIN or Native.EINTR; // a spurious wake-up
                }
            }
            else
            {
                try
                {
                    read = _socket.Receive(input.AsSpan(filled));
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    return false;
                }
            }
            if (read == 0)
            {
                return false;
            }
            filled += read;
            var consumed = 0;
            var replyLength = 0;
            var credits = 0;
            while (OfMessage.FrameLength(input.AsSpan(consumed, filled - consumed)) is var length and > 0 && length <= filled - consumed)
            {
                OfMessage.TryCreate(input.AsSpan(consumed, length), out var message);
                switch (message.Type)
                {
                    case OfType.FlowMod:
                        Interlocked.Increment(ref _flowMods);
                        credits++;
                        break;
                    case OfType.PacketOut:
                        Interlocked.Increment(ref _packetOuts);
                        break;
                    case OfType.Error:
                        Interlocked.Increment(ref _errors);
                        break;
                    case OfType.FeaturesRequest:
                        var ports = new OfPhysicalPort[options.Ports];
                        for (var p = 0; p < ports.Length; p++)
                        {
                            ports[p] = new OfPhysicalPort((ushort)(p + 1), Mac(0xf00000 + p), $"eth{p + 1}", 0, 0);
                        }
                        replyLength += Write(new OfFeaturesReply { DatapathId = (ulong)id, Buffers = 256, Tables = 1, Capabilities = 0x87, Actions = 0xfff }.TryWrite(reply.AsSpan(replyLength), message.Xid, ports, out var f), f);
                        break;
                    case OfType.EchoRequest:
                        replyLength += Write(new OfSimpleMessage(OfType.EchoReply, message.Body).TryWrite(reply.AsSpan(replyLength), message.Xid, out var e), e);
                        break;
                    case OfType.BarrierRequest:
                        replyLength += Write(new OfSimpleMessage(OfType.BarrierReply).TryWrite(reply.AsSpan(replyLength), message.Xid, out var b), b);
                        break;
                    case OfType.GetConfigRequest:
                        replyLength += Write(new OfSwitchConfig(0, 128).TryWrite(reply.AsSpan(replyLength), OfType.GetConfigReply, message.Xid, out var g), g);
                        break;
                    case OfType.StatsRequest:
                        // Empty description/flow replies keep controllers that ask from waiting.
                        if (OfStatsMessage.TryParse(message, out var stats))
                        {
                            var body = stats.StatsType == OfStatsType.Description ? new byte[OfDescriptionStats.Size] : [];
                            replyLength += Write(new OfStatsMessage(OfType.StatsReply, stats.StatsType, 0, body).TryWrite(reply.AsSpan(replyLength), message.Xid, out var s), s);
                        }
                        break;
                    case OfType.Vendor:
                        replyLength += Write(new OfErrorMessage(OfErrorType.BadRequest, OfErrorCode.BadRequestVendor, message.Bytes).TryWrite(reply.AsSpan(replyLength), message.Xid, out var v), v);
                        break;
                }
                consumed += length;
                if (replyLength > reply.Length - 4096)
                {
                    Send(reply, replyLength);
                    replyLength = 0;
                }
            }
            if (credits > 0 && _started && options.Mode == "latency")
            {
                // The next packet_in goes out when nothing is in flight any more. An answer that comes when nothing is
                // in flight (the late answer to a packet_in that was re-sent) sends nothing: a re-send must not leave
                // this switch with two in flight for the rest of the run, which would no longer be a latency run.
                var next = false;
                for (var c = 0; c < credits; c++)
                {
                    var left = Interlocked.Decrement(ref _inFlight);
                    if (left < 0)
                    {
                        Interlocked.Increment(ref _inFlight);
                    }
                    else if (left == 0)
                    {
                        next = true;
                    }
                }
                if (next)
                {
                    Interlocked.Increment(ref _inFlight);
                    replyLength += NextPacketIns(reply.AsSpan(replyLength), 1);
                }
            }
            if (replyLength > 0)
            {
                Send(reply, replyLength);
            }
            input.AsSpan(consumed, filled - consumed).CopyTo(input);
            filled -= consumed;
            if (credits > 0 && _started && options.Mode != "latency")
            {
                _credit.Release(credits);
            }
        }
        return true;
    }
}

/// <summary>The few libc calls of the single poll loop (Linux).</summary>
internal static partial class Native
{
    public const uint EPOLLIN = 0x001;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EAGAIN = 11;
    public const int EINTR = 4;
    private const int MSG_DONTWAIT = 0x40;
    private const int MSG_NOSIGNAL = 0x4000;

    /// <summary>struct epoll_event: packed (12 bytes) on x86-64, 16 bytes elsewhere.</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epoll, int op, int fd, ref EpollEvent ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epoll, [Out] EpollEvent[] events, int max, int timeout);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static unsafe partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static unsafe partial nint SendTo(int fd, byte* buffer, nuint length, int flags);

    public static unsafe int Receive(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            return (int)Recv(fd, p, (nuint)buffer.Length, MSG_DONTWAIT);
        }
    }

    public static unsafe int Send(int fd, ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            return (int)SendTo(fd, p, (nuint)buffer.Length, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
    }
}
