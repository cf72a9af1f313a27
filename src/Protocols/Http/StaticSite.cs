using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Unicode;
using Unikernel.Devices;

namespace Unikernel.Protocols.Http;

/// <summary>One representation of a file (identity, gzip or br) with its response heads prepared.</summary>
public sealed class StaticRepresentation
{
    private string? _etag;

    internal StaticRepresentation(string? encoding, ReadOnlyMemory<byte> body)
    {
        Encoding = encoding;
        Body = body;
    }

    /// <summary>The content coding (null for identity).</summary>
    public string? Encoding { get; }

    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>The quoted entity tag (made from <see cref="ETagBytes"/> when asked: serving compares bytes).</summary>
    public string ETag => _etag ??= System.Text.Encoding.ASCII.GetString(ETagBytes.Span);

    internal ReadOnlyMemory<byte> ETagBytes { get; set; }

    /// <summary>"HTTP/1.1 200 OK" and every field but Last-Modified (<see cref="StaticFile.LastModifiedField"/>), Date and Connection.</summary>
    internal ReadOnlyMemory<byte> OkHead { get; set; }

    /// <summary>"HTTP/1.1 304 Not Modified" and its validator fields but Last-Modified.</summary>
    internal ReadOnlyMemory<byte> NotModifiedHead { get; set; }
}

/// <summary>A file of the site: its type, validators and representations.</summary>
public sealed class StaticFile
{
    internal StaticFile(string path, string contentType, StaticRepresentation identity)
    {
        Path = path;
        ContentType = contentType;
        Identity = identity;
    }

    public string Path { get; }

    public string ContentType { get; }

    public StaticRepresentation Identity { get; }

    public StaticRepresentation? Gzip { get; internal set; }

    public DateTimeOffset LastModifiedUtc { get; internal set; }

    public StaticRepresentation? Brotli { get; internal set; }

    /// <summary>Where a directory without its slash redirects (with the slash), else null.</summary>
    public string? RedirectTo { get; internal set; }

    /// <summary>Whether the response heads came from the build (<see cref="IKeyValueHttpHeads"/>) rather than being built at start-up.</summary>
    public bool HeadsFromBuild { get; internal set; }

    internal ReadOnlyMemory<byte> ContentTypeField { get; set; }

    /// <summary>ETag (identity), Accept-Ranges and Vary fields, for 206, 412 and 416 heads (Last-Modified follows them).</summary>
    internal ReadOnlyMemory<byte> RangeFields { get; set; }

    internal ReadOnlyMemory<byte> Boundary { get; set; }

    /// <summary>"Last-Modified: DATE\r\n": every head but the 416's and 412's ends its fields with it.</summary>
    internal ReadOnlyMemory<byte> LastModifiedField { get; set; }
}

public enum StaticLookup
{
    Found,
    NotFound,
    BadRequest,
    Redirect,
}

