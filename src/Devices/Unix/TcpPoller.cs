using System;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;

namespace Unikernel.Devices.Unix;

/// <summary>
/// One epoll thread for every TCP descriptor (registered once, edge-triggered). An operation tries its system call;
/// on EAGAIN it waits for the descriptor's next readiness edge. Sequence numbers close the race between the failed
/// call and the wait: an edge that arrives in between makes the wait return at once.
/// <para>
/// The waiter's continuation runs inline on the epoll thread (no hand-off to the thread pool per readiness event): a
/// handler typically reads, answers and awaits the next read, then the thread goes on with the next event. So that a
/// slow or blocking handler cannot stall every other connection, a watchdog looks every <see cref="BudgetMilliseconds"/>:
/// when the polling thread is still inside the same dispatch it was inside at the previous look, a new polling thread
/// takes over (and first dispatches what is left of the stuck thread's batch); the stuck thread ends when its handler
/// returns. At most <see cref="MaxThreads"/> polling threads exist at once. After 100 ms without a dispatch the watchdog
/// parks until the next one starts, so an idle (or UDP-only) appliance has no periodic wake-up.
/// </para>
/// </summary>
internal static unsafe class TcpPoller
{
    public const int BudgetMilliseconds = 10;
    public const int MaxThreads = 16;
    private const int MaxEvents = 64;
    private const int Retired = -1;
    private const int IdleLooksBeforeParking = 10;

    // The registered descriptors by fd (fds are small integers): written under StartLock, replaced by a larger copy
    // when an fd does not fit, read without a lock. Not a ConcurrentDictionary: it costs an image about 20 KB (issue 17).
    private static TcpDescriptor?[] s_descriptors = new TcpDescriptor?[64];
    private static readonly Lock StartLock = new();
    private static int _epoll = -1;
    private static Batch? _current; // the batch of the thread that polls now
    private static int _threads;
    private static int _takeovers;
    private static int _parked; // 1 while the watchdog waits for the next dispatch
    private static readonly AutoResetEvent Unpark = new(false);

    // struct epoll_event is packed (12 bytes) on x86-64, naturally aligned (16 bytes) elsewhere.
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    /// <summary>How many times a new polling thread took over from one stuck in a handler (for tests and diagnostics).</summary>
    public static int Takeovers => Volatile.Read(ref _takeovers);

    /// <summary>One polling thread's events: claimed one by one (so a successor can finish a stuck thread's batch).</summary>
    private sealed class Batch
    {
        public readonly byte[] Events = GC.AllocateArray<byte>(MaxEvents * 16, pinned: true);
        public int Count;
        public int Next;
        public int Dispatch; // the number of the dispatch under way, 0 between dispatches, Retired once taken over
        public int Sequence; // the owner's dispatch counter (only the owner touches it)
        public Batch? Inherited; // a retired thread's batch whose events this thread dispatches first
    }

    public static void Register(TcpDescriptor descriptor)
    {
        var epoll = Volatile.Read(ref _epoll);
        if (epoll < 0)
        {
            lock (StartLock)
            {
                if (_epoll < 0)
                {
                    var fd = Interop.EpollCreate1(Interop.SOCK_CLOEXEC);
                    if (fd < 0)
                    {
                        throw Interop.SocketError("epoll_create1");
                    }
                    Volatile.Write(ref _epoll, fd);
                    StartPoller(null);
                    new Thread(Watch) { IsBackground = true, Name = "tcp epoll watchdog" }.Start();
                }
                epoll = _epoll;
            }
        }
        SetDescriptor(descriptor.Fd, descriptor);
        var ev = stackalloc byte[16];
        *(uint*)ev = Interop.EPOLLIN | Interop.EPOLLOUT | Interop.EPOLLRDHUP | Interop.EPOLLET;
        *(ulong*)(ev + DataOffset) = (ulong)descriptor.Fd;
        if (Interop.EpollCtl(epoll, Interop.EPOLL_CTL_ADD, descriptor.Fd, ev) != 0)
        {
            SetDescriptor(descriptor.Fd, null);
            throw Interop.SocketError("epoll_ctl");
        }
    }

    public static void Unregister(int fd) => SetDescriptor(fd, null);

