using System;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Runtime;

/// <summary>
/// Runs a statically wired appliance: starts devices in dependency order, runs the jobs, turns SIGINT/SIGTERM into
/// cancellation, and disposes devices in reverse order. Called by generated entry points.
/// </summary>
public static class UnikernelHost
{
    /// <summary>How long jobs get to finish after a shutdown signal before the appliance exits anyway.</summary>
    public static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(5);

    public static int Run(string appliance, IStartable[] startables, IJob[] jobs, object[] disposablesInReverseOrder) =>
        Run(appliance, startables, jobs, disposablesInReverseOrder, seal: null);

    /// <summary>
    /// Like <see cref="Run(string, IStartable[], IJob[], object[])"/>; with <paramref name="seal"/> (a sealed image's
    /// allow-list) the process is sealed (<see cref="Seal.Install"/>) once every device has started and before any job
    /// runs, or exits with <see cref="Seal.FailedExitCode"/> when the kernel refuses.
    /// </summary>
    public static int Run(string appliance, IStartable[] startables, IJob[] jobs, object[] disposablesInReverseOrder, SystemCallUse[]? seal)
    {
        ArgumentNullException.ThrowIfNull(startables);
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(disposablesInReverseOrder);
        using var shutdown = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            shutdown.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        try
        {
            return RunAsync(appliance, startables, jobs, shutdown, seal).GetAwaiter().GetResult();
        }
        finally
        {
            DisposeAll(appliance, disposablesInReverseOrder);
        }
    }

    private static async Task<int> RunAsync(string appliance, IStartable[] startables, IJob[] jobs, CancellationTokenSource shutdown, SystemCallUse[]? seal)
    {
        var token = shutdown.Token;
        foreach (var device in startables)
        {
            try
            {
                await device.StartAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return 0;
            }
            catch (Exception exception)
            {
                StdIo.WriteErrorLine($"{appliance}: a device failed to start: {exception.Message}");
                return 1;
            }
        }

        if (seal is not null)
        {
            // Seal.IsSupported is a constant in a NativeAOT image: false unless it was built sealed.
            var failure = Seal.IsSupported ? Seal.Install(seal) : $"the image was built without sealing support (the {Seal.FeatureSwitch} switch is off)";
            if (failure is not null)
            {
                StdIo.WriteErrorLine($"{appliance}: cannot seal the appliance, so it does not run: {failure}");
                return Seal.FailedExitCode;
            }
            StdIo.WriteLine($"{appliance}: sealed: {Seal.CallCount(seal).ToString(System.Globalization.CultureInfo.InvariantCulture)} system calls allowed; any other ends the process (seccomp)");
        }

        var running = new Task[jobs.Length];
        for (var i = 0; i < jobs.Length; i++)
        {
            var job = jobs[i];
            running[i] = jobs.Length == 1 ? StartInline(job, token) : Task.Run(() => job.RunAsync(token), CancellationToken.None);
        }

        var exitCode = 0;
        var remaining = new System.Collections.Generic.List<Task>(running);
        while (remaining.Count > 0)
        {
            var finished = await Task.WhenAny(remaining).ConfigureAwait(false);
            remaining.Remove(finished);
            if (finished.IsFaulted)
            {
                var error = finished.Exception!.InnerException ?? finished.Exception;
                StdIo.WriteErrorLine($"{appliance}: a job failed: {error.Message}");
                exitCode = 1;
                shutdown.Cancel();
            }
            if (shutdown.IsCancellationRequested && remaining.Count > 0)
            {
                // Give the other jobs a bounded time to stop.
                var all = Task.WhenAll(remaining);
                if (await Task.WhenAny(all, Task.Delay(ShutdownGrace, CancellationToken.None)).ConfigureAwait(false) != all)
                {
                    StdIo.WriteErrorLine($"{appliance}: jobs did not stop within the shutdown grace period; exiting");
                    return exitCode == 0 ? 1 : exitCode;
                }
                foreach (var task in remaining)
                {
                    if (task.IsFaulted)
                    {
                        var error = task.Exception!.InnerException ?? task.Exception;
                        StdIo.WriteErrorLine($"{appliance}: a job failed: {error.Message}");
                        exitCode = 1;
                    }
                }
                break;
            }
        }
        return exitCode;
    }

    /// <summary>
    /// Starts the only job on this thread: it runs, as any async method does, up to its first await here, so an
    /// appliance reaches its first await (a DNS server's bound sockets and started loops) without first waiting for
    /// the thread pool to start a worker (start-up, issue 17). Several jobs go to the thread pool instead, so that
    /// one that blocks before its first await cannot hold up the others. A synchronous throw becomes a faulted task.
    /// </summary>
    private static Task StartInline(IJob job, CancellationToken token)
    {
        try
        {
            return job.RunAsync(token) ?? Task.CompletedTask;
        }
        catch (Exception exception)
        {
            return Task.FromException(exception);
        }
    }

    private static void DisposeAll(string appliance, object[] disposables)
    {
        foreach (var device in disposables)
        {
            try
            {
                if (device is IAsyncDisposable asyncDisposable)
                {
                    asyncDisposable.DisposeAsync().AsTask().GetAwaiter().GetResult();
                }
                else if (device is IDisposable disposable)
                {
                    disposable.Dispose();
                }
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
}