/// <summary>
/// A static site over a key-value store (files compiled into the image, or a directory read at start-up). Every
/// response head is prepared before the first request, so serving a file copies prepared bytes: a crunched store's
/// heads were made at build time (<see cref="IKeyValueHttpHeads"/>, by the generator, from <see cref="StaticHeads"/>,
/// which it compiles in too), other stores' are made here once, from the same <see cref="StaticHeads"/>. ETags name the
/// identity bytes by their <see cref="ContentDigest"/>: a crunched store's were computed at build time
/// (<see cref="IKeyValueMetadata"/>), other stores' files are hashed here. A file <c>KEY.gz</c> or <c>KEY.br</c>
/// next to <c>KEY</c> is its gzip or Brotli representation (crunch makes them at build time with
/// <c>UnikernelCrunchCompress</c>; in a directory they are files like nginx's gzip_static). <c>index.html</c> answers
/// for its directory; paths are percent-decoded and normalised and can never leave the root.
/// </summary>
public sealed class StaticSite
{
    private readonly Dictionary<string, StaticFile> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StaticFile>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public StaticSite(IKeyValueStore store, DateTimeOffset lastModified)
    {
        ArgumentNullException.ThrowIfNull(store);
        LastModified = WholeSeconds(lastModified);
        _lookup = _files.GetAlternateLookup<ReadOnlySpan<char>>();
        var keys = new HashSet<string>(store.Keys, StringComparer.Ordinal);
        Func<string, bool> exists = keys.Contains;
        var metadata = store as IKeyValueMetadata;
        var prepared = store as IKeyValueHttpHeads;
        // Shared by every file whose store knows no time of its own.
        ReadOnlyMemory<byte> lastModifiedField = LastModifiedField(LastModified);
        var count = 0;
        var hashed = 0;
        var fromBuild = 0;
        long bytes = 0;
        foreach (var key in store.Keys)
        {
            if (StaticHeads.VariantOf(key, exists, out _) is not null || !store.TryGet(key, out var body))
            {
                continue;
            }
            // Crunch's digests were computed at build time; a directory's files are hashed here, once.
            string hash;
            if (metadata is not null && metadata.TryGetDigest(key, out var digest) && ContentDigest.IsWellFormed(digest))
            {
                hash = digest;
            }
            else
            {
                hash = ContentDigest.Compute(body.Span);
                hashed++;
            }
            var path = "/" + key;
            var file = new StaticFile(path, MediaTypes.ForPath(key), new StaticRepresentation(null, body));
            if (store.TryGet(key + ".gz", out var gzip))
            {
                file.Gzip = new StaticRepresentation("gzip", gzip);
            }
            if (store.TryGet(key + ".br", out var brotli))
            {
                file.Brotli = new StaticRepresentation("br", brotli);
            }
            // The build's time when it set one (UnikernelCrunchLastModified), else the caller's.
            var time = default(DateTimeOffset);
            var built = metadata is not null && metadata.TryGetLastModified(key, out time);
            file.LastModifiedUtc = built ? WholeSeconds(time) : LastModified;
            if (prepared is not null && UsePrepared(file, key, prepared, built))
            {
                fromBuild++;
            }
            else
            {
                Build(file, hash, built ? file.LastModifiedUtc : null);
            }
            if (file.LastModifiedField.IsEmpty)
            {
                // Heads without a Last-Modified piece: the site's time, or the build's if the store knows it after all.
                file.LastModifiedField = built ? LastModifiedField(file.LastModifiedUtc) : lastModifiedField;
            }
            _files[path] = file;
            count++;
            bytes += body.Length;
            const string index = "index.html";
            if (key == index || key.EndsWith("/" + index, StringComparison.Ordinal))
            {
                var directory = path[..^index.Length];
                _files[directory] = file;
                if (directory.Length > 1)
                {
                    _files.TryAdd(directory[..^1], new StaticFile(directory[..^1], "", file.Identity) { RedirectTo = directory });
                }
            }
        }
        FileCount = count;
        HashedFiles = hashed;
        HeadsFromBuild = fromBuild;
        TotalBytes = bytes;
    }

    public int FileCount { get; }

    public long TotalBytes { get; }

    /// <summary>Files whose digest (their ETag) was computed at start-up: none for a crunched store, whose build did it.</summary>
    public int HashedFiles { get; }

    /// <summary>Files whose response heads came from the build (a crunched store); the others' were built at start-up.</summary>
    public int HeadsFromBuild { get; }

    /// <summary>The Last-Modified of files whose store knows no time of its own (the constructor's argument, in whole seconds).</summary>
    public DateTimeOffset LastModified { get; }

    /// <summary>HTTP dates have whole seconds; comparisons with If-Modified-Since need the same.</summary>
    private static DateTimeOffset WholeSeconds(DateTimeOffset time) =>
        new(time.UtcDateTime.Ticks / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero);

    /// <summary>
    /// The heads of a store that does not prepare them, made with the generator's code (<see cref="StaticHeads"/>),
    /// so the bytes are the same either way; <paramref name="built"/> is the build's time, if any (else the site's
    /// Last-Modified field is used).
    /// </summary>
    private static void Build(StaticFile file, string hash, DateTimeOffset? built)
    {
        var vary = file.Gzip is not null || file.Brotli is not null;
        var date = built is { } time ? Date(time) : "";
        var identity = StaticHeads.Representation(file.ContentType, file.Identity.Body.Length, hash, null, vary) + StaticHeads.File(file.ContentType, hash, vary, date);
        Apply(file, file.Identity, Encoding.ASCII.GetBytes(identity), StaticHeads.FilePieces);
        foreach (var representation in new[] { file.Gzip, file.Brotli })
        {
            if (representation is not null)
            {
                Apply(file, representation, Encoding.ASCII.GetBytes(StaticHeads.Representation(file.ContentType, representation.Body.Length, hash, representation.Encoding, vary)), StaticHeads.RepresentationPieces);
            }
        }
    }

