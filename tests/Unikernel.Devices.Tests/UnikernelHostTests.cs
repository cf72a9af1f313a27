using Unikernel.Devices.Unix;
using Unikernel.Runtime;

namespace Unikernel.Devices.Tests;

/// <summary>
/// How the host runs jobs (issue 17): on the job loop of the calling thread, one after another up to each one's first
/// await, cooperatively (Lwt); a failure keeps its exit code and stops the others; devices only IAsyncDisposable are
/// disposed through the generated wrapper. The loop is the process's, so these run in one collection.
/// </summary>
[Collection(JobLoopCollection.Name)]
public class UnikernelHostTests
{
    private sealed class Probe(Func<CancellationToken, Job> body) : IJob
    {
        public Job RunAsync(CancellationToken cancellationToken) => body(cancellationToken);
    }

    [Fact]
    public void The_only_job_runs_on_the_host_thread_before_and_after_a_timer()
    {
        var host = Environment.CurrentManagedThreadId;
        var startedOn = -1;
        var resumedOn = -1;
        async Job Body(CancellationToken token)
        {
            startedOn = Environment.CurrentManagedThreadId;
            await new UnixTime().SleepAsync(TimeSpan.FromMilliseconds(20), token);
            resumedOn = Environment.CurrentManagedThreadId;
        }
        Assert.Equal(0, UnikernelHost.Run("t", [], [new Probe(Body)], []));
        Assert.Equal(host, startedOn);
        Assert.Equal(host, resumedOn);
    }

    [Fact]
    public void A_job_that_throws_before_returning_a_job_fails_the_run_with_exit_code_1()
    {
        var job = new Probe(_ => throw new InvalidOperationException("boom"));
        Assert.Equal(1, UnikernelHost.Run("t", [], [job], []));
    }

    [Fact]
    public void Several_jobs_start_one_after_another_on_the_loop_and_one_that_waits_lets_the_next_run()
    {
        var host = Environment.CurrentManagedThreadId;
        var order = new List<string>();
        using var release = new CancellationTokenSource();
        var gate = JobLoop.Default.Delay(TimeSpan.FromDays(1), release.Token); // ends only when cancelled
        async Job First(CancellationToken token)
        {
            order.Add("first starts on " + (Environment.CurrentManagedThreadId == host ? "host" : "other"));
            try
            {
                await gate; // completed by the second job
            }
            catch (OperationCanceledException)
            {
            }
            order.Add("first resumes");
        }
        Job Second(CancellationToken token)
        {
            order.Add("second starts on " + (Environment.CurrentManagedThreadId == host ? "host" : "other"));
            release.Cancel();
            return Job.CompletedJob;
        }
        Assert.Equal(0, UnikernelHost.Run("t", [], [new Probe(First), new Probe(Second)], []));
        Assert.Equal(["first starts on host", "second starts on host", "first resumes"], order);
    }

    [Fact]
    public void A_failing_job_cancels_the_others_and_the_run_exits_1()
    {
        var sawCancellation = false;
        async Job Waiter(CancellationToken token)
        {
            try
            {
                await new UnixTime().SleepAsync(TimeSpan.FromDays(1), token);
            }
            catch (OperationCanceledException)
            {
                sawCancellation = true;
            }
        }
        async Job Failer(CancellationToken token)
        {
            await new UnixTime().SleepAsync(TimeSpan.FromMilliseconds(5), token);
            throw new InvalidOperationException("boom");
        }
        Assert.Equal(1, UnikernelHost.Run("t", [], [new Probe(Waiter), new Probe(Failer)], []));
        Assert.True(sawCancellation);
    }

    [Fact]
    public void A_job_that_ends_cancelled_is_not_a_failure()
    {
        var job = new Probe(_ => Job.FromCanceled(new CancellationToken(canceled: true)));
        Assert.Equal(0, UnikernelHost.Run("t", [], [job], []));
    }

    [Fact]
    public void A_job_awaiting_a_task_finishes_the_run_whichever_thread_completes_it()
    {
        var after = false;
        async Job Body(CancellationToken token)
        {
            await Task.Run(() => Thread.Sleep(10), token).ConfigureAwait(false);
            after = true;
        }
        Assert.Equal(0, UnikernelHost.Run("t", [], [new Probe(Body)], []));
        Assert.True(after);
    }

    [Fact]
    public void A_device_that_fails_to_start_exits_1_before_any_job_runs()
    {
        var ran = false;
        var job = new Probe(_ =>
        {
            ran = true;
            return Job.CompletedJob;
        });
        Assert.Equal(1, UnikernelHost.Run("t", [new FailingDevice()], [job], []));
        Assert.False(ran);
    }

    [Fact]
    public void Devices_are_disposed_in_the_given_order_an_async_one_through_its_wrapper()
    {
        var disposed = new List<string>();
        var job = new Probe(_ => Job.CompletedJob);
        IDisposable[] devices = [new AsyncDisposal(new AsyncDevice(disposed)), new SyncDevice(disposed)];
        Assert.Equal(0, UnikernelHost.Run("t", [], [job], devices));
        Assert.Equal(["async", "sync"], disposed);
    }

    private sealed class FailingDevice : IStartable
    {
        public async Job StartAsync(CancellationToken cancellationToken)
        {
            await new UnixTime().SleepAsync(TimeSpan.FromMilliseconds(1), cancellationToken);
            throw new InvalidOperationException("no link");
        }
    }

    private sealed class AsyncDevice(List<string> disposed) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Task.Yield();
            disposed.Add("async");
        }
    }

    private sealed class SyncDevice(List<string> disposed) : IDisposable
    {
        public void Dispose() => disposed.Add("sync");
    }
}

[CollectionDefinition(Name)]
public sealed class JobLoopCollection
{
    public const string Name = "job loop";
}
