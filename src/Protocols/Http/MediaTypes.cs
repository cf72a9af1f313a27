using System;

namespace Unikernel.Protocols.Http;

/// <summary>Content-Type by file extension (the common web types; anything else is application/octet-stream).</summary>
public static class MediaTypes
{
    public const string Default = "application/octet-stream";

    public static string ForPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var slash = path.LastIndexOf('/');
        var dot = path.LastIndexOf('.');
        if (dot <= slash + 1)
        {
            return Default;
        }
        return path[(dot + 1)..].ToLowerInvariant() switch
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
            _ => Default,
        };
    }
}
