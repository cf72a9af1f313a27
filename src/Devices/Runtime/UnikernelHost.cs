using System;
using System.Runtime.CompilerServices;
using System.Threading;
using Unikernel.Devices;

namespace Unikernel.Runtime;

/// <summary>
/// Runs a statically wired appliance on the <see cref="JobLoop"/> of the calling (main) thread: starts devices in
/// dependency order, seals, starts the jobs, turns SIGINT/SIGTERM into cancellation, waits for the jobs (a bounded
/// <see cref="ShutdownGrace"/> once shutdown begins), and disposes devices in reverse order. Called by generated
/// entry points. Uses no Task and no thread pool, so an appliance whose own code uses none links none (issue 17).
/// </summary>
/// <remarks>
/// Jobs start one after another on the loop's thread, each running up to its first await that does not complete at
/// once, as Lwt threads do: a job must not block before that await (reading a file is fine, waiting for another job
/// is not), or the jobs after it do not start. Where a job goes on after an await depends on what it awaited: a
/// device's <see cref="Job"/> (a timer) resumes it on the loop's thread, a Task on the thread that completed it.
/// </remarks>
public static class UnikernelHost
{
    /// <summary>How long jobs get to finish after a shutdown signal (or a job's failure) before the appliance exits anyway.</summary>
    public static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(5);

    public static int Run(string appliance, IStartable[] startables, IJob[] jobs, IDisposable[] disposablesInReverseOrder) =>
        Run(appliance, startables, jobs, disposablesInReverseOrder, seal: null);

    /// <summary>
    /// Like <see cref="Run(string, IStartable[], IJob[], IDisposable[])"/>; with <paramref name="seal"/> (a sealed
    /// image's allow-list) the process is sealed (<see cref="Seal.Install"/>) once every device has started and before
    /// any job runs, or exits with <see cref="Seal.FailedExitCode"/> when the kernel refuses. Devices that are only
    /// <see cref="IAsyncDisposable"/> come wrapped in <see cref="AsyncDisposal"/> (the generator does it), so an image
    /// without one links no ValueTask-to-Task code.
    /// </summary>
    public static int Run(string appliance, IStartable[] startables, IJob[] jobs, IDisposable[] disposablesInReverseOrder, SystemCallUse[]? seal)
    {
        ArgumentNullException.ThrowIfNull(startables);
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(disposablesInReverseOrder);
        // Touched first: the loop's eventfd is open before any device starts, so before the image is sealed.
        var loop = JobLoop.Default;
        using var shutdown = new CancellationTokenSource();
        var run = new HostRun(appliance, startables, jobs, shutdown, seal, loop);
        try
        {
            loop.Run(run.Start, run.IsFinished);
            return run.ExitCode;
        }
        finally
        {
            DisposeAll(appliance, disposablesInReverseOrder);
            run.ReleaseSignals();
        }
    }

    private static void DisposeAll(string appliance, IDisposable[] disposables)
    {
        foreach (var device in disposables)
        {
            try
            {
                device?.Dispose();
            }
            catch (Exception exception)
            {
                StdIo.WriteErrorLine($"{appliance}: disposing a device failed: {exception.Message}");
            }
        }
    }

    /// <summary>A device's constructor threw (a missing directory, a tap device that cannot be opened): say which, exit 1.</summary>
    public static int DeviceFailed(string appliance, string device, Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        StdIo.WriteErrorLine($"{appliance}: cannot create device '{device}': {exception.Message}");
        return 1;
    }

    /// <summary>One run of the host. Every member runs on the loop's thread (posted there), so none needs a lock.</summary>
    private sealed class HostRun(string appliance, IStartable[] startables, IJob[] jobs, CancellationTokenSource shutdown, SystemCallUse[]? seal, JobLoop loop)
    {
        private readonly Job _stopped = new();
        private volatile bool _finished;
        private int _running;
        private bool _stopping;
        private bool _graceExpired;
        private LoopTimer? _grace;
        private IDisposable? _sigint;
        private IDisposable? _sigterm;

        public int ExitCode { get; private set; }

        public bool IsFinished() => _finished;

        public void Start()
        {
            try
            {
                _sigint = Signals.Handle(System.Runtime.InteropServices.PosixSignal.SIGINT, BeginStopping);
                _sigterm = Signals.Handle(System.Runtime.InteropServices.PosixSignal.SIGTERM, BeginStopping);
            }
            catch (Exception exception) when (exception is System.IO.IOException or PlatformNotSupportedException)
            {
                StdIo.WriteErrorLine($"{appliance}: SIGINT and SIGTERM will end the appliance without a clean stop: {exception.Message}");
            }
            var run = RunAsync();
            run.GetAwaiter().UnsafeOnCompleted(() => loop.Post(Finish, run));
        }

