using System;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;

namespace Unikernel.Devices.Unix;

/// <summary>
/// One direction's reusable operation on a <see cref="TcpDescriptor"/> (a read, a write or an accept; one at a time):
/// tries its system call, and on EAGAIN waits for the descriptor's next readiness edge and tries again, as an
/// <see cref="IValueTaskSource{TResult}"/> written by hand. Not <c>async ValueTask</c> methods: their builders' boxes
/// (a <see cref="Task"/>, or a pooled box completing through ManualResetValueTaskSourceCore) link the Task machinery
/// and the thread pool into an image (issue 17). Nothing is allocated per operation; the continuation runs where the
/// operation completes (the epoll thread, or where its token is cancelled), with no context captured.
/// </summary>
internal abstract class TcpOperation<TResult> : IValueTaskSource<TResult>, IValueTaskSource
{
    private static readonly Action<object?> s_ready = static state => ((TcpOperation<TResult>)state!).OnReady();

    private readonly bool _write;
    private InlineCompletion _completion;
    private TResult _result = default!;
    private short _version;
    private short _wait;

    protected TcpOperation(TcpDescriptor descriptor, bool write)
    {
        Descriptor = descriptor;
        _write = write;
    }

    protected TcpDescriptor Descriptor { get; }

    protected CancellationToken Token { get; private set; }

    public short Version => _version;

    /// <summary>One attempt: true with the result when done; false with the sequence number to wait after. Throws on failure.</summary>
    protected abstract bool TryComplete(out TResult result, out int seq);

    /// <summary>The exception the operation fails with, given what an attempt or the wait threw.</summary>
    protected virtual Exception Translate(Exception error) => error;

    /// <summary>
    /// Starts the operation (its inputs set by the caller): true when it finished at once with
    /// <paramref name="result"/>; otherwise the caller returns a ValueTask over this source and <see cref="Version"/>.
    /// </summary>
    protected bool Begin(CancellationToken cancellationToken, out TResult result)
    {
        Token = cancellationToken;
        _version++;
        _result = default!;
        _completion.Reset();
        try
        {
            while (true)
            {
                if (TryComplete(out result, out var seq))
                {
                    return true;
                }
                if (Arm(seq))
                {
                    return false;
                }
            }
        }
#pragma warning disable CA1031 // the failure is the operation's result
        catch (Exception e)
#pragma warning restore CA1031
        {
            Complete(default!, Translate(e));
            result = default!;
            return false;
        }
    }

    /// <summary>Waits for the edge after <paramref name="seq"/>; false when it has come already (try again now).</summary>
    private bool Arm(int seq) => Descriptor.WaitThen(_write, seq, Token, s_ready, this, out _wait);

    private void OnReady()
    {
        try
        {
            Descriptor.EndWait(_write, _wait); // throws when cancelled or closed
            while (true)
            {
                if (TryComplete(out var result, out var seq))
                {
                    Complete(result, null);
                    return;
                }
                if (Arm(seq))
                {
                    return;
                }
            }
        }
#pragma warning disable CA1031 // the failure is the operation's result
        catch (Exception e)
#pragma warning restore CA1031
        {
            Complete(default!, Translate(e));
        }
    }

    private void Complete(TResult result, Exception? error)
    {
        _result = result;
        _completion.Complete(error);
    }

    public ValueTaskSourceStatus GetStatus(short token) => _completion.GetStatus();

    // No context is captured and no execution context flows (flags ignored): the continuation runs inline.
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _completion.OnCompleted(continuation, state);

    public TResult GetResult(short token)
    {
        if (token != _version)
        {
            throw new InvalidOperationException("a TCP operation was awaited twice");
        }
        _completion.ThrowIfFailed();
        return _result;
    }

    void IValueTaskSource.GetResult(short token) => GetResult(token);
}
