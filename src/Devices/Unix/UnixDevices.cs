using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace Unikernel.Devices.Unix;

/// <summary>Standard output: the terminal on unix, the serial console when the appliance is PID 1 in a VM.</summary>
public sealed class UnixConsole : IConsole
{
    public void WriteLine(string line) => Runtime.StdIo.WriteLine(line);
}

public sealed class UnixMonotonicClock : IMonotonicClock
{
    private static readonly double s_nanosecondsPerTick = 1_000_000_000.0 / Stopwatch.Frequency;

    public long ElapsedNanoseconds => (long)(Stopwatch.GetTimestamp() * s_nanosecondsPerTick);
}

public sealed class UnixWallClock : IWallClock
{
    public DateTimeOffset UtcNow => DateTimeOffset.UtcNow;
}

public sealed class UnixTime : ITime
{
    public Task SleepAsync(TimeSpan duration, CancellationToken cancellationToken) => Task.Delay(duration, cancellationToken);
}

/// <summary>
/// The kernel's CSPRNG through getrandom(2). Not <c>RandomNumberGenerator</c>: on Linux that loads OpenSSL, which a VM
/// image does not carry (the appliance died with "No usable version of libssl was found" as PID 1).
/// </summary>
[SystemCalls("getrandom", Reason = "random bytes from the kernel")]
public sealed class UnixRandom : IRandom
{
    public unsafe void Fill(Span<byte> destination)
    {
        fixed (byte* start = destination)
        {
            int done = 0;
            while (done < destination.Length)
            {
                nint n = Interop.GetRandom(start + done, (nuint)(destination.Length - done), 0);
                if (n > 0)
                {
                    done += (int)n;
                    continue;
                }
                int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                if (n < 0 && errno == Interop.EINTR)
                {
                    continue;
                }
                throw new IOException($"getrandom failed: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
            }
        }
    }
}

/// <summary>
/// A directory read at start-up: the keys are the files below it (relative, '/'-separated). Values are loaded once, so
/// later changes on disk are not seen, as with a store compiled into the image.
/// </summary>
public sealed class DirectoryKeyValueStore : IKeyValueStore
{
    /// <summary>A store never loads more than this in all, so a wrong directory cannot exhaust memory.</summary>
    public const long MaxTotalBytes = 256L * 1024 * 1024;

    private readonly SortedDictionary<string, ReadOnlyMemory<byte>> _values = new(StringComparer.Ordinal);

    public DirectoryKeyValueStore(string root)
    {
        ArgumentNullException.ThrowIfNull(root);
        Root = root;
        if (root.Length == 0)
        {
            Keys = [];
            return;
        }
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"key-value store directory '{root}' does not exist");
        }
        long total = 0;
        foreach (var path in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            var info = new FileInfo(path);
            total += info.Length;
            if (total > MaxTotalBytes)
            {
                throw new IOException($"key-value store directory '{root}' holds more than {MaxTotalBytes} bytes");
            }
            var key = Path.GetRelativePath(root, path).Replace(Path.DirectorySeparatorChar, '/');
            _values[key] = File.ReadAllBytes(path);
        }
        Keys = [.. _values.Keys];
    }

    public string Root { get; }

    public IReadOnlyList<string> Keys { get; }

    public bool TryGet(string key, out ReadOnlyMemory<byte> value) => _values.TryGetValue(key, out value);
}

/// <summary>
/// A file of a crunch table: its key, its bytes and, from the generator, its <see cref="ContentDigest"/> computed at
/// build time (null when the table was made by hand: a consumer then hashes the bytes itself).
/// </summary>
public readonly struct CrunchEntry
{
    public CrunchEntry(string key, byte[] value, string? digest = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (digest is not null && !ContentDigest.IsWellFormed(digest))
        {
            throw new ArgumentException($"crunch entry '{key}': digest '{digest}' is not {ContentDigest.Length} lower-case hex digits", nameof(digest));
        }
        Key = key;
        Value = value;
        Digest = digest;
    }

    public string Key { get; }

    public byte[] Value { get; }

    public string? Digest { get; }
}

/// <summary>
/// Files compiled into the image as static data ("crunch"); the table is emitted by the generator, with each file's
/// digest computed at build time (<see cref="IKeyValueDigests"/>).
/// </summary>
public sealed class CrunchKeyValueStore : IKeyValueStore, IKeyValueDigests
{
    // The same instantiations as DirectoryKeyValueStore's and other string maps: NativeAOT compiles a generic type
    // over a new value type afresh (a SortedDictionary over a tuple cost the www image 190 KB).
    private readonly SortedDictionary<string, ReadOnlyMemory<byte>> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _digests = new(StringComparer.Ordinal);

    public CrunchKeyValueStore(IReadOnlyList<CrunchEntry> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        foreach (var file in files)
        {
            _values[file.Key] = file.Value;
            if (file.Digest is { } digest)
            {
                _digests[file.Key] = digest;
            }
            else
            {
                _digests.Remove(file.Key);
            }
        }
        Keys = [.. _values.Keys];
    }

    public IReadOnlyList<string> Keys { get; }

    public bool TryGet(string key, out ReadOnlyMemory<byte> value) => _values.TryGetValue(key, out value);

    public bool TryGetDigest(string key, out string digest)
    {
        if (_digests.TryGetValue(key, out var known))
        {
            digest = known;
            return true;
        }
        digest = "";
        return false;
    }
}
