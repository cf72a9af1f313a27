using System;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading;
using Unikernel.Devices;

namespace Unikernel.Runtime;

/// <summary>
/// The appliance's event loop (Lwt's main loop): one thread runs posted work and due timers, and otherwise sleeps in
/// poll(2) on an eventfd until the next timer is due or another thread posts work. No thread pool, no Task: hello's
/// image links only this (issue 17). <see cref="UnikernelHost"/> runs <see cref="Default"/> on the main thread; other
/// threads (a device's receive thread, a signal, Task-based code) <see cref="Post(Action)"/> to it. Where no host
/// runs it (a test, a benchmark), the first work posted starts a background thread that runs it until a caller of
/// <see cref="Run"/> takes it over.
/// </summary>
/// <remarks>
/// Work runs in the order it was posted; timers that fall due at the same instant fire in the order they were set.
/// A callback must not block: everything else on the loop waits for it.
/// </remarks>
public sealed unsafe class JobLoop
{
    private const int EFD_NONBLOCK = 0x800;
    private const int EFD_CLOEXEC = 0x80000;

    private const int NotRunning = 0;
    private const int RunByCaller = 1;
    private const int RunInBackground = 2;

    private static JobLoop? s_default;

    // A plain object, not a Lock: a thread waiting in WaitWhileRunElsewhere needs Monitor.Wait.
    private readonly object _gate = new();
    private readonly int _eventFd;

    // Posted work: a ring, grown by doubling (under _gate).
    private WorkItem[] _queue = new WorkItem[16];
    private int _head;
    private int _count;

    // Timers: a binary min-heap on (Due, Sequence) (under _gate).
    private LoopTimer[] _heap = new LoopTimer[16];
    private int _timers;
    private long _sequence;

    // 1 once a waker has written to the eventfd since the loop last read it: later wakers skip the system call.
    private int _signalled;
    private int _runner;
    private int _runnerThread;
    private int _waiters;

    // 1 while a caller of Run waits for the background thread to stop.
    private int _handOver;