        /// <summary>After the devices are disposed: SIGINT and SIGTERM get their default action back.</summary>
        public void ReleaseSignals()
        {
            _sigint?.Dispose();
            _sigterm?.Dispose();
        }

        private void Finish(object? state)
        {
            if (((Job)state!).Exception is { } error)
            {
                StdIo.WriteErrorLine($"{appliance}: the host failed: {error.Message}");
                ExitCode = 1;
            }
            if (_grace is not null)
            {
                // All stopped in time: the timer must not fire into a later run of the loop.
                loop.Cancel(_grace);
            }
            _finished = true;
        }

        private async Job RunAsync()
        {
            var token = shutdown.Token;
            foreach (var device in startables)
            {
                try
                {
                    await new OnLoop(loop, device.StartAsync(token) ?? Job.CompletedJob);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception exception)
                {
                    StdIo.WriteErrorLine($"{appliance}: a device failed to start: {exception.Message}");
                    ExitCode = 1;
                    return;
                }
            }

            if (seal is not null)
            {
                // Seal.IsSupported is a constant in a NativeAOT image: false unless it was built sealed.
                var failure = Seal.IsSupported ? Seal.Install(seal) : $"the image was built without sealing support (the {Seal.FeatureSwitch} switch is off)";
                if (failure is not null)
                {
                    StdIo.WriteErrorLine($"{appliance}: cannot seal the appliance, so it does not run: {failure}");
                    ExitCode = Seal.FailedExitCode;
                    return;
                }
                StdIo.WriteLine($"{appliance}: sealed: {Seal.CallCount(seal).ToString(System.Globalization.CultureInfo.InvariantCulture)} system calls allowed; any other ends the process (seccomp)");
            }

            _running = jobs.Length;
            if (_running == 0)
            {
                return;
            }
            foreach (var job in jobs)
            {
                // Each runs here up to its first await that waits; a synchronous throw is a failed job.
                Job running;
                try
                {
                    running = job.RunAsync(token) ?? Job.CompletedJob;
                }
                catch (Exception exception)
                {
                    running = Job.FromException(exception);
                }
                running.GetAwaiter().UnsafeOnCompleted(() => loop.Post(JobFinished, running));
            }
            await new OnLoop(loop, _stopped);
            if (_graceExpired)
            {
                StdIo.WriteErrorLine($"{appliance}: jobs did not stop within the shutdown grace period; exiting");
                ExitCode = ExitCode == 0 ? 1 : ExitCode;
            }
        }

        private void JobFinished(object? state)
        {
            if (_finished)
            {
                // A job that outlived the grace period, finishing where a test process's loop goes on running.
                return;
            }
            var error = ((Job)state!).Exception;
            // A job that ends with OperationCanceledException was cancelled (as a cancelled Task was), not failed.
            if (error is not null and not OperationCanceledException)
            {
                StdIo.WriteErrorLine($"{appliance}: a job failed: {error.Message}");
                ExitCode = 1;
                BeginStopping();
            }
            if (--_running == 0)
            {
                _stopped.TryComplete(null);
            }
        }

        /// <summary>Cancels the jobs and gives them <see cref="ShutdownGrace"/> to finish.</summary>
        private void BeginStopping()
        {
            if (_stopping || _finished)
            {
                return;
            }
            _stopping = true;
            try
            {
                shutdown.Cancel();
            }
            catch (AggregateException exception)
            {
                StdIo.WriteErrorLine($"{appliance}: a cancellation callback failed: {exception.InnerException?.Message}");
            }
            if (_running > 0 && !_stopped.IsCompleted)
            {
                _grace = loop.Schedule(ShutdownGrace, GraceExpired, null);
            }
        }

        private void GraceExpired(object? state)
        {
            _ = state;
            _graceExpired = true;
            _stopped.TryComplete(null);
        }
    }

    /// <summary>Awaits a job and goes on on the loop's thread, whichever thread completes the job.</summary>
    private readonly struct OnLoop(JobLoop loop, Job job) : ICriticalNotifyCompletion
    {
        public OnLoop GetAwaiter() => this;

        public bool IsCompleted => job.IsCompleted;

        public void GetResult() => job.GetAwaiter().GetResult();

        public void OnCompleted(Action continuation) => UnsafeOnCompleted(continuation);

        public void UnsafeOnCompleted(Action continuation)
        {
            var target = loop;
            job.GetAwaiter().UnsafeOnCompleted(() => target.Post(continuation));
        }
    }
}

/// <summary>
/// A device that is only <see cref="IAsyncDisposable"/>, for <see cref="UnikernelHost.Run(string, IStartable[], IJob[], IDisposable[], SystemCallUse[])"/>:
/// the generated entry point wraps such devices, so only their images link the wait on a ValueTask (which needs Task).
/// </summary>
public sealed class AsyncDisposal(IAsyncDisposable device) : IDisposable
{
    public void Dispose()
    {
        ArgumentNullException.ThrowIfNull(device);
        device.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
