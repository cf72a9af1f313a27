// One source file, compiled into two assemblies: the runtime (Unikernel.Protocols, where StaticSite builds the heads of
// a directory's files at start-up) and the generator (src/Generators, netstandard2.0, linked in its csproj, where the
// heads of crunched files are emitted as data at build time). So the media types and the head format cannot drift
// apart; GeneratorHeadsTests holds the two outputs equal byte for byte for the example site. Keep it to what
// netstandard2.0 has (no ranges on strings, no spans): strings in, strings out.
using System;
using System.Globalization;

namespace Unikernel.Protocols.Http;

/// <summary>
/// The prepared response heads of a static file, as text: the media type by extension, which keys are encodings of
/// others, and the pieces a <see cref="StaticSite"/> copies when it serves a file. Nothing here depends on a request or
/// on the time: Last-Modified is a piece of its own, Date and Connection are added per response.
/// </summary>
internal static class StaticHeads
{
    public const string DefaultMediaType = "application/octet-stream";

    /// <summary>Pieces are separated by NUL, which no head holds (field values are visible ASCII).</summary>
    public const char Separator = '\0';

    // The pieces of a representation (identity, gzip, br), in this order.
    public const int OkHead = 0;         // "HTTP/1.1 200 OK" .. every field but Last-Modified, Date and Connection
    public const int NotModifiedHead = 1; // "HTTP/1.1 304 Not Modified" and its validator fields but Last-Modified
    public const int ETag = 2;           // the quoted entity tag
    public const int RepresentationPieces = 3;

    // Then, for the identity representation only, the file's pieces.
    public const int ContentTypeField = 3;
    public const int RangeFields = 4;    // ETag (identity), Accept-Ranges, Vary: for 206, 412 and 416 heads
    public const int Boundary = 5;       // multipart/byteranges
    public const int LastModifiedField = 6; // empty when the build does not know the time (the site's then)
    public const int FilePieces = 7;

    /// <summary>Content-Type by file extension (the common web types; anything else is application/octet-stream).</summary>
    public static string MediaType(string path)
    {
        var slash = path.LastIndexOf('/');
        var dot = path.LastIndexOf('.');
        if (dot <= slash + 1)
        {
            return DefaultMediaType;
        }
        return path.Substring(dot + 1).ToLowerInvariant() switch
        {
            "html" or "htm" => "text/html; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "js" or "mjs" => "text/javascript; charset=utf-8",
            "json" or "map" => "application/json",
            "txt" or "md" => "text/plain; charset=utf-8",
            "csv" => "text/csv; charset=utf-8",
            "xml" => "application/xml",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "jpg" or "jpeg" => "image/jpeg",
            "gif" => "image/gif",
            "webp" => "image/webp",
            "avif" => "image/avif",
            "ico" => "image/x-icon",
            "woff" => "font/woff",
            "woff2" => "font/woff2",
            "ttf" => "font/ttf",
            "otf" => "font/otf",
            "wasm" => "application/wasm",
            "pdf" => "application/pdf",
            "zip" => "application/zip",
            "gz" => "application/gzip",
            "mp4" => "video/mp4",
            "webm" => "video/webm",
            "mp3" => "audio/mpeg",
            "ogg" => "audio/ogg",
            "wav" => "audio/wav",
            _ => DefaultMediaType,
        };
    }

    /// <summary>
    /// The content coding <paramref name="key"/> holds when it is an encoding of another key (<c>KEY.gz</c>,
    /// <c>KEY.br</c> next to <c>KEY</c>), with that key; null when it is a file of its own.
    /// </summary>
    public static string? VariantOf(string key, Func<string, bool> exists, out string identity)
    {
        foreach (var (suffix, coding) in Codings)
        {
            if (key.EndsWith(suffix, StringComparison.Ordinal) && exists(identity = key.Substring(0, key.Length - suffix.Length)))
            {
                return coding;
            }
        }
        identity = key;
        return null;
    }

    /// <summary>The suffix of a key that holds an encoding of another, and its content coding.</summary>
    public static readonly (string Suffix, string Coding)[] Codings = [(".gz", "gzip"), (".br", "br")];

    /// <summary>The entity tag of a representation: the identity bytes' digest, with the coding's suffix.</summary>
    public static string EntityTag(string digest, string? coding) =>
        "\"" + digest + (coding switch { null => "", "gzip" => "-gz", _ => "-" + coding }) + "\"";

    /// <summary>
    /// A representation's pieces (<see cref="OkHead"/>, <see cref="NotModifiedHead"/>, <see cref="ETag"/>), separated by
    /// <see cref="Separator"/>. <paramref name="vary"/>: the file has an encoded representation.
    /// </summary>
    public static string Representation(string mediaType, long length, string digest, string? coding, bool vary)
    {
        var etag = EntityTag(digest, coding);
        var fields = "ETag: " + etag + "\r\nAccept-Ranges: bytes\r\n" + (vary ? "Vary: Accept-Encoding\r\n" : "")
            + (coding is null ? "" : "Content-Encoding: " + coding + "\r\n");
        return "HTTP/1.1 200 OK\r\nContent-Type: " + mediaType + "\r\nContent-Length: " + length.ToString(CultureInfo.InvariantCulture) + "\r\n" + fields
            + Separator + "HTTP/1.1 304 Not Modified\r\n" + fields
            + Separator + etag;
    }

    /// <summary>
    /// The file's pieces that follow its identity representation's (<see cref="ContentTypeField"/> ..
    /// <see cref="LastModifiedField"/>), each after a <see cref="Separator"/>. <paramref name="lastModified"/> is an
    /// IMF-fixdate, or empty when the time is not known yet.
    /// </summary>
    public static string File(string mediaType, string digest, bool vary, string lastModified) =>
        Separator + "Content-Type: " + mediaType + "\r\n"
        + Separator + "ETag: " + EntityTag(digest, null) + "\r\nAccept-Ranges: bytes\r\n" + (vary ? "Vary: Accept-Encoding\r\n" : "")
        + Separator + "unikernel-" + digest
        + Separator + LastModified(lastModified);

    /// <summary>The Last-Modified field for an IMF-fixdate; empty for empty.</summary>
    public static string LastModified(string date) => date.Length == 0 ? "" : "Last-Modified: " + date + "\r\n";
}
