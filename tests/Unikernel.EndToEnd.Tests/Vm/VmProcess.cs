using System.Diagnostics;
using System.Text;

namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>One line of a VM's console with the time since the VMM was started.</summary>
public readonly record struct ConsoleLine(TimeSpan At, string Text);

/// <summary>Runs a command (a VMM or a build step) with its output collected, bounded by a timeout.</summary>
public sealed class VmProcess
{
    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(30);

    public required int ExitCode { get; init; }
    public required bool TimedOut { get; init; }
    public required IReadOnlyList<ConsoleLine> Lines { get; init; }
    public required TimeSpan Elapsed { get; init; }

    public string Output => string.Join("\n", Lines.Select(l => l.Text));

    /// <summary>Time from start to the first line containing <paramref name="marker"/>, if any.</summary>
    public TimeSpan? FirstLine(string marker) =>
        Lines.Where(l => l.Text.Contains(marker, StringComparison.Ordinal)).Select(l => (TimeSpan?)l.At).FirstOrDefault();

    /// <summary>
    /// Runs <paramref name="fileName"/> and waits at most <paramref name="timeout"/>; on timeout the whole process tree
    /// is killed. <paramref name="onLine"/> sees each line as it arrives (for tests that talk to the VM while it runs).
    /// Cancelling <paramref name="stop"/> kills the process tree early (a VM that serves until killed); that run
    /// reports <see cref="TimedOut"/> too.
    /// </summary>
    public static VmProcess Run(string fileName, IEnumerable<string> arguments, TimeSpan timeout,
        string? workingDirectory = null, Action<ConsoleLine>? onLine = null, IDictionary<string, string?>? environment = null,
        CancellationToken stop = default)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                if (value is null)
                {
                    info.Environment.Remove(key);
                }
                else
                {
                    info.Environment[key] = value;
                }
            }
        }

        var lines = new List<ConsoleLine>();
        var gate = new object();
        var clock = Stopwatch.StartNew();
        using var process = new Process { StartInfo = info };
        // Set when both streams reached their end (the readers pass null then): what has been printed is all in.
        var drained = new CountdownEvent(2); // not disposed: a reader may still signal after a timed-out wait
        void Collect(string? data)
        {
            if (data is null)
            {
                drained.Signal();
                return;
            }
            var line = new ConsoleLine(clock.Elapsed, data.TrimEnd('\r'));
            lock (gate)
            {
                lines.Add(line);
            }
            onLine?.Invoke(line);
        }
        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        bool exited;
        if (stop.CanBeCanceled)
        {
            var deadline = clock.Elapsed + timeout;
            do
            {
                exited = process.WaitForExit(TimeSpan.FromMilliseconds(200));
            }
            while (!exited && !stop.IsCancellationRequested && clock.Elapsed < deadline);
        }
        else
        {
            exited = process.WaitForExit(timeout);
        }
        if (!exited)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It ended meanwhile.
            }
            process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        // Drain the asynchronous readers; bounded, since a leftover child holding the pipes would block forever.
        drained.Wait(s_drainTimeout);
        clock.Stop();
        lock (gate)
        {
            return new VmProcess
            {
                ExitCode = exited ? process.ExitCode : -1,
                TimedOut = !exited,
                Lines = lines.ToArray(),
                Elapsed = clock.Elapsed,
            };
        }
    }
}