    private static void SetDescriptor(int fd, TcpDescriptor? descriptor)
    {
        lock (StartLock)
        {
            var table = s_descriptors;
            if (fd >= table.Length)
            {
                if (descriptor is null)
                {
                    return;
                }
                var grown = new TcpDescriptor?[Math.Max(table.Length * 2, fd + 1)];
                Array.Copy(table, grown, table.Length);
                Volatile.Write(ref s_descriptors, grown);
                table = grown;
            }
            Volatile.Write(ref table[fd], descriptor);
        }
    }

    private static TcpDescriptor? FindDescriptor(int fd)
    {
        var table = Volatile.Read(ref s_descriptors);
        return (uint)fd < (uint)table.Length ? Volatile.Read(ref table[fd]) : null;
    }

    private static void StartPoller(Batch? inherited)
    {
        Interlocked.Increment(ref _threads);
        var batch = new Batch { Inherited = inherited };
        Volatile.Write(ref _current, batch);
        new Thread(Run) { IsBackground = true, Name = "tcp epoll" }.Start(batch);
    }

    private static void Run(object? state)
    {
        var mine = (Batch)state!;
        try
        {
            if (mine.Inherited is { } inherited)
            {
                if (!Drain(inherited, mine))
                {
                    return; // retired in turn: the successor inherits this batch, and with it the rest of the chain
                }
                Volatile.Write(ref mine.Inherited, null);
            }
            var epoll = Volatile.Read(ref _epoll);
            fixed (byte* events = mine.Events)
            {
                while (true)
                {
                    var n = Interop.EpollWait(epoll, events, MaxEvents, -1);
                    if (n <= 0)
                    {
                        continue; // EINTR
                    }
                    Volatile.Write(ref mine.Next, 0);
                    Volatile.Write(ref mine.Count, n);
                    if (!Drain(mine, mine))
                    {
                        return; // taken over: the successor finishes this batch
                    }
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _threads);
        }
    }

    /// <summary>Dispatches the unclaimed events of <paramref name="batch"/>; false once <paramref name="self"/> is retired.</summary>
    private static bool Drain(Batch batch, Batch self)
    {
        if (Volatile.Read(ref batch.Inherited) is { } older && !Drain(older, self))
        {
            return false;
        }
        fixed (byte* events = batch.Events)
        {
            while (true)
            {
                var i = Interlocked.Increment(ref batch.Next) - 1;
                if (i >= Volatile.Read(ref batch.Count))
                {
                    return true;
                }
                var ev = events + i * EventSize;
                var fd = (int)*(ulong*)(ev + DataOffset);
                if (FindDescriptor(fd) is not { } descriptor)
                {
                    continue;
                }
                var flags = *(uint*)ev;
                const uint failed = Interop.EPOLLERR | Interop.EPOLLHUP;
                var dispatch = self.Sequence = self.Sequence == int.MaxValue ? 1 : self.Sequence + 1;
                if (Interlocked.CompareExchange(ref self.Dispatch, dispatch, 0) != 0)
                {
                    return false;
                }
                if (Volatile.Read(ref _parked) != 0 && Interlocked.Exchange(ref _parked, 0) == 1)
                {
                    Unpark.Set(); // the watchdog rests while nothing happens; a dispatch wakes it
                }
                descriptor.Signal((flags & (Interop.EPOLLIN | Interop.EPOLLRDHUP | failed)) != 0, (flags & (Interop.EPOLLOUT | failed)) != 0,
                    (flags & (Interop.EPOLLRDHUP | failed)) != 0);
                if (Interlocked.CompareExchange(ref self.Dispatch, 0, dispatch) != dispatch)
                {
                    return false; // the watchdog retired this thread while the handler ran
                }
            }
        }
    }

    private static void Watch()
    {
        Batch? seenBatch = null;
        var seenDispatch = 0;
        var seenSequence = 0;
        var idleLooks = 0;
        while (true)
        {
            Thread.Sleep(BudgetMilliseconds);
            var batch = Volatile.Read(ref _current)!;
            var dispatch = Volatile.Read(ref batch.Dispatch);
            var sequence = Volatile.Read(ref batch.Sequence);
            if (dispatch > 0 && batch == seenBatch && dispatch == seenDispatch && Volatile.Read(ref _threads) < MaxThreads
                && Interlocked.CompareExchange(ref batch.Dispatch, Retired, dispatch) == dispatch)
            {
                Interlocked.Increment(ref _takeovers);
                StartPoller(batch);
                seenBatch = null;
                continue;
            }
            idleLooks = dispatch == 0 && batch == seenBatch && sequence == seenSequence ? idleLooks + 1 : 0;
            seenBatch = batch;
            seenDispatch = dispatch;
            seenSequence = sequence;
            if (idleLooks >= IdleLooksBeforeParking)
            {
                // Nothing dispatched for a while: stop looking (no periodic wake-up in an idle appliance) until the
                // next dispatch starts. Dekker-style: park, then look again, against the poller's start-then-look.
                idleLooks = 0;
                Interlocked.Exchange(ref _parked, 1);
                if (Volatile.Read(ref Volatile.Read(ref _current)!.Dispatch) != 0 && Interlocked.Exchange(ref _parked, 0) == 1)
                {
                    continue;
                }
                Unpark.WaitOne();
            }
        }
    }
}

/// <summary>
/// A non-blocking TCP descriptor and its waiters (at most one reader and one writer at a time). A wait is a reusable
/// <see cref="IValueTaskSource"/> (nothing allocated per wait) whose continuation runs synchronously where readiness is
/// signalled: on the epoll thread (see <see cref="TcpPoller"/>), or where the wait's token is cancelled.
/// </summary>
internal sealed unsafe class TcpDescriptor
{
    private readonly Lock _gate = new();
    private readonly Waiter _reader;
    private readonly Waiter _writer;
    private bool _readEnded;
    private int _readSeq;
    private int _writeSeq;
    private bool _closed;

