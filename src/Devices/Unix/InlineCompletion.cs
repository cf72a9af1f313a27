using System;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks.Sources;

namespace Unikernel.Devices.Unix;

/// <summary>
/// The completion half of the unix TCP code's hand-written ValueTask sources (<see cref="TcpOperation{TResult}"/> and
/// <see cref="TcpDescriptor"/>'s readiness wait): who waits, with which state, and how it ended. The continuation runs
/// inline where the operation completes, with no context captured and no execution context flowed. A mutable struct
/// kept as a field of its source and used only in place (never copied).
/// </summary>
internal struct InlineCompletion
{
    private static readonly Action<object?> s_completed = static _ => { };

    private Action<object?>? _continuation; // null: pending, nobody waits; s_completed: done
    private object? _state;
    private Exception? _error;

    /// <summary>Starts a new wait (with none outstanding).</summary>
    public void Reset()
    {
        _error = null;
        _state = null;
        Volatile.Write(ref _continuation, null);
    }

    /// <summary>Ends the wait (<paramref name="error"/> null: success) and runs the continuation, if one is registered.</summary>
    public void Complete(Exception? error)
    {
        _error = error;
        var continuation = Interlocked.Exchange(ref _continuation, s_completed);
        continuation?.Invoke(_state);
    }

    public ValueTaskSourceStatus GetStatus()
    {
        if (!ReferenceEquals(Volatile.Read(ref _continuation), s_completed))
        {
            return ValueTaskSourceStatus.Pending;
        }
        return _error switch
        {
            null => ValueTaskSourceStatus.Succeeded,
            OperationCanceledException => ValueTaskSourceStatus.Canceled,
            _ => ValueTaskSourceStatus.Faulted,
        };
    }

    /// <summary>Registers the continuation, or runs it at once when the wait has ended already.</summary>
    public void OnCompleted(Action<object?> continuation, object? state)
    {
        _state = state;
        if (Interlocked.CompareExchange(ref _continuation, continuation, null) is not null)
        {
            continuation(state);
        }
    }

    /// <summary>Rethrows the failure the wait ended with, if any.</summary>
    public readonly void ThrowIfFailed()
    {
        if (_error is { } error)
        {
            ExceptionDispatchInfo.Throw(error);
        }
    }
}
