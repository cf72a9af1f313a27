using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Unikernel.Devices;

/// <summary>A unit of work the appliance runs: a service built over devices (a functor application).</summary>
public interface IJob
{
    /// <summary>Runs until the work is done or <paramref name="cancellationToken"/> asks for shutdown.</summary>
    Task RunAsync(CancellationToken cancellationToken);
}

/// <summary>Text output of the appliance: stdout on unix, the serial console in a VM.</summary>
public interface IConsole
{
    void WriteLine(string line);
}

/// <summary>A clock that only moves forward, for measuring intervals.</summary>
public interface IMonotonicClock
{
    /// <summary>Nanoseconds since an arbitrary fixed origin.</summary>
    long ElapsedNanoseconds { get; }
}

/// <summary>Calendar time.</summary>
public interface IWallClock
{
    DateTimeOffset UtcNow { get; }
}

/// <summary>Timers.</summary>
public interface ITime
{
    /// <summary>Completes after <paramref name="duration"/>; cancelled tasks throw <see cref="OperationCanceledException"/>.</summary>
    Task SleepAsync(TimeSpan duration, CancellationToken cancellationToken);
}

/// <summary>Random bytes (cryptographically strong on real targets, seeded on the test target).</summary>
public interface IRandom
{
    void Fill(Span<byte> destination);
}

/// <summary>A read-only key-value store: a directory at run time, or files compiled into the image.</summary>
public interface IKeyValueStore
{
    /// <summary>Every key, in ordinal order. Keys are '/'-separated relative paths.</summary>
    IReadOnlyList<string> Keys { get; }

    /// <summary>Reads a value; false when the key does not exist.</summary>
    bool TryGet(string key, out ReadOnlyMemory<byte> value);
}

/// <summary>
/// A device that must do work before jobs run (a DHCP lease, a gratuitous ARP). The generated entry point starts
/// devices in dependency order, like MirageOS's <c>connect</c>, and disposes them in reverse order at shutdown.
/// </summary>
public interface IStartable
{
    Task StartAsync(CancellationToken cancellationToken);
}
