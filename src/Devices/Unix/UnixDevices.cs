using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.IO.Enumeration;
using System.Threading;

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

/// <summary>Timers of the <see cref="Runtime.JobLoop"/> (poll(2) on the monotonic clock): no thread pool, no Task.</summary>
public sealed class UnixTime : ITime
{
    public Job SleepAsync(TimeSpan duration, CancellationToken cancellationToken) => Runtime.JobLoop.Default.Delay(duration, cancellationToken);
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
/// <remarks>
/// Kept small for NativeAOT (about 25 KB less than Directory.EnumerateFiles with a pattern, FileInfo,
/// Path.GetRelativePath, LINQ and a SortedDictionary): a <see cref="FileSystemEnumerable{TResult}"/> without a name
/// pattern, lengths from the directory entries, and the files kept as a <see cref="CrunchKeyValueStore"/> (one array
/// in key order), the same lookup as a store compiled into the image.
/// </remarks>
public sealed class DirectoryKeyValueStore : IKeyValueStore
{
    /// <summary>A store never loads more than this in all, so a wrong directory cannot exhaust memory.</summary>
    public const long MaxTotalBytes = 256L * 1024 * 1024;

    private readonly CrunchKeyValueStore _files;

    public DirectoryKeyValueStore(string root)
    {
        ArgumentNullException.ThrowIfNull(root);
        Root = root;
        if (root.Length == 0)
        {
            _files = new CrunchKeyValueStore([]);
            return;
        }
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"key-value store directory '{root}' does not exist");
        }
        var found = new FileSystemEnumerable<Found>(
            root,
            (ref FileSystemEntry entry) => new Found(Key(ref entry), entry.ToFullPath(), entry.Length),
            new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false })
        {
            ShouldIncludePredicate = (ref FileSystemEntry entry) => !entry.IsDirectory,
        };
        var files = new List<CrunchEntry>();
        long total = 0;
        foreach (var file in found)
        {
            total += file.Length;
            if (total > MaxTotalBytes)
            {
                throw new IOException($"key-value store directory '{root}' holds more than {MaxTotalBytes} bytes");
            }
            files.Add(new CrunchEntry(file.Key, Runtime.TextFile.ReadAllBytes(file.Path)));
        }
        _files = new CrunchKeyValueStore(files);
    }

    // A class, not a value tuple: a generic instantiation over a struct of references needs NativeAOT's type loader at
    // run time (~110 KB; bench/README.md), a class shares the enumerator's code compiled for references.
    private sealed class Found(string key, string path, long length)
    {
        public string Key { get; } = key;

        public string Path { get; } = path;

        public long Length { get; } = length;
    }

    /// <summary>The entry's path below the root, '/'-separated (what Path.GetRelativePath gave, without its code).</summary>
    private static string Key(ref FileSystemEntry entry)
    {
        var below = entry.Directory[entry.RootDirectory.Length..].TrimStart(Path.DirectorySeparatorChar);
        var key = below.IsEmpty ? entry.FileName.ToString() : string.Concat(below, "/", entry.FileName);
        return Path.DirectorySeparatorChar == '/' ? key : key.Replace(Path.DirectorySeparatorChar, '/');
    }

    public string Root { get; }

    public IReadOnlyList<string> Keys => _files.Keys;

    public bool TryGet(string key, out ReadOnlyMemory<byte> value) => _files.TryGet(key, out value);
}

/// <summary>
/// A file of a crunch table: its key, its bytes and, from the generator, what the build knew of it: its
/// <see cref="ContentDigest"/> and the build's Last-Modified (null when not known: a table made by hand, or a build
/// without UnikernelCrunchLastModified; a consumer then hashes the bytes or picks a time itself), and the HTTP response
/// heads the generator prepared for it (<see cref="IKeyValueHttpHeads"/>; null: the static site builds them).
/// </summary>
public sealed class CrunchEntry
{
    public CrunchEntry(string key, byte[] value, string? digest = null, DateTimeOffset? lastModified = null, byte[]? heads = null)
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
        Heads = heads;
    }

    public string Key { get; }

    public byte[] Value { get; }

    public string? Digest { get; }

    public DateTimeOffset? LastModified { get; }

    public byte[]? Heads { get; }
}

/// <summary>
/// Files compiled into the image as static data ("crunch"); the table is emitted by the generator, with what the build
/// knew of each file (<see cref="IKeyValueMetadata"/>) and the response heads it prepared (<see cref="IKeyValueHttpHeads"/>).
/// </summary>
public sealed class CrunchKeyValueStore : IKeyValueStore, IKeyValueMetadata, IKeyValueHttpHeads
{
    // One array in key order, searched by halves: no generic collection of its own, which NativeAOT would compile
    // (type descriptors, a sort) into every image that crunches (a dictionary and List.Sort here cost the www image
    // about 20 KB; start-up is the only time values are looked up).
    private readonly CrunchEntry[] _entries;

    public CrunchKeyValueStore(IReadOnlyList<CrunchEntry> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var entries = new CrunchEntry[files.Count];
        var count = 0;
        foreach (var file in files)
        {
            ArgumentNullException.ThrowIfNull(file);
            // The generator's table is in key order, so each entry goes at the end; a later entry for a key replaces
            // an earlier one.
            var at = Search(entries, count, file.Key);
            if (at >= 0)
            {
                entries[at] = file;
                continue;
            }
            at = ~at;
            Array.Copy(entries, at, entries, at + 1, count - at);
            entries[at] = file;
            count++;
        }
        // Not entries[..count]: GetSubArray makes the array's type at run time, which pulls NativeAOT's type loader in.
        _entries = new CrunchEntry[count];
        Array.Copy(entries, _entries, count);
        var keys = new string[count];
        for (var i = 0; i < count; i++)
        {
            keys[i] = _entries[i].Key;
        }
        Keys = keys;
    }

    public IReadOnlyList<string> Keys { get; }

    public bool TryGet(string key, out ReadOnlyMemory<byte> value)
    {
        var entry = Find(key);
        value = entry is null ? default : entry.Value;
        return entry is not null;
    }

    public bool TryGetDigest(string key, out string digest)
    {
        digest = Find(key)?.Digest ?? "";
        return digest.Length > 0;
    }

    public bool TryGetLastModified(string key, out DateTimeOffset lastModified)
    {
        var known = Find(key)?.LastModified;
        lastModified = known ?? default;
        return known is not null;
    }

    public bool TryGetHttpHeads(string key, out ReadOnlyMemory<byte> heads)
    {
        var prepared = Find(key)?.Heads;
        heads = prepared;
        return prepared is not null;
    }

    private CrunchEntry? Find(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var at = Search(_entries, _entries.Length, key);
        return at >= 0 ? _entries[at] : null;
    }

    /// <summary>The index of <paramref name="key"/> among the first <paramref name="count"/> entries, else the complement of where it would go.</summary>
    private static int Search(CrunchEntry[] entries, int count, string key)
    {
        var low = 0;
        var high = count - 1;
        while (low <= high)
        {
            var middle = low + ((high - low) >> 1);
            var order = string.CompareOrdinal(entries[middle].Key, key);
            if (order == 0)
            {
                return middle;
            }
            if (order < 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }
        return ~low;
    }
}
