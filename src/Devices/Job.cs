using System;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;

namespace Unikernel.Devices;

/// <summary>
/// The result of a job, a device's start or a timer: a task-like type that completes once, successfully or with an
/// exception (Lwt's promise). <c>async Job</c> methods build it with <see cref="JobMethodBuilder"/>, and <c>await</c>
/// works on it, without <see cref="Task"/>: an appliance whose code awaits only jobs (hello) links none of the Task,
/// thread-pool and timer machinery (about 260 KB of a NativeAOT image, issue 17).
/// </summary>
/// <remarks>
/// A continuation runs on the thread that completes the job, at once (as Lwt's wakeup): a timer's on the
/// <see cref="Runtime.JobLoop"/> thread, a job that awaited a <see cref="Task"/> on whichever thread finished that task.
/// No <see cref="ExecutionContext"/> is captured (AsyncLocal values do not flow across an await of a job) and no
/// synchronization context is consulted. A job may be awaited more than once and by several awaiters.
/// <see cref="AsTask"/> gives a Task for Task-based code (<c>Task.WhenAny</c>, tests); only code that calls it links it.
/// </remarks>
[AsyncMethodBuilder(typeof(JobMethodBuilder))]
public sealed class Job
{
    // null: running, nobody waiting; an Action or Continuations: running, these wait; s_completed: done.
    private static readonly object s_completed = new();

    private object? _continuation;
    private ExceptionDispatchInfo? _error;
    private int _completing;

    internal Job()
    {
    }

    private Job(ExceptionDispatchInfo? error)
    {
        _error = error;
        _completing = 1;
        _continuation = s_completed;
    }

    /// <summary>A job that has already completed successfully.</summary>
    public static Job CompletedJob { get; } = new(null);

    /// <summary>Whether the job has finished (successfully or not).</summary>
    public bool IsCompleted => ReferenceEquals(Volatile.Read(ref _continuation), s_completed);

    /// <summary>Whether the job has finished with an exception (an <see cref="OperationCanceledException"/> included).</summary>
    public bool IsFaulted => IsCompleted && _error is not null;

    /// <summary>The exception the job finished with; null while it runs or when it succeeded.</summary>
    public Exception? Exception => IsCompleted ? _error?.SourceException : null;

    /// <summary>A job that has already finished with <paramref name="exception"/>.</summary>
    public static Job FromException(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return new Job(ExceptionDispatchInfo.Capture(exception));
    }

    /// <summary>A job already cancelled by <paramref name="cancellationToken"/> (it throws OperationCanceledException).</summary>
    public static Job FromCanceled(CancellationToken cancellationToken) => FromException(new OperationCanceledException(cancellationToken));

    public JobAwaiter GetAwaiter() => new(this);

    /// <summary>
    /// Returns this job: a job never captures a context, so there is nothing to configure. It keeps code written for
    /// Task (<c>await x.ConfigureAwait(false)</c>) compiling unchanged.
    /// </summary>
    public Job ConfigureAwait(bool continueOnCapturedContext)
    {
        _ = continueOnCapturedContext;
        return this;
    }

    /// <summary>
    /// A <see cref="Task"/> that completes when the job does: cancelled when it finished with an
    /// <see cref="OperationCanceledException"/>, faulted with its exception, or successful. The task's continuations
    /// run asynchronously (on the thread pool), so Task-based code awaiting it never runs on the loop's thread.
    /// </summary>
    public Task AsTask()
    {
        if (IsCompleted)
        {
            return _error switch
            {
                null => Task.CompletedTask,
                { SourceException: OperationCanceledException canceled } => Task.FromCanceled(canceled.CancellationToken.IsCancellationRequested ? canceled.CancellationToken : new CancellationToken(true)),
                _ => Task.FromException(_error.SourceException),
            };
        }
        var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        OnCompleted(() =>
        {
            switch (_error?.SourceException)
            {
                case null:
                    source.TrySetResult();
                    break;
                case OperationCanceledException canceled:
                    source.TrySetCanceled(canceled.CancellationToken);
                    break;
                case var error:
                    source.TrySetException(error);
                    break;
            }
        });
        return source.Task;
    }

    /// <summary>Throws the job's exception (with its original stack) if it failed.</summary>
    internal void ThrowIfFailed() => _error?.Throw();

    /// <summary>Finishes the job and runs whatever waits for it, here and now; false if it had already finished.</summary>
    internal bool TryComplete(Exception? error)
    {
        var waiting = TrySetCompleted(error);
        if (waiting is null)
        {
            return false;
        }
        Run(waiting);
        return true;
    }

    /// <summary>
    /// Finishes the job now but hands whatever waits for it to <paramref name="dispatch"/> (the test target's virtual
    /// clock runs them on the thread pool, as its Task-based timers did); false if it had already finished.
    /// </summary>
    internal bool TryComplete(Exception? error, Action<Action> dispatch)
    {
        var waiting = TrySetCompleted(error);
        if (waiting is null)
        {
            return false;
        }
        if (!ReferenceEquals(waiting, s_completed))
        {
            dispatch(waiting as Action ?? (() => Run(waiting)));
        }
        return true;
    }

