using System;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;
using Unikernel.Protocols.Dns;
using Xunit;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// SourceAwait awaits a device's ValueTask through its source (the dns image's way, without the Task machinery), and
/// a Task-backed ValueTask the ordinary way (the switch is on under the JIT). Each kind: result, failure, cancellation,
/// and completion before and after the await starts.
/// </summary>
public sealed class SourceAwaitTests
{
    [Fact]
    public async Task A_completed_value_gives_its_result()
    {
        Assert.Equal(5, await SourceAwait.On(new ValueTask<int>(5)));
        await SourceAwait.On(default(ValueTask));
    }

    [Fact]
    public async Task A_source_completed_later_on_another_thread_resumes_with_its_result()
    {
        var source = new TestSource();
        var pending = new ValueTask<int>(source, source.Version);
        Assert.False(SourceAwait.On(pending).GetAwaiter().IsCompleted);
        var completer = new Thread(() =>
        {
            Thread.Sleep(20);
            source.Core.SetResult(42);
        });
        completer.Start();
        Assert.Equal(42, await SourceAwait.On(pending));
        // The continuation runs on the completing thread (nothing is captured), so this test goes on there.
        Assert.Equal(completer.ManagedThreadId, Environment.CurrentManagedThreadId);
    }

    [Fact]
    public async Task A_source_completed_before_the_await_gives_its_result_at_once()
    {
        var source = new TestSource();
        source.Core.SetResult(7);
        var done = new ValueTask<int>(source, source.Version);
        Assert.True(SourceAwait.On(done).GetAwaiter().IsCompleted);
        Assert.Equal(7, await SourceAwait.On(done));
    }

    [Fact]
    public async Task A_failed_source_rethrows_its_exception_and_a_plain_ValueTask_too()
    {
        var source = new TestSource();
        var failing = new ValueTask<int>(source, source.Version);
        _ = Task.Run(async () =>
        {
            await Task.Delay(10);
            source.Core.SetException(new InvalidOperationException("refused"));
        });
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await SourceAwait.On(failing));
        Assert.Equal("refused", error.Message);

        var plain = new TestSource();
        var untyped = new ValueTask(plain, plain.Version);
        plain.Core.SetException(new OperationCanceledException());
        await Assert.ThrowsAsync<OperationCanceledException>(async () => await SourceAwait.On(untyped));
    }

    [Fact]
    public async Task Task_backed_value_tasks_are_awaited_the_ordinary_way_while_the_switch_is_on()
    {
        Assert.True(SourceAwait.TaskBacked);
        var later = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pending = new ValueTask<int>(later.Task);
        _ = Task.Run(async () =>
        {
            await Task.Delay(10);
            later.SetResult(9);
        });
        Assert.Equal(9, await SourceAwait.On(pending));
        await Assert.ThrowsAsync<TimeoutException>(async () => await SourceAwait.On(new ValueTask(Task.FromException(new TimeoutException()))));
    }

    private sealed class TestSource : IValueTaskSource<int>, IValueTaskSource
    {
        public ManualResetValueTaskSourceCore<int> Core;

        public short Version => Core.Version;

        public int GetResult(short token) => Core.GetResult(token);

        void IValueTaskSource.GetResult(short token) => Core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => Core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            Core.OnCompleted(continuation, state, token, flags);
    }
}
