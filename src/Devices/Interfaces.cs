using System;
using System.Collections.Generic;
using System.Threading;

namespace Unikernel.Devices;

/// <summary>
/// A unit of work the appliance runs: a service built over devices (a functor application). Write it as
/// <c>public async Job RunAsync(CancellationToken cancellationToken)</c>; it may await jobs, Tasks and ValueTasks.
/// </summary>
public interface IJob
{
    /// <summary>
    /// Runs until the work is done or <paramref name="cancellationToken"/> asks for shutdown. Started on the job loop's
    /// thread, one job after another: it must not block before its first await (see <see cref="Runtime.UnikernelHost"/>).
    /// </summary>
    Job RunAsync(CancellationToken cancellationToken);
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
    /// <summary>
    /// Completes after <paramref name="duration"/>; a cancelled sleep throws <see cref="OperationCanceledException"/>.
    /// Task-based code that combines it (<c>Task.WhenAny</c>) uses <see cref="Job.AsTask"/>.
    /// </summary>
    Job SleepAsync(TimeSpan duration, CancellationToken cancellationToken);
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
/// A key-value store that knows facts about its values without reading them: crunch's are computed by the generator at
/// build time (each value's <see cref="ContentDigest"/>, and the build's Last-Modified when the build sets one), so a
/// consumer (the HTTP static site's ETags and Last-Modified) hashes nothing at start-up. Optional: a consumer checks
/// for it with <c>is</c> and hashes the value itself, or picks a time, when the store does not know.
/// </summary>
public interface IKeyValueMetadata
{
    /// <summary>The <see cref="ContentDigest"/> of the value of <paramref name="key"/>; false when not known ahead of time.</summary>
    bool TryGetDigest(string key, out string digest);

    /// <summary>When the value of <paramref name="key"/> last changed, as the build knows it; false when not known.</summary>
    bool TryGetLastModified(string key, out DateTimeOffset lastModified);
}

/// <summary>
/// A value's content hash as 16 lower-case hex digits: FNV-1a 64 over the bytes, xor the length. Not cryptographic: it
/// names a version of a value (an ETag), it does not authenticate it. The generator has its own copy for crunch
/// (src/Generators/CrunchFiles.cs); a test holds the two equal.
/// </summary>
public static class ContentDigest
{
    public const int Length = 16;

    public static string Compute(ReadOnlySpan<byte> data)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in data)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        return (hash ^ (ulong)data.Length).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Whether <paramref name="digest"/> has the form <see cref="Compute"/> gives (so it is safe in a header).</summary>
    public static bool IsWellFormed(string? digest)
    {
        if (digest is null || digest.Length != Length)
        {
            return false;
        }
        foreach (var c in digest)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>
/// A device that must do work before jobs run (a DHCP lease, a gratuitous ARP). The generated entry point starts
/// devices in dependency order, like MirageOS's <c>connect</c>, and disposes them in reverse order at shutdown.
/// </summary>
public interface IStartable
{
    /// <summary>Runs on the job loop's thread (up to its first await), before any job starts.</summary>
    Job StartAsync(CancellationToken cancellationToken);
}
