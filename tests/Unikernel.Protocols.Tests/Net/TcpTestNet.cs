using System.Net;
using System.Security.Cryptography;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.Net;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>
/// Two (or more) TCP engines on one simulated IPv4 link, single-threaded on virtual time: every segment takes
/// <see cref="Latency"/> to arrive (plus seeded jitter that reorders), may be lost or duplicated (seeded), and can be
/// dropped by a test's filter. <see cref="Run"/> delivers segments and fires timers in time order until a condition
/// holds, so every run is deterministic and takes no real time.
/// </summary>
internal sealed class TcpTestNet
{
    private readonly Random _random;
    private readonly List<Host> _hosts = [];
    private readonly PriorityQueue<(Host To, uint From, byte[] Segment), (long Due, long Order)> _wire = new();
    private long _order;

    public TcpTestNet(int seed = 1) => _random = new Random(seed);

    public long Now { get; private set; } = 1_000_000_000_000L;

    public long Latency { get; set; } = 1_000_000; // 1 ms each way

    public double LossRate { get; set; }

    public double DuplicateRate { get; set; }

    public double ReorderRate { get; set; }

    /// <summary>Returns false to drop a segment (sent from <c>From</c> to <c>To</c>).</summary>
    public Func<uint, uint, byte[], bool>? Filter { get; set; }

    public long Delivered { get; private set; }

    public long Lost { get; private set; }

    public Host Add(uint address, TcpSettings? settings = null, int mtu = 1500, ulong seed = 1)
    {
        var host = new Host(this, address, mtu);
        host.Engine = new TcpEngine(host, new SeededRandom(seed), settings ?? new TcpSettings(), new TcpCounters());
        _hosts.Add(host);
        return host;
    }

    private void Send(Host from, uint destination, ReadOnlySpan<byte> segment)
    {
        var to = _hosts.Find(h => h.Address == destination);
        if (to is null)
        {
            return;
        }
        var bytes = segment.ToArray();
        if (Filter is { } filter && !filter(from.Address, destination, bytes))
        {
            Lost++;
            return;
        }
        if (LossRate > 0 && _random.NextDouble() < LossRate)
        {
            Lost++;
            return;
        }
        var copies = DuplicateRate > 0 && _random.NextDouble() < DuplicateRate ? 2 : 1;
        for (var i = 0; i < copies; i++)
        {
            var delay = Latency;
            if (ReorderRate > 0 && _random.NextDouble() < ReorderRate)
            {
                delay += _random.Next(1, 4) * Latency;
            }
            _wire.Enqueue((to, from.Address, bytes), (Now + delay, _order++));
        }
    }

    /// <summary>Moves time forward by <paramref name="duration"/>, delivering and firing everything due on the way.</summary>
    public void Advance(TimeSpan duration) => Run(() => false, duration);

    /// <summary>Delivers segments and fires timers in time order until <paramref name="done"/> holds (true) or the virtual time budget runs out (false).</summary>
    public bool Run(Func<bool> done, TimeSpan budget, int maxEvents = 20_000_000) => Run(done, budget, null, maxEvents);

    /// <summary>Runs until <paramref name="task"/> completes; virtual time waits (bounded, real time) for its continuation before moving on.</summary>
    public bool RunUntil(Task task, TimeSpan budget) => Run(() => task.IsCompleted, budget, task);

    private bool Run(Func<bool> done, TimeSpan budget, Task? pending, int maxEvents = 20_000_000)
    {
        var end = Now + budget.Ticks * 100;
        for (var events = 0; events < maxEvents; events++)
        {
            if (done())
            {
                return true;
            }
            var next = end;
            if (_wire.TryPeek(out _, out var key) && key.Due < next)
            {
                next = key.Due;
            }
            foreach (var host in _hosts)
            {
                next = Math.Min(next, Math.Max(Now, host.Engine.NextDeadline));
            }
            if (next >= end && !(_wire.TryPeek(out _, out key) && key.Due <= end))
            {
                Now = end;
                PollAll();
                return done();
            }
            if (next > Now && pending is { IsCompleted: false })
            {
                // The application's continuation runs on the thread pool: let it finish before time moves on.
                ((IAsyncResult)pending).AsyncWaitHandle.WaitOne(TimeSpan.FromMilliseconds(200));
                if (done())
                {
                    return true;
                }
            }
            Now = Math.Max(Now, next);
            while (_wire.TryPeek(out var item, out key) && key.Due <= Now)
            {
                _wire.Dequeue();
                Delivered++;
                lock (item.To.Gate)
                {
                    item.To.Engine.Handle(item.From, item.To.Address, item.Segment);
                }
            }
            PollAll();
        }
        throw new InvalidOperationException("the simulation did not settle within its event budget");
    }

    private void PollAll()
    {
        foreach (var host in _hosts)
        {
            lock (host.Gate)
            {
                if (host.Engine.NextDeadline <= Now)
                {
                    host.Engine.Poll(Now);
                }
            }
        }
    }

