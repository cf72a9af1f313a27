using Unikernel.Runtime;

namespace Unikernel.Devices.Tests;

/// <summary>
/// How the host starts jobs (issue 17, start-up): the only job runs on the host's thread up to its first await, so
/// an appliance reaches its sockets without a thread-pool hand-off; several jobs each start on the thread pool, so
/// one that blocks before its first await cannot hold up the others. Failures keep their exit code either way.
/// </summary>
public class UnikernelHostTests
{
    private sealed class Probe(Func<CancellationToken, Task> body) : IJob
    {
        public Task RunAsync(CancellationToken cancellationToken) => body(cancellationToken);
    }

    [Fact]
    public void The_only_job_starts_on_the_host_thread_and_its_continuation_completes_the_run()
    {
        var host = Environment.CurrentManagedThreadId;
        var startedOn = -1;
        var after = false;
        var job = new Probe(async token =>
        {
            startedOn = Environment.CurrentManagedThreadId;
            await Task.Delay(20, token).ConfigureAwait(false);
            after = true;
        });
        Assert.Equal(0, UnikernelHost.Run("t", [], [job], []));
        Assert.Equal(host, startedOn);
        Assert.True(after);
    }

    [Fact]
    public void A_job_that_throws_before_returning_a_task_fails_the_run_with_exit_code_1()
    {
        var job = new Probe(_ => throw new InvalidOperationException("boom"));
        Assert.Equal(1, UnikernelHost.Run("t", [], [job], []));
    }

    [Fact]
    public void Several_jobs_start_on_the_thread_pool_so_a_blocking_one_does_not_hold_up_the_others()
    {
        using var released = new ManualResetEventSlim();
        var host = Environment.CurrentManagedThreadId;
        var blockingOn = -1;
        var blocking = new Probe(_ =>
        {
            blockingOn = Environment.CurrentManagedThreadId;
            Assert.True(released.Wait(TimeSpan.FromSeconds(10))); // blocks until the other job has run
            return Task.CompletedTask;
        });
        var releaser = new Probe(async _ =>
        {
            await Task.Yield();
            released.Set();
        });
        Assert.Equal(0, UnikernelHost.Run("t", [], [blocking, releaser], []));
        Assert.NotEqual(host, blockingOn);
        Assert.True(released.IsSet);
    }
}