    /// <summary>Marks the job finished; returns what was waiting (s_completed when nothing), or null if it had already finished.</summary>
    private object? TrySetCompleted(Exception? error)
    {
        // One completer wins; a loser (a timer and its cancellation racing) changes nothing.
        if (Interlocked.Exchange(ref _completing, 1) != 0)
        {
            return null;
        }
        _error = error is null ? null : ExceptionDispatchInfo.Capture(error);
        // The exchange publishes _error with the state: whoever sees s_completed (IsCompleted, then GetResult) sees it.
        return Interlocked.Exchange(ref _continuation, s_completed) ?? s_completed;
    }

    internal void OnCompleted(Action continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        var seen = Volatile.Read(ref _continuation);
        while (true)
        {
            if (ReferenceEquals(seen, s_completed))
            {
                continuation();
                return;
            }
            // A second waiter makes a list (rare: the host and a job awaiting the same job); not Delegate.Combine,
            // whose multicast machinery costs an image about 2 KB.
            object next = seen switch
            {
                null => continuation,
                Action first => new Continuations(first, continuation),
                _ => ((Continuations)seen).With(continuation),
            };
            var witnessed = Interlocked.CompareExchange(ref _continuation, next, seen);
            if (ReferenceEquals(witnessed, seen))
            {
                return;
            }
            seen = witnessed;
        }
    }

    /// <summary>Runs what waited for the job (an Action or a <see cref="Continuations"/>; s_completed: nothing).</summary>
    private static void Run(object waiting)
    {
        if (waiting is Action action)
        {
            action();
        }
        else if (waiting is Continuations list)
        {
            foreach (var each in list.Actions)
            {
                each();
            }
        }
    }

    /// <summary>Several waiters, in the order they came; never changed, replaced by a longer copy.</summary>
    private sealed class Continuations
    {
        public Continuations(Action first, Action second) => Actions = [first, second];

        private Continuations(Action[] actions) => Actions = actions;

        public Action[] Actions { get; }

        public Continuations With(Action next)
        {
            var actions = new Action[Actions.Length + 1];
            Array.Copy(Actions, actions, Actions.Length);
            actions[^1] = next;
            return new Continuations(actions);
        }
    }
}

/// <summary>
/// A job finished by hand (TaskCompletionSource's counterpart, without Task): what waits for <see cref="Job"/> runs on
/// the thread that calls <see cref="TrySetResult"/> or <see cref="TrySetException"/>, at once.
/// </summary>
public sealed class JobSource
{
    public Job Job { get; } = new();

    /// <summary>Finishes the job successfully; false if it had already finished.</summary>
    public bool TrySetResult() => Job.TryComplete(null);

    /// <summary>Finishes the job with <paramref name="exception"/>; false if it had already finished.</summary>
    public bool TrySetException(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return Job.TryComplete(exception);
    }
}

/// <summary>What <c>await job</c> uses.</summary>
public readonly struct JobAwaiter : ICriticalNotifyCompletion
{
    private readonly Job _job;

    internal JobAwaiter(Job job) => _job = job;

    public bool IsCompleted => _job.IsCompleted;

    /// <summary>Rethrows the job's exception, if it failed, with the stack where it was thrown.</summary>
    public void GetResult()
    {
        if (!_job.IsCompleted)
        {
            throw new InvalidOperationException("the job has not finished: await it instead of reading its result");
        }
        _job.ThrowIfFailed();
    }

    public void OnCompleted(Action continuation) => _job.OnCompleted(continuation);

    public void UnsafeOnCompleted(Action continuation) => _job.OnCompleted(continuation);
}

/// <summary>
/// Builds the <see cref="Job"/> of an <c>async Job</c> method. The state machine is boxed once per call, at its first
/// await that does not complete at once (a method that never waits allocates only its job, or nothing when it
/// succeeds); no ExecutionContext is captured.
/// </summary>
public struct JobMethodBuilder
{
    private Job? _job;
    private IStateMachineBox? _box;

    public static JobMethodBuilder Create() => default;

    public Job Task => _job ??= new Job();

    public void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
    {
        ArgumentNullException.ThrowIfNull(stateMachine);
        stateMachine.MoveNext();
    }

    public void SetStateMachine(IAsyncStateMachine stateMachine)
    {
        // Only for boxing by the runtime's own builders; ours boxes itself.
        _ = stateMachine;
    }

    public void SetResult()
    {
        if (_job is null)
        {
            // Finished before anyone asked for the job: share the completed one.
            _job = Job.CompletedJob;
            return;
        }
        _job.TryComplete(null);
    }

    public void SetException(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        (_job ??= new Job()).TryComplete(exception);
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine
    {
        awaiter.OnCompleted(Box(ref stateMachine).MoveNextAction);
    }

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine
    {
        awaiter.UnsafeOnCompleted(Box(ref stateMachine).MoveNextAction);
    }

    private IStateMachineBox Box<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
    {
        if (_box is not null)
        {
            return _box;
        }
        // The job and the box are recorded in this builder before the state machine (which holds the builder) is
        // copied into the box, so the copy the method goes on with and the caller's copy agree on the job.
        _job ??= new Job();
        var box = new StateMachineBox<TStateMachine>();
        _box = box;
        box.StateMachine = stateMachine;
        return box;
    }

    private interface IStateMachineBox
    {
        Action MoveNextAction { get; }
    }

    private sealed class StateMachineBox<TStateMachine> : IStateMachineBox where TStateMachine : IAsyncStateMachine
    {
        public TStateMachine StateMachine = default!;
        private Action? _moveNext;

        public Action MoveNextAction => _moveNext ??= MoveNext;

        private void MoveNext() => StateMachine.MoveNext();
    }
}