    /// <summary>Completes an application-level task (connect, accept) while the simulation runs; bounded in events and real time.</summary>
    public T Complete<T>(ValueTask<T> operation, TimeSpan budget)
    {
        var task = operation.AsTask();
        RunUntil(task, budget);
        Assert.True(task.Wait(TimeSpan.FromSeconds(10)), "the operation did not complete");
        return task.Result;
    }

    /// <summary>
    /// Moves <paramref name="data"/> from <paramref name="sender"/> to <paramref name="receiver"/> (reading as it arrives,
    /// optionally not reading at all for a while) and returns what arrived.
    /// </summary>
    public byte[] Transfer(Host senderHost, TcpConnection sender, Host receiverHost, TcpConnection receiver, byte[] data, TimeSpan budget, bool close = true)
    {
        var received = new MemoryStream();
        var offset = 0;
        var buffer = new byte[65536];
        var ended = false;
        var ok = Run(() =>
        {
            lock (senderHost.Gate)
            {
                if (offset < data.Length)
                {
                    offset += sender.TryWriteLocked(data.AsSpan(offset));
                    if (offset == data.Length && close)
                    {
                        sender.ShutdownSendLocked();
                    }
                }
            }
            lock (receiverHost.Gate)
            {
                while (true)
                {
                    var n = receiver.TryReadLocked(buffer, out var end);
                    received.Write(buffer, 0, n);
                    if (n == 0)
                    {
                        ended |= end;
                        break;
                    }
                }
            }
            return close ? ended : received.Length == data.Length;
        }, budget);
        Assert.True(ok, $"transfer incomplete: sent {offset} of {data.Length}, received {received.Length} (sender {sender.State}, receiver {receiver.State})");
        return received.ToArray();
    }

    /// <summary>Opens a connection from <paramref name="client"/> and runs until its handshake is over.</summary>
    public TcpConnection Connect(Host client, IPEndPoint remote, ushort localPort = 0)
    {
        TcpConnection connection;
        lock (client.Gate)
        {
            Span<byte> bytes = stackalloc byte[4];
            remote.Address.TryWriteBytes(bytes, out _);
            connection = client.Engine.StartConnectLocked(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes), (ushort)remote.Port, localPort);
        }
        Run(() => connection.State is not (TcpState.SynSent or TcpState.SynReceived), TimeSpan.FromMinutes(5));
        Assert.Equal(TcpState.Established, connection.State);
        return connection;
    }

    /// <summary>Runs until <paramref name="listener"/> has a connection and takes it.</summary>
    public TcpConnection Accept(Host server, ITcpListener listener)
    {
        TcpConnection? accepted = null;
        Assert.True(Run(() =>
        {
            lock (server.Gate)
            {
                return ((TcpListener)listener).TryAcceptLocked(out accepted!);
            }
        }, TimeSpan.FromMinutes(5)), "nothing to accept");
        return accepted!;
    }

    /// <summary>The result of a task that the simulation completed (bounded real wait for its continuation).</summary>
    public static T Result<T>(Task<T> task)
    {
        Assert.True(task.Wait(TimeSpan.FromSeconds(10)), "the operation did not complete");
        return task.Result;
    }

    /// <summary>The exception a task failed with.</summary>
    public static Exception Failure(Task task)
    {
        var error = Assert.Throws<AggregateException>(() => task.Wait(TimeSpan.FromSeconds(10)));
        return error.InnerException!;
    }

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static string Sha256(byte[] data) => Convert.ToHexString(SHA256.HashData(data));

    internal sealed class Host(TcpTestNet net, uint address, int mtu) : ITcpHost
    {
        public Lock Gate { get; } = new();

        public long Now => net.Now;

        public uint Address { get; } = address;

        public uint LocalAddress => Address;

        public int Mtu => mtu;

        public TcpEngine Engine { get; set; } = null!;

        public TcpCounters Counters => Engine.Counters;

        public List<(long Time, byte[] Segment)> Sent { get; } = [];

        public bool Record { get; set; }

        public IPEndPoint EndPoint(int port) => new(IPAddress.Parse(IPv4Address.Format(Address)), port);

        public bool SendTcp(uint destination, ReadOnlySpan<byte> segment)
        {
            if (segment.Length + IPv4Repr.HeaderLength > mtu)
            {
                return false; // as the direct stack's IP layer does with DF set: a segment must fit the MTU
            }
            if (Record)
            {
                Sent.Add((net.Now, segment.ToArray()));
            }
            net.Send(this, destination, segment);
            return true;
        }

        public void Flush()
        {
        }

        public void WakeTimer(long deadline)
        {
        }

        /// <summary>Injects a raw segment as if it came from <paramref name="source"/>.</summary>
        public void Inject(uint source, ReadOnlySpan<byte> segment)
        {
            lock (Gate)
            {
                Engine.Handle(source, Address, segment);
            }
        }
    }
}