    private JobLoop()
    {
        _eventFd = Interop.EventFd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (_eventFd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new InvalidOperationException($"the job loop cannot create its eventfd: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    /// <summary>
    /// The process's loop, created (with its eventfd) on first use: the host touches it before any device starts, so
    /// the descriptor is open when a sealed image is sealed.
    /// </summary>
    public static JobLoop Default
    {
        get
        {
            var loop = Volatile.Read(ref s_default);
            if (loop is not null)
            {
                return loop;
            }
            loop = new JobLoop();
            var winner = Interlocked.CompareExchange(ref s_default, loop, null);
            if (winner is not null)
            {
                Interop.Close(loop._eventFd);
                return winner;
            }
            return loop;
        }
    }

    /// <summary>The feature switch an appliance build turns off (<c>Unikernel.props</c>): see <see cref="RunsItself"/>.</summary>
    public const string RunsItselfSwitch = "Unikernel.JobLoop.RunsItself";

    /// <summary>
    /// Whether work posted while nobody runs the loop starts a background thread that runs it (a test, a benchmark:
    /// no host), and a second <see cref="Run"/> waits for the first. An appliance build sets the switch off as a
    /// trimming feature switch: there the host runs the loop for as long as jobs run, and the image links no thread
    /// start (with its culture and AsyncLocal set-up) and no Monitor.Wait for it (issue 17). True when not set.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.FeatureSwitchDefinition(RunsItselfSwitch)]
    public static bool RunsItself => !AppContext.TryGetSwitch(RunsItselfSwitch, out var enabled) || enabled;

    /// <summary>Whether the calling thread is the one running the loop now.</summary>
    public bool IsLoopThread => Volatile.Read(ref _runnerThread) == Environment.CurrentManagedThreadId;

    /// <summary>Runs <paramref name="action"/> on the loop's thread, after the work posted before it.</summary>
    public void Post(Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        Post(static state => ((Action)state!)(), action);
    }

    /// <summary>Runs <paramref name="callback"/>(<paramref name="state"/>) on the loop's thread, after the work posted before it.</summary>
    public void Post(Action<object?> callback, object? state)
    {
        ArgumentNullException.ThrowIfNull(callback);
        lock (_gate)
        {
            EnqueueLocked(new WorkItem(callback, state));
        }
        Wake();
    }

    /// <summary>
    /// A job that completes on the loop's thread once <paramref name="duration"/> has passed on the monotonic clock,
    /// or finishes with an <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> is
    /// cancelled first (on the thread that cancels it: the loop's, when the host shuts down).
    /// </summary>
    public Job Delay(TimeSpan duration, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Job.FromCanceled(cancellationToken);
        }
        var sleep = new Sleep(this, cancellationToken);
        sleep.Timer = Schedule(duration, static state => ((Sleep)state!).Fire(), sleep);
        if (cancellationToken.CanBeCanceled)
        {
            sleep.Registration = cancellationToken.UnsafeRegister(static state => ((Sleep)state!).Cancel(), sleep);
        }
        return sleep.Job;
    }

    /// <summary>Runs <paramref name="callback"/>(<paramref name="state"/>) on the loop's thread once <paramref name="due"/> has passed.</summary>
    internal LoopTimer Schedule(TimeSpan due, Action<object?> callback, object? state)
    {
        var timer = new LoopTimer(Stopwatch.GetTimestamp() + ToTimestampTicks(due), callback, state);
        bool earliest;
        lock (_gate)
        {
            timer.Sequence = _sequence++;
            if (_timers == _heap.Length)
            {
                Array.Resize(ref _heap, _heap.Length * 2);
            }
            timer.Index = _timers;
            _heap[_timers++] = timer;
            SiftUp(timer.Index);
            earliest = timer.Index == 0;
        }
        if (earliest)
        {
            // The loop may be asleep until a later deadline.
            Wake();
        }
        return timer;
    }

    /// <summary>Takes <paramref name="timer"/> off the loop; false when it has fired (or is firing) already.</summary>
    internal bool Cancel(LoopTimer timer)
    {
        lock (_gate)
        {
            var at = timer.Index;
            if (at < 0)
            {
                return false;
            }
            RemoveAt(at);
            return true;
        }
    }

    /// <summary>
    /// Runs the loop on this thread: first <paramref name="start"/>, then posted work and timers until
    /// <paramref name="done"/> (checked after every piece of work) says so. The background thread, if it runs the
    /// loop (a test process), hands it over first. When another caller of Run has it (two hosts at once in a test
    /// process), posts <paramref name="start"/> there and waits for <paramref name="done"/> instead. Work still queued
    /// when <paramref name="done"/> holds stays queued for whoever runs the loop next.
    /// </summary>
    public void Run(Action start, Func<bool> done)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(done);
        while (Interlocked.CompareExchange(ref _runner, RunByCaller, NotRunning) != NotRunning)
        {
            if (!RunsItself)
            {
                throw new InvalidOperationException("the job loop already runs on another thread");
            }
            if (Volatile.Read(ref _runner) == RunByCaller)
            {
                // Two hosts at once (a test process): the second's work runs where the first runs the loop.
                Post(start);
                WaitWhileRunElsewhere(done);
                return;
            }
            TakeOverFromBackground();
        }
        Volatile.Write(ref _handOver, 0);
        Volatile.Write(ref _runnerThread, Environment.CurrentManagedThreadId);
        try
        {
            start();
            Drive(done);
        }
        finally
        {
            Volatile.Write(ref _runnerThread, 0);
            Volatile.Write(ref _runner, NotRunning);
            if (RunsItself)
            {
                lock (_gate)
                {
                    // Work or timers left (a test's, posted while a host ran), or another caller of Run waiting:
                    // the background thread goes on with them.
                    if (_waiters > 0 || _count > 0 || _timers > 0)
                    {
                        StartBackgroundRunnerLocked();
                    }
                }
            }
        }
    }

    private void Drive(Func<bool>? done)
    {
        var batch = new WorkItem[16];
        while (done is null ? Volatile.Read(ref _handOver) == 0 : !done())
        {
            int taken;
            long wait;
            lock (_gate)
            {
                var now = Stopwatch.GetTimestamp();
                // Due timers join the end of the queue, in deadline order, after the work already posted.
                while (_timers > 0 && _heap[0].Due <= now)
                {
                    var timer = _heap[0];
                    RemoveAt(0);
                    EnqueueLocked(new WorkItem(timer.Callback, timer.State));
                }
                taken = Math.Min(_count, batch.Length);
                for (var i = 0; i < taken; i++)
                {
                    var slot = (_head + i) % _queue.Length;
                    batch[i] = _queue[slot];
                    _queue[slot] = default;
                }
                _head = (_head + taken) % _queue.Length;
                _count -= taken;
                wait = _count > 0 ? 0 : _timers > 0 ? _heap[0].Due - now : -1;
            }
            if (taken > 0)
            {
                for (var i = 0; i < taken; i++)
                {
                    var item = batch[i];
                    batch[i] = default;
                    item.Callback(item.State);
                    if (done is not null && done())
                    {
                        // What is left of the batch goes back to the front of the queue.
                        Requeue(batch, i + 1, taken);
                        return;
                    }
                }
                PulseWaiters();
                continue;
            }
            PulseWaiters();
            WaitForWork(wait);
        }
    }

    private void Requeue(WorkItem[] batch, int from, int to)
    {
        if (from == to)
        {
            return;
        }
        lock (_gate)
        {
            for (var i = to - 1; i >= from; i--)
            {
                if (_count == _queue.Length)
                {
                    GrowLocked();
                }
                _head = (_head - 1 + _queue.Length) % _queue.Length;
                _queue[_head] = batch[i];
                batch[i] = default;
                _count++;
            }
        }
    }

    /// <summary>A thread in <see cref="WaitWhileRunElsewhere"/> looks at its condition again after each turn.</summary>
    private void PulseWaiters()
    {
        if (Volatile.Read(ref _waiters) > 0)
        {
            lock (_gate)
            {
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>Sleeps in poll(2) for <paramref name="timestampTicks"/> (-1: until woken).</summary>
    private void WaitForWork(long timestampTicks)
    {
        var milliseconds = -1;
        if (timestampTicks >= 0)
        {
            // Rounded up, so a timer is never polled for early and spun on.
            var ms = (timestampTicks * 1000 + Stopwatch.Frequency - 1) / Stopwatch.Frequency;
            milliseconds = (int)Math.Min(ms, int.MaxValue);
        }
        var poll = new Interop.PollFd { Fd = _eventFd, Events = Interop.POLLIN };
        var ready = Interop.Poll(&poll, 1, milliseconds);
        if (ready > 0)
        {
            // Reset first: a waker that finds 0 after this writes again, and its work is seen by the next turn.
            Volatile.Write(ref _signalled, 0);
            ulong value;
            _ = Interop.Read(_eventFd, (byte*)&value, sizeof(ulong));
        }
        // ready < 0 is EINTR (a signal for this thread): the next turn looks again.
    }

    private void Wake()
    {
        var runner = Volatile.Read(ref _runner);
        if (runner == NotRunning)
        {
            if (!RunsItself)
            {
                // An appliance: the host runs the loop from before the first device starts to after the last job
                // stops; work posted outside that time waits (and is dropped at exit).
                return;
            }
            lock (_gate)
            {
                if (Volatile.Read(ref _runner) == NotRunning)
                {
                    StartBackgroundRunnerLocked();
                    return;
                }
            }
        }
        if (Volatile.Read(ref _runnerThread) == Environment.CurrentManagedThreadId)
        {
            // The loop's own thread looks at the queue before it sleeps.
            return;
        }
        Signal();
    }

    /// <summary>Makes the loop's poll(2) return, unless a signal it has not read yet already will.</summary>
    private void Signal()
    {
        if (Interlocked.Exchange(ref _signalled, 1) == 0)
        {
            ulong one = 1;
            _ = Interop.Write(_eventFd, (byte*)&one, sizeof(ulong));
        }
    }

    /// <summary>A caller of <see cref="Run"/> asks the background thread to stop at its next turn, and waits until it has.</summary>
    private void TakeOverFromBackground()
    {
        Volatile.Write(ref _handOver, 1);
        Signal();
        lock (_gate)
        {
            while (Volatile.Read(ref _runner) == RunInBackground)
            {
                // Pulsed when the thread stops; the bound only covers a pulse that came before this wait.
                Monitor.Wait(_gate, 100);
            }
        }
    }

    private void StartBackgroundRunnerLocked()
    {
        if (Interlocked.CompareExchange(ref _runner, RunInBackground, NotRunning) != NotRunning)
        {
            return;
        }
        var thread = new Thread(static state =>
        {
            var loop = (JobLoop)state!;
            Volatile.Write(ref loop._runnerThread, Environment.CurrentManagedThreadId);
            try
            {
                loop.Drive(null);
            }
            finally
            {
                // Handed over to a caller of Run (which runs the loop on its own thread from now on).
                Volatile.Write(ref loop._runnerThread, 0);
                Volatile.Write(ref loop._runner, NotRunning);
                lock (loop._gate)
                {
                    Monitor.PulseAll(loop._gate);
                }
            }
        })
        {
            IsBackground = true,
            Name = "job-loop",
        };
        thread.UnsafeStart(this);
    }

    private void WaitWhileRunElsewhere(Func<bool> done)
    {
        lock (_gate)
        {
            _waiters++;
            try
            {
                while (!done())
                {
                    // Pulsed by the running thread after each turn (under _gate, so no pulse falls between the
                    // check and the wait); the bound only covers a condition made true off the loop.
                    Monitor.Wait(_gate, 100);
                }
            }
            finally
            {
                _waiters--;
            }
        }
    }

    private void EnqueueLocked(WorkItem item)
    {
        if (_count == _queue.Length)
        {
            GrowLocked();
        }
        _queue[(_head + _count) % _queue.Length] = item;
        _count++;
    }

    private void GrowLocked()
    {
        var grown = new WorkItem[_queue.Length * 2];
        for (var i = 0; i < _count; i++)
        {
            grown[i] = _queue[(_head + i) % _queue.Length];
        }
        _queue = grown;
        _head = 0;
    }

    private static long ToTimestampTicks(TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero)
        {
            return 0;
        }
        // Stopwatch ticks are nanoseconds on Linux; the general form does not overflow for durations below ~29 years.
        return Stopwatch.Frequency == TimeSpan.TicksPerSecond * 100
            ? duration.Ticks * 100
            : (long)((double)duration.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond);
    }

    // ---- the timer heap (under _gate) ----

    private static bool Before(LoopTimer a, LoopTimer b) => a.Due < b.Due || (a.Due == b.Due && a.Sequence < b.Sequence);

    private void SiftUp(int at)
    {
        var timer = _heap[at];
        while (at > 0)
        {
            var parent = (at - 1) / 2;
            if (!Before(timer, _heap[parent]))
            {
                break;
            }
            _heap[at] = _heap[parent];
            _heap[at].Index = at;
            at = parent;
        }
        _heap[at] = timer;
        timer.Index = at;
    }

    private void SiftDown(int at)
    {
        var timer = _heap[at];
        while (true)
        {
            var child = (2 * at) + 1;
            if (child >= _timers)
            {
                break;
            }
            if (child + 1 < _timers && Before(_heap[child + 1], _heap[child]))
            {
                child++;
            }
            if (!Before(_heap[child], timer))
            {
                break;
            }
            _heap[at] = _heap[child];
            _heap[at].Index = at;
            at = child;
        }
        _heap[at] = timer;
        timer.Index = at;
    }

    private void RemoveAt(int at)
    {
        var removed = _heap[at];
        removed.Index = -1;
        _timers--;
        if (at == _timers)
        {
            _heap[at] = null!;
            return;
        }
        _heap[at] = _heap[_timers];
        _heap[_timers] = null!;
        _heap[at].Index = at;
        SiftDown(at);
        SiftUp(_heap[at].Index);
    }

    private readonly struct WorkItem(Action<object?> callback, object? state)
    {
        public Action<object?> Callback { get; } = callback;

        public object? State { get; } = state;
    }

    /// <summary>One sleep of <see cref="Delay"/>: its timer, its cancellation, and the job they race to finish.</summary>
    private sealed class Sleep(JobLoop loop, CancellationToken cancellationToken)
    {
        public Job Job { get; } = new();

        public LoopTimer? Timer { get; set; }

        public CancellationTokenRegistration Registration { get; set; }

        public void Fire()
        {
            // Unregister, not Dispose: Dispose would wait for a cancellation callback running on another thread.
            Registration.Unregister();
            Job.TryComplete(null);
        }

        public void Cancel()
        {
            // Here, on the thread that cancels (as Task.Delay does), not posted to the loop: a device's Dispose that
            // cancels its sleeps and waits for them must not depend on a loop that may no longer run (after the host).
            if (Timer is not null && loop.Cancel(Timer))
            {
                Job.TryComplete(new OperationCanceledException(cancellationToken));
            }
        }
    }
}

/// <summary>A timer of a <see cref="JobLoop"/>; <see cref="Index"/> is its place in the heap, -1 once fired or cancelled.</summary>
internal sealed class LoopTimer(long due, Action<object?> callback, object? state)
{
    public long Due { get; } = due;

    public long Sequence { get; set; }

    public int Index { get; set; } = -1;

    public Action<object?> Callback { get; } = callback;

    public object? State { get; } = state;
}