    private static string Date(DateTimeOffset time)
    {
        var text = new byte[HttpDate.Length];
        HttpDate.Format(time, text);
        return Encoding.ASCII.GetString(text);
    }

    private static byte[] LastModifiedField(DateTimeOffset time) => Encoding.ASCII.GetBytes(StaticHeads.LastModified(Date(time)));

    /// <summary>
    /// Takes the build's heads for every representation of <paramref name="file"/>, or none (false: the caller builds
    /// them): each must have the layout of <see cref="StaticHeads"/> and frame the body it goes with.
    /// </summary>
    private static bool UsePrepared(StaticFile file, string key, IKeyValueHttpHeads store, bool built)
    {
        if (!store.TryGetHttpHeads(key, out var identity) || !Fits(identity, file.Identity, StaticHeads.FilePieces))
        {
            return false;
        }
        ReadOnlyMemory<byte> gzip = default, brotli = default;
        if ((file.Gzip is not null && (!store.TryGetHttpHeads(key + ".gz", out gzip) || !Fits(gzip, file.Gzip, StaticHeads.RepresentationPieces)))
            || (file.Brotli is not null && (!store.TryGetHttpHeads(key + ".br", out brotli) || !Fits(brotli, file.Brotli, StaticHeads.RepresentationPieces))))
        {
            return false;
        }
        Apply(file, file.Identity, identity, StaticHeads.FilePieces);
        if (file.Gzip is not null)
        {
            Apply(file, file.Gzip, gzip, StaticHeads.RepresentationPieces);
        }
        if (file.Brotli is not null)
        {
            Apply(file, file.Brotli, brotli, StaticHeads.RepresentationPieces);
        }
        // The build's Last-Modified goes with the build's time only (a store without a time gets the site's).
        if (!built)
        {
            file.LastModifiedField = default;
        }
        file.HeadsFromBuild = true;
        return true;
    }

    /// <summary>Whether <paramref name="heads"/> has <paramref name="pieces"/> pieces and its 200 head frames <paramref name="representation"/>'s body.</summary>
    private static bool Fits(ReadOnlyMemory<byte> heads, StaticRepresentation representation, int pieces)
    {
        var rest = heads.Span;
        Span<Range> found = stackalloc Range[StaticHeads.FilePieces + 1];
        if (Pieces(rest, found) != pieces)
        {
            return false;
        }
        var ok = rest[found[StaticHeads.OkHead]];
        var length = ok.IndexOf("\r\nContent-Length: "u8);
        if (!ok.StartsWith("HTTP/1.1 200 OK\r\n"u8) || !ok.EndsWith("\r\n"u8) || length < 0
            || !rest[found[StaticHeads.NotModifiedHead]].StartsWith("HTTP/1.1 304 Not Modified\r\n"u8))
        {
            return false;
        }
        // Content-Length: the body's length in decimal, and nothing else.
        var digits = ok[(length + "\r\nContent-Length: "u8.Length)..];
        long value = 0;
        var i = 0;
        for (; i < digits.Length && i < 18 && char.IsAsciiDigit((char)digits[i]); i++)
        {
            value = value * 10 + (digits[i] - '0');
        }
        return i > 0 && value == representation.Body.Length && digits[i..].StartsWith("\r\n"u8)
            && rest[found[StaticHeads.ETag]] is [(byte)'"', .., (byte)'"'];
    }

    /// <summary>Where the NUL-separated pieces of <paramref name="heads"/> are; more than <paramref name="ranges"/> holds counts as one more.</summary>
    private static int Pieces(ReadOnlySpan<byte> heads, Span<Range> ranges)
    {
        var count = 0;
        var start = 0;
        while (true)
        {
            if (count == ranges.Length)
            {
                return count + 1;
            }
            var end = heads[start..].IndexOf((byte)StaticHeads.Separator);
            ranges[count++] = new Range(start, end < 0 ? heads.Length : start + end);
            if (end < 0)
            {
                return count;
            }
            start += end + 1;
        }
    }

