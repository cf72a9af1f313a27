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
/// A file of a crunch table: its key, its bytes and, from the generator, what the build knew of it: its
/// <see cref="ContentDigest"/> and the build's Last-Modified (null when not known: a table made by hand, or a build
/// without UnikernelCrunchLastModified; a consumer then hashes the bytes or picks a time itself).
/// </summary>
public sealed class CrunchEntry
{
    public CrunchEntry(string key, byte[] value, string? digest = null, DateTimeOffset? lastModified = null)
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
        LastModified = lastModified;
    }

    public string Key { get; }

    public byte[] Value { get; }

    public string? Digest { get; }

    public DateTimeOffset? LastModified { get; }
}

/// <summary>
/// Files compiled into the image as static data ("crunch"); the table is emitted by the generator, with what the build
/// knew of each file (<see cref="IKeyValueMetadata"/>).
/// </summary>
public sealed class CrunchKeyValueStore : IKeyValueStore, IKeyValueMetadata
{
    // A map to a class: NativeAOT shares its code with every other string-to-reference map, where a value type would
    // get its own copy (a SortedDictionary over a tuple cost the www image 190 KB).
    private readonly Dictionary<string, CrunchEntry> _entries = new(StringComparer.Ordinal);

    public CrunchKeyValueStore(IReadOnlyList<CrunchEntry> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        foreach (var file in files)
        {
            ArgumentNullException.ThrowIfNull(file);
            _entries[file.Key] = file;
        }
        var keys = new List<string>(_entries.Keys);
        keys.Sort(StringComparer.Ordinal);
        Keys = keys;
    }

    public IReadOnlyList<string> Keys { get; }

    public bool TryGet(string key, out ReadOnlyMemory<byte> value)
    {
        var found = _entries.TryGetValue(key, out var entry);
        value = found ? entry!.Value : default;
        return found;
    }

    public bool TryGetDigest(string key, out string digest)
    {
        digest = _entries.TryGetValue(key, out var entry) && entry.Digest is { } known ? known : "";
        return digest.Length > 0;
    }

    public bool TryGetLastModified(string key, out DateTimeOffset lastModified)
    {
        var found = _entries.TryGetValue(key, out var entry) && entry.LastModified is not null;
        lastModified = found ? entry!.LastModified!.Value : default;
        return found;
    }
}
