using Unikernel.Runtime;

namespace Unikernel.Devices.Tests;

/// <summary>The task-like <see cref="Job"/>, its builder, and the <see cref="JobLoop"/>'s timers and posted work.</summary>
[Collection(JobLoopCollection.Name)]
public class JobTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public void An_async_job_that_never_waits_is_complete_when_it_returns()
    {
        static async Job Immediate()
        {
            await Job.CompletedJob;
        }
        var job = Immediate();
        Assert.True(job.IsCompleted);
        Assert.False(job.IsFaulted);
        Assert.Same(Job.CompletedJob, job);
    }

    [Fact]
    public async Task An_exception_reaches_the_awaiter_as_thrown()
    {
        static async Job Fails()
        {
            await JobLoop.Default.Delay(TimeSpan.FromMilliseconds(1), CancellationToken.None);
            throw new FormatException("bad");
        }
        var job = Fails();
        var error = await Assert.ThrowsAsync<FormatException>(async () => await job);
        Assert.Equal("bad", error.Message);
        Assert.True(job.IsFaulted);
        Assert.Same(error, job.Exception);
    }

    [Fact]
    public async Task A_job_awaited_twice_resumes_both_awaiters()
    {
        using var release = new CancellationTokenSource();
        var gate = JobLoop.Default.Delay(TimeSpan.FromDays(1), release.Token);
        async Job Await(List<int> into, int id)
        {
            try
            {
                await gate;
            }
            catch (OperationCanceledException)
            {
                lock (into)
                {
                    into.Add(id);
                }
            }
        }
        var resumed = new List<int>();
        var first = Await(resumed, 1);
        var second = Await(resumed, 2);
        Assert.False(first.IsCompleted);
        release.Cancel();
        await first.AsTask().WaitAsync(Bound);
        await second.AsTask().WaitAsync(Bound);
        Assert.Equal([1, 2], resumed);
    }

    [Fact]
    public async Task AsTask_carries_success_failure_and_cancellation()
    {
        await Job.CompletedJob.AsTask().WaitAsync(Bound);
        var failed = Job.FromException(new InvalidOperationException("x")).AsTask();
        await Assert.ThrowsAsync<InvalidOperationException>(() => failed.WaitAsync(Bound));
        using var cancel = new CancellationTokenSource();
        var sleeping = JobLoop.Default.Delay(TimeSpan.FromDays(1), cancel.Token).AsTask();
        cancel.Cancel();
        var canceled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sleeping.WaitAsync(Bound));
        Assert.True(sleeping.IsCanceled);
        Assert.Equal(cancel.Token, canceled.CancellationToken);
    }

    [Fact]
    public async Task A_cancelled_delay_throws_with_its_token_and_an_already_cancelled_one_at_once()
    {
        using var cancel = new CancellationTokenSource();
        var delay = JobLoop.Default.Delay(TimeSpan.FromDays(1), cancel.Token);
        Assert.False(delay.IsCompleted);
        cancel.Cancel();
        Assert.True(delay.IsCompleted);
        var error = await Assert.ThrowsAsync<OperationCanceledException>(async () => await delay);
        Assert.Equal(cancel.Token, error.CancellationToken);
        Assert.True(JobLoop.Default.Delay(TimeSpan.FromSeconds(1), cancel.Token).IsFaulted);
    }

    [Fact]
    public void Timers_fire_in_deadline_order_on_the_loop_thread_and_posts_from_other_threads_wake_it()
    {
        var loop = JobLoop.Default;
        var fired = new List<string>();
        var threads = new HashSet<int>();
        var posted = 0;
        var finished = false;
        void Record(string what)
        {
            fired.Add(what);
            threads.Add(Environment.CurrentManagedThreadId);
        }
        async Job Sleep(string name, int milliseconds)
        {
            await loop.Delay(TimeSpan.FromMilliseconds(milliseconds), CancellationToken.None);
            Record(name);
        }
        async Job All()
        {
            var slow = Sleep("30 ms", 30);
            var fast = Sleep("10 ms", 10);
            var middle = Sleep("20 ms", 20);
            await slow;
            await fast;
            await middle;
            // Work posted from another thread while the loop sleeps in poll(2) with no timer left.
            var other = new Thread(() => loop.Post(() =>
            {
                Record("posted");
                posted++;
            }));
            other.Start();
            other.Join();
        }
        loop.Run(() =>
        {
            var all = All();
            all.GetAwaiter().UnsafeOnCompleted(() => loop.Post(() => finished = true));
        }, () => finished && posted == 1);
        Assert.Equal(["10 ms", "20 ms", "30 ms", "posted"], fired);
        Assert.Single(threads);
    }

    [Fact]
    public void Work_posted_with_nobody_running_the_loop_runs_on_its_background_thread()
    {
        using var ran = new ManualResetEventSlim();
        var loopThread = false;
        JobLoop.Default.Post(() =>
        {
            loopThread = JobLoop.Default.IsLoopThread;
            ran.Set();
        });
        Assert.True(ran.Wait(Bound));
        Assert.True(loopThread);
    }
}
