using System;
using System.Collections.Generic;
using System.Threading;

namespace Unikernel.Devices.Testing;

/// <summary>Records every line (for assertions) and also echoes it to stdout so a test-target image still shows output.</summary>
public sealed class MemoryConsole : IConsole
{
    private readonly List<string> _lines = [];
    private readonly Lock _gate = new();

    public bool Echo { get; init; } = true;

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_gate)
            {
                return [.. _lines];
            }
        }
    }

    public void WriteLine(string line)
    {
        lock (_gate)
        {
            _lines.Add(line);
            if (Echo)
            {
                Runtime.StdIo.WriteLine(line);
            }
        }
    }
}

/// <summary>
/// Virtual time: starts at a fixed instant and moves only when a test calls <see cref="Advance"/> or, when
/// <see cref="AutoAdvance"/> is set (the default for the test target), when a sleeper asks to wait, so runs are
/// deterministic and take no real time. Implements the monotonic clock, the wall clock and timers over one time line.
/// </summary>
public sealed class VirtualClock : IMonotonicClock, IWallClock, ITime
{
    public static readonly DateTimeOffset DefaultEpoch = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly Lock _gate = new();
    private readonly PriorityQueue<Timer, (long Due, long Sequence)> _timers = new();
    private readonly DateTimeOffset _epoch;
    private long _now;
    private long _sequence;

    public VirtualClock() : this(DefaultEpoch)
    {
    }

    public VirtualClock(DateTimeOffset epoch) => _epoch = epoch;

    /// <summary>When true, a sleep moves time forward to its deadline at once (a single-threaded appliance never waits).</summary>
    public bool AutoAdvance { get; init; } = true;

    public long ElapsedNanoseconds
    {
        get
        {
            lock (_gate)
            {
                return _now;
            }
        }
    }

    public DateTimeOffset UtcNow => _epoch.AddTicks(ElapsedNanoseconds / 100);

    public Job SleepAsync(TimeSpan duration, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Job.FromCanceled(cancellationToken);
        }
        var nanoseconds = Math.Max(0, duration.Ticks) * 100;
        Timer timer;
        lock (_gate)
        {
            timer = new Timer(_now + nanoseconds, cancellationToken);
            _timers.Enqueue(timer, (timer.Due, _sequence++));
        }
        if (cancellationToken.CanBeCanceled)
        {
            cancellationToken.Register(static state => ((Timer)state!).Cancel(), timer);
        }
        if (AutoAdvance)
        {
            AdvanceTo(timer.Due);
        }
        return timer.Completion;
    }

    /// <summary>Moves time forward and fires every timer that falls due, in deadline order.</summary>
    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        long target;
        lock (_gate)
        {
            target = _now + by.Ticks * 100;
        }
        AdvanceTo(target);
    }

    private void AdvanceTo(long target)
    {
        while (true)
        {
            Timer? due = null;
            lock (_gate)
            {
                if (_timers.TryPeek(out var next, out var key) && key.Due <= target)
                {
                    _timers.Dequeue();
                    _now = Math.Max(_now, key.Due);
                    due = next;
                }
                else
                {
                    _now = Math.Max(_now, target);
                }
            }
            if (due is null)
            {
                return;
            }
            due.Fire();
        }
    }

    private sealed class Timer(long due, CancellationToken cancellationToken)
    {
        public long Due { get; } = due;

        public Job Completion { get; } = new();

        // The job is finished at once, but whoever awaits it goes on on the thread pool, not inside Advance (as
        // with the TaskCompletionSource(RunContinuationsAsynchronously) this clock had): a test that advances time
        // while holding a lock never runs a sleeper's code under it.
        public void Fire() => Completion.TryComplete(null, s_toThreadPool);

        public void Cancel() => Completion.TryComplete(new OperationCanceledException(cancellationToken), s_toThreadPool);

        private static readonly Action<Action> s_toThreadPool = static continuation =>
            ThreadPool.UnsafeQueueUserWorkItem(static next => next(), continuation, preferLocal: false);
    }
}

/// <summary>A deterministic generator (xoshiro256**) seeded by the configuration: same seed, same bytes.</summary>
public sealed class SeededRandom : IRandom
{
    private ulong _s0, _s1, _s2, _s3;
    private readonly Lock _gate = new();

    public SeededRandom() : this(42)
    {
    }

    public SeededRandom(ulong seed)
    {
        // SplitMix64 expands the seed into the four state words, as the xoshiro authors recommend.
        _s0 = SplitMix(ref seed);
        _s1 = SplitMix(ref seed);
        _s2 = SplitMix(ref seed);
        _s3 = SplitMix(ref seed);
    }

    public void Fill(Span<byte> destination)
    {
        lock (_gate)
        {
            Span<byte> word = stackalloc byte[8];
            for (var offset = 0; offset < destination.Length; offset += 8)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(word, Next());
                var take = Math.Min(8, destination.Length - offset);
                word[..take].CopyTo(destination[offset..]);
            }
        }
    }

    private ulong Next()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    private static ulong SplitMix(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
