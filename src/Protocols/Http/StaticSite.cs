using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.Unicode;
using Unikernel.Devices;

namespace Unikernel.Protocols.Http;

/// <summary>One representation of a file (identity, gzip or br) with its response heads prepared.</summary>
public sealed class StaticRepresentation
{
    internal StaticRepresentation(string? encoding, ReadOnlyMemory<byte> body, string etag)
    {
        Encoding = encoding;
        Body = body;
        ETag = etag;
    }

    /// <summary>The content coding (null for identity).</summary>
    public string? Encoding { get; }

    public ReadOnlyMemory<byte> Body { get; }

    public string ETag { get; }

    internal byte[] ETagBytes { get; set; } = [];

    /// <summary>"HTTP/1.1 200 OK" and every field but Date and Connection.</summary>
    internal byte[] OkHead { get; set; } = [];

    /// <summary>"HTTP/1.1 304 Not Modified" and its validator fields.</summary>
    internal byte[] NotModifiedHead { get; set; } = [];
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

    internal byte[] ContentTypeField { get; set; } = [];

    /// <summary>ETag (identity), Last-Modified, Accept-Ranges and Vary fields, for 206 and 416 heads.</summary>
    internal byte[] RangeFields { get; set; } = [];

    internal byte[] Boundary { get; set; } = [];
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
/// response head is prepared here once, so serving a file copies prepared bytes. ETags name the identity bytes by
/// their <see cref="ContentDigest"/>: a crunched store's were computed at build time (<see cref="IKeyValueMetadata"/>),
/// other stores' files are hashed here. A file <c>KEY.gz</c> or <c>KEY.br</c>
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
        var metadata = store as IKeyValueMetadata;
        var lastModifiedText = new byte[HttpDate.Length];
        HttpDate.Format(LastModified, lastModifiedText);
        var builtText = new byte[HttpDate.Length];
        var count = 0;
        var hashed = 0;
        long bytes = 0;
        foreach (var key in store.Keys)
        {
            if (IsVariant(key, ".gz", keys) || IsVariant(key, ".br", keys) || !store.TryGet(key, out var body))
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
            var file = new StaticFile(path, MediaTypes.ForPath(key), new StaticRepresentation(null, body, $"\"{hash}\""));
            if (store.TryGet(key + ".gz", out var gzip))
            {
                file.Gzip = new StaticRepresentation("gzip", gzip, $"\"{hash}-gz\"");
            }
            if (store.TryGet(key + ".br", out var brotli))
            {
                file.Brotli = new StaticRepresentation("br", brotli, $"\"{hash}-br\"");
            }
            // The build's time when it set one (UnikernelCrunchLastModified), else the caller's.
            if (metadata is not null && metadata.TryGetLastModified(key, out var built))
            {
                file.LastModifiedUtc = WholeSeconds(built);
                HttpDate.Format(file.LastModifiedUtc, builtText);
                Prepare(file, builtText, hash);
            }
            else
            {
                file.LastModifiedUtc = LastModified;
                Prepare(file, lastModifiedText, hash);
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
        TotalBytes = bytes;
    }

    public int FileCount { get; }

    public long TotalBytes { get; }

    /// <summary>Files whose digest (their ETag) was computed at start-up: none for a crunched store, whose build did it.</summary>
    public int HashedFiles { get; }

    /// <summary>The Last-Modified of files whose store knows no time of its own (the constructor's argument, in whole seconds).</summary>
    public DateTimeOffset LastModified { get; }

    /// <summary>HTTP dates have whole seconds; comparisons with If-Modified-Since need the same.</summary>
    private static DateTimeOffset WholeSeconds(DateTimeOffset time) =>
        new(time.UtcDateTime.Ticks / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero);

    private static bool IsVariant(string key, string suffix, HashSet<string> keys) =>
        key.EndsWith(suffix, StringComparison.Ordinal) && keys.Contains(key[..^suffix.Length]);

    private static void Prepare(StaticFile file, byte[] lastModified, string hash)
    {
        var vary = file.Gzip is not null || file.Brotli is not null;
        var common = "Last-Modified: " + Encoding.ASCII.GetString(lastModified) + "\r\nAccept-Ranges: bytes\r\n" + (vary ? "Vary: Accept-Encoding\r\n" : "");
        file.ContentTypeField = Encoding.ASCII.GetBytes("Content-Type: " + file.ContentType + "\r\n");
        file.RangeFields = Encoding.ASCII.GetBytes("ETag: " + file.Identity.ETag + "\r\n" + common);
        file.Boundary = Encoding.ASCII.GetBytes("unikernel-" + hash);
        foreach (var representation in new[] { file.Identity, file.Gzip, file.Brotli })
        {
            if (representation is null)
            {
                continue;
            }
            var fields = "ETag: " + representation.ETag + "\r\n" + common + (representation.Encoding is { } e ? "Content-Encoding: " + e + "\r\n" : "");
            representation.ETagBytes = Encoding.ASCII.GetBytes(representation.ETag);
            representation.OkHead = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: " + file.ContentType + "\r\nContent-Length: "
                + representation.Body.Length.ToString(CultureInfo.InvariantCulture) + "\r\n" + fields);
            representation.NotModifiedHead = Encoding.ASCII.GetBytes("HTTP/1.1 304 Not Modified\r\n" + fields);
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
