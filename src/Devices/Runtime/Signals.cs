using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Unikernel.Devices;

namespace Unikernel.Runtime;

/// <summary>
/// POSIX signals as work on the <see cref="JobLoop"/>: a handled signal posts its handler to the loop and is otherwise
/// swallowed (what <c>PosixSignalContext.Cancel = true</c> does). The host handles SIGINT and SIGTERM this way (a
/// graceful shutdown); an appliance uses it for others (the DNS appliance's SIGHUP: reload the zones).
/// </summary>
/// <remarks>
/// In a NativeAOT image this talks to System.Native's signal thread directly (the exports CoreLib's Unix
/// <see cref="PosixSignalRegistration"/> uses): that implementation hands some signals to the thread pool, which roots
/// the pool (with the code it brings, about 230 KB) in every image (issue 17). System.Native has one callback slot per
/// process, so an image must not use <see cref="PosixSignalRegistration"/> as well: whichever registers last takes
/// every signal, and the other's signals get their default action (SIGTERM would end the process with no clean stop).
/// Under the JIT (tests, <c>dotnet run</c>), where the test host or Console may hold that slot, this uses
/// PosixSignalRegistration instead; <see cref="RuntimeFeature.IsDynamicCodeSupported"/> is a constant in an image, so
/// an image links only the direct path.
/// </remarks>
public static unsafe class Signals
{
    private static readonly object s_gate = new();
    private static Registration[] s_registrations = [];
    private static bool s_initialized;

    /// <summary>
    /// From now on <paramref name="signal"/> runs <paramref name="handler"/> on the job loop's thread instead of its
    /// default action, until the result is disposed. Throws <see cref="IOException"/> when the signal cannot be handled.
    /// </summary>
    public static IDisposable Handle(PosixSignal signal, Action handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (RuntimeFeature.IsDynamicCodeSupported)
        {
            return PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                JobLoop.Default.Post(handler);
            });
        }
        lock (s_gate)
        {
            if (!s_initialized)
            {
                if (Interop.InitializeTerminalAndSignalHandling() == 0)
                {
                    throw Error("cannot start the runtime's signal handling");
                }
                Interop.SetPosixSignalHandler(&OnSignal);
                s_initialized = true;
            }
            var number = Interop.GetPlatformSignalNumber((int)signal);
            if (number == 0)
            {
                throw new PlatformNotSupportedException($"signal {((int)signal).ToString(System.Globalization.CultureInfo.InvariantCulture)} does not exist here");
            }
            if (!IsHandledLocked(number) && Interop.EnablePosixSignalHandling(number) == 0)
            {
                throw Error($"cannot handle signal {number.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
            }
            var registration = new Registration(number, handler);
            var grown = new Registration[s_registrations.Length + 1];
            Array.Copy(s_registrations, grown, s_registrations.Length);
            grown[^1] = registration;
            // Replaced, never changed in place: the signal thread reads the array without the lock.
            Volatile.Write(ref s_registrations, grown);
            return registration;
        }
    }

    private static bool IsHandledLocked(int number)
    {
        foreach (var registration in s_registrations)
        {
            if (registration.Number == number)
            {
                return true;
            }
        }
        return false;
    }

    private static IOException Error(string what)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{what}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno.ToString(System.Globalization.CultureInfo.InvariantCulture)})");
    }

    /// <summary>Called on System.Native's signal thread: posts the handlers and says "handled" (1), or 0 (its default action) when none.</summary>
    [UnmanagedCallersOnly]
    private static int OnSignal(int signal, int posixSignal)
    {
        _ = posixSignal;
        var handled = 0;
        foreach (var registration in Volatile.Read(ref s_registrations))
        {
            if (registration.Number == signal)
            {
                JobLoop.Default.Post(registration.Handler);
                handled = 1;
            }
        }
        return handled;
    }

    private sealed class Registration(int number, Action handler) : IDisposable
    {
        public int Number { get; } = number;

        public Action Handler { get; } = handler;

        public void Dispose()
        {
            lock (s_gate)
            {
                var at = Array.IndexOf(s_registrations, this);
                if (at < 0)
                {
                    return;
                }
                var shrunk = new Registration[s_registrations.Length - 1];
                Array.Copy(s_registrations, shrunk, at);
                Array.Copy(s_registrations, at + 1, shrunk, at, shrunk.Length - at);
                Volatile.Write(ref s_registrations, shrunk);
                if (!IsHandledLocked(Number))
                {
                    // The default action again (System.Native restores the handler it found).
                    Interop.DisablePosixSignalHandling(Number);
                }
            }
        }
    }
}