    public TcpDescriptor(int fd)
    {
        Fd = fd;
        _reader = new Waiter(this);
        _writer = new Waiter(this);
        TcpPoller.Register(this);
    }

    public int Fd { get; }

    // A volatile read is enough: the sequence numbers change under the lock, and WaitAsync compares again under it.
    public int Sequence(bool write) => write ? Volatile.Read(ref _writeSeq) : Volatile.Read(ref _readSeq);

    /// <summary>Waits for readiness after <paramref name="seq"/> (from <see cref="Sequence"/> before the failed call).</summary>
    public ValueTask WaitAsync(bool write, int seq, CancellationToken cancellationToken)
    {
        var waiter = write ? _writer : _reader;
        short version;
        lock (_gate)
        {
            if (_closed)
            {
                throw new ObjectDisposedException(nameof(TcpDescriptor));
            }
            if ((write ? _writeSeq : _readSeq) != seq)
            {
                return default; // completed (not ValueTask.CompletedTask, which links Task.CompletedTask)
            }
            waiter.Reset();
            waiter.Armed = true;
            version = waiter.Version;
        }
        if (cancellationToken.CanBeCanceled)
        {
            // Disposed by GetResult, which runs after this method has returned (the continuation cannot run before).
            waiter.Registration = cancellationToken.UnsafeRegister(static (state, token) => ((Waiter)state!).Cancel(token), waiter);
        }
        return new ValueTask(waiter, version);
    }

    /// <summary>
    /// Like <see cref="WaitAsync"/>, for <see cref="TcpOperation{TResult}"/>: false when readiness came after
    /// <paramref name="seq"/> already (try again now); otherwise <paramref name="continuation"/>(<paramref name="state"/>)
    /// runs once it comes (or the wait is cancelled or the descriptor closed), perhaps before this returns, and must
    /// call <see cref="EndWait"/> with <paramref name="version"/>.
    /// </summary>
    public bool WaitThen(bool write, int seq, CancellationToken cancellationToken, Action<object?> continuation, object state, out short version)
    {
        var waiter = write ? _writer : _reader;
        lock (_gate)
        {
            if (_closed)
            {
                throw new ObjectDisposedException(nameof(TcpDescriptor));
            }
            if ((write ? _writeSeq : _readSeq) != seq)
            {
                version = 0;
                return false;
            }
            waiter.Reset();
            waiter.Armed = true;
            version = waiter.Version;
        }
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.UnsafeRegister(static (state, token) => ((Waiter)state!).Cancel(token), waiter);
        }
        waiter.OnCompleted(continuation, state, version, ValueTaskSourceOnCompletedFlags.None);
        return true;
    }