    /// <summary>Points the representation (and, for the identity, the file) at the pieces of <paramref name="heads"/>: slices, no copies.</summary>
    private static void Apply(StaticFile file, StaticRepresentation representation, ReadOnlyMemory<byte> heads, int pieces)
    {
        Span<Range> found = stackalloc Range[StaticHeads.FilePieces + 1];
        Pieces(heads.Span, found);
        representation.OkHead = heads[found[StaticHeads.OkHead]];
        representation.NotModifiedHead = heads[found[StaticHeads.NotModifiedHead]];
        representation.ETagBytes = heads[found[StaticHeads.ETag]];
        if (pieces == StaticHeads.FilePieces)
        {
            file.ContentTypeField = heads[found[StaticHeads.ContentTypeField]];
            file.RangeFields = heads[found[StaticHeads.RangeFields]];
            file.Boundary = heads[found[StaticHeads.Boundary]];
            file.LastModifiedField = heads[found[StaticHeads.LastModifiedField]];
        }
    }

    /// <summary>
    /// Finds the file a request target names. <paramref name="bytes"/> and <paramref name="chars"/> are scratch space
    /// at least as long as the target.
    /// </summary>
    public StaticLookup Resolve(ReadOnlySpan<byte> target, Span<byte> bytes, Span<char> chars, out StaticFile? file)
    {
        file = null;
        if (!NormalisePath(target, bytes, chars, out var length))
        {
            return StaticLookup.BadRequest;
        }
        if (!_lookup.TryGetValue(chars[..length], out file))
        {
            return StaticLookup.NotFound;
        }
        return file.RedirectTo is null ? StaticLookup.Found : StaticLookup.Redirect;
    }

    /// <summary>
    /// The path of an origin-form (or absolute-form) target, percent-decoded, as UTF-16, with "." and ".." removed and
    /// repeated slashes collapsed. False for anything that could name something outside the root or is not a path:
    /// ".." above the root, NUL or other control bytes, a backslash, bad percent-encoding or UTF-8.
    /// </summary>
    public static bool NormalisePath(ReadOnlySpan<byte> target, Span<byte> bytes, Span<char> chars, out int length)
    {
        length = 0;
        if (target.Length > 7 && (Ascii.EqualsIgnoreCase(target[..7], "http://"u8) || (target.Length > 8 && Ascii.EqualsIgnoreCase(target[..8], "https://"u8))))
        {
            var authority = target[(target[4] == ':' ? 7 : 8)..];
            var slash = authority.IndexOfAny((byte)'/', (byte)'?');
            target = slash < 0 ? "/"u8 : authority[slash] == '/' ? authority[slash..] : "/"u8;
        }
        if (target.IsEmpty || target[0] != '/')
        {
            return false;
        }
        var query = target.IndexOf((byte)'?');
        if (query >= 0)
        {
            target = target[..query];
        }
        var decoded = 0;
        for (var i = 0; i < target.Length; i++)
        {
            var b = target[i];
            if (b == '%')
            {
                if (i + 2 >= target.Length || !char.IsAsciiHexDigit((char)target[i + 1]) || !char.IsAsciiHexDigit((char)target[i + 2]))
                {
                    return false;
                }
                b = (byte)((Hex(target[i + 1]) << 4) | Hex(target[i + 2]));
                i += 2;
            }
            if (b < 0x20 || b == 0x7F || b == '\\' || b == '#')
            {
                return false;
            }
            bytes[decoded++] = b;
        }
        if (Utf8.ToUtf16(bytes[..decoded], chars, out _, out var written, replaceInvalidSequences: false) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }
        // Normalise in place: the output never runs ahead of the input.
        var endsWithSlash = written > 0 && chars[written - 1] == '/';
        var dotLast = false;
        var output = 0;
        var input = 0;
        while (input < written)
        {
            while (input < written && chars[input] == '/')
            {
                input++;
            }
            var start = input;
            while (input < written && chars[input] != '/')
            {
                input++;
            }
            var segment = input - start;
            if (segment == 0)
            {
                continue;
            }
            if (segment == 1 && chars[start] == '.')
            {
                dotLast = true;
                continue;
            }
            if (segment == 2 && chars[start] == '.' && chars[start + 1] == '.')
            {
                if (output == 0)
                {
                    return false; // above the root
                }
                output = chars[..output].LastIndexOf('/');
                dotLast = true;
                continue;
            }
            chars[output++] = '/';
            chars.Slice(start, segment).CopyTo(chars[output..]);
            output += segment;
            dotLast = false;
        }
        if (output == 0 || endsWithSlash || dotLast)
        {
            chars[output++] = '/';
        }
        length = output;
        return true;
    }

    private static int Hex(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;
}