    /// <summary>Ends a wait of <see cref="WaitThen"/>: throws when it was cancelled or the descriptor closed.</summary>
    public void EndWait(bool write, short version) => (write ? _writer : _reader).GetResult(version);

    /// <summary>
    /// True once an edge said the peer ended its side or the socket failed (EPOLLRDHUP, EPOLLHUP, EPOLLERR): from then
    /// on a short read does not mean that the next recv would only say EAGAIN (it says end of stream, or the error).
    /// </summary>
    public bool ReadEnded => Volatile.Read(ref _readEnded);

    public void Signal(bool read, bool write, bool ended = false)
    {
        bool r = false, w = false;
        lock (_gate)
        {
            if (ended)
            {
                _readEnded = true; // before the sequence number moves, so a reader that sees the new number sees this too
            }
            if (read)
            {
                _readSeq++;
                r = _reader.Disarm();
            }
            if (write)
            {
                _writeSeq++;
                w = _writer.Disarm();
            }
        }
        if (r)
        {
            _reader.SetResult();
        }
        if (w)
        {
            _writer.SetResult();
        }
    }

    public void Close()
    {
        bool r, w;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            r = _reader.Disarm();
            w = _writer.Disarm();
        }
        TcpPoller.Unregister(Fd);
        Interop.Close(Fd);
        if (r)
        {
            _reader.SetException(new ObjectDisposedException(nameof(TcpDescriptor)));
        }
        if (w)
        {
            _writer.SetException(new ObjectDisposedException(nameof(TcpDescriptor)));
        }
    }

    /// <summary>
    /// One direction's wait. <see cref="Armed"/> is read and written under the descriptor's lock; whoever disarms
    /// completes. Written by hand, not on ManualResetValueTaskSourceCore: its asynchronous-continuation path links the
    /// thread pool into an image (issue 17); here the continuation always runs where the wait completes.
    /// </summary>
    private sealed class Waiter(TcpDescriptor owner) : IValueTaskSource
    {
        private InlineCompletion _completion;
        private short _version;
        public bool Armed;
        public CancellationTokenRegistration Registration;

        public short Version => _version;

        /// <summary>Starts a new wait (under the descriptor's lock, with no wait outstanding).</summary>
        public void Reset()
        {
            _version++;
            _completion.Reset();
        }

        public bool Disarm()
        {
            var armed = Armed;
            Armed = false;
            return armed;
        }

        public void Cancel(CancellationToken token)
        {
            lock (owner._gate)
            {
                if (!Disarm())
                {
                    return;
                }
            }
            SetException(new OperationCanceledException(token));
        }

        public void SetResult() => _completion.Complete(null);

        public void SetException(Exception error) => _completion.Complete(error);

        public ValueTaskSourceStatus GetStatus(short token) => _completion.GetStatus();

        // No context is captured and no execution context flows (flags ignored): the continuation runs inline.
        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _completion.OnCompleted(continuation, state);

        public void GetResult(short token)
        {
            var registration = Registration;
            Registration = default;
            registration.Dispose();
            if (token != _version)
            {
                throw new InvalidOperationException("a TCP wait was awaited twice");
            }
            _completion.ThrowIfFailed();
        }
    }

    public IPEndPoint EndPoint(bool peer)
    {
        var address = default(DatagramPeer);
        uint length = DatagramPeer.Size;
        var rc = peer ? Interop.GetPeerName(Fd, Unsafe.AsPointer(ref address), &length) : Interop.GetSockName(Fd, Unsafe.AsPointer(ref address), &length);
        if (rc != 0)
        {
            throw Interop.SocketError(peer ? "getpeername" : "getsockname");
        }
        return address.ToEndPoint();
    }

    public static int Open(System.Net.Sockets.AddressFamily family)
    {
        var fd = Interop.Socket(family == System.Net.Sockets.AddressFamily.InterNetwork ? Interop.AF_INET : Interop.AF_INET6, Interop.SOCK_STREAM | Interop.SOCK_NONBLOCK | Interop.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw Interop.SocketError("socket");
        }
        return fd;
    }

    public int Accept() => Interop.Accept4(Fd, null, null, Interop.SOCK_NONBLOCK | Interop.SOCK_CLOEXEC);

    public void SetOption(int level, int name, int value) => Interop.SetSockOpt(Fd, level, name, &value, sizeof(int));
}
