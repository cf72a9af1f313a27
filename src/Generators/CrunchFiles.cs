using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;

namespace Unikernel.Generators;

/// <summary>Which additional files c.Crunch("dir") compiles in: the generator reads them, the analyzer only counts them.</summary>
internal static class CrunchFiles
{
    // A binary file's text twin from Unikernel.targets: "unikernel-crunch RELATIVE-PATH\n" + base64 bytes. The compiler
    // refuses binary additional files, so the build hands them over this way.
    private const string TwinSuffix = ".ukcrunch";
    private const string TwinHeader = "unikernel-crunch ";

    /// <summary>
    /// The crunched file behind <paramref name="text"/>, or null if no crunched directory holds it. Without
    /// <paramref name="withContent"/> the content is empty (a binary twin's header is still read to learn its key).
    /// </summary>
    public static CrunchFile? Read(AdditionalText text, EquatableArray<string> directories, BuildOptions options, bool withContent, CancellationToken cancellationToken)
    {
        if (directories.Length == 0)
        {
            return null;
        }
        if (text.Path.EndsWith(TwinSuffix, StringComparison.Ordinal))
        {
            var twin = text.GetText(cancellationToken)?.ToString();
            var newline = twin?.IndexOf('\n') ?? -1;
            if (twin is null || newline < 0 || !twin.StartsWith(TwinHeader, StringComparison.Ordinal))
            {
                return null;
            }
            if (MatchRelative(twin.Substring(TwinHeader.Length, newline - TwinHeader.Length), directories) is not { } inTwin)
            {
                return null;
            }
            var base64 = withContent ? twin.Substring(newline + 1) : "";
            return new CrunchFile(inTwin.Directory, inTwin.Key, base64, Binary: true, withContent ? Digest(Bytes(base64)) : "", options.CrunchLastModified);
        }
        if (Match(text.Path, directories, options) is not { } match)
        {
            return null;
        }
        var content = withContent ? text.GetText(cancellationToken)?.ToString() : "";
        // The image holds the text's UTF-8 bytes (a u8 literal), so those are what the digest covers.
        return content is null ? null : new CrunchFile(match.Directory, match.Key, content, Digest: withContent ? Digest(Encoding.UTF8.GetBytes(content)) : "", LastModified: options.CrunchLastModified);
    }

    /// <summary>A binary twin's bytes; empty for bad base64 (the emitter compiles in the same).</summary>
    public static byte[] Bytes(string base64)
    {
        try
        {
            return Convert.FromBase64String(base64);
        }
        catch (FormatException)
        {
            return [];
        }
    }

    /// <summary>
    /// Unikernel.Devices.ContentDigest.Compute, here at build time (the generator cannot reference the runtime
    /// libraries): FNV-1a 64 over the bytes, xor the length, as 16 lower-case hex digits. A test holds the two equal.
    /// </summary>
    public static string Digest(byte[] data)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in data)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        return (hash ^ (ulong)data.Length).ToString("x16", CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The HTTP response heads of each key of one crunched directory, as the static site would build them at start-up
    /// (src/Protocols/Http/StaticHeads.cs, compiled into both): per key, NUL-separated pieces, or no entry for a key
    /// whose heads are not known here (no digest). Nothing in them depends on a request or on the time but the
    /// Last-Modified piece, which is the build's time (empty without one: the image uses its own).
    /// </summary>
    public static Dictionary<string, string> Heads(IEnumerable<CrunchFile> files)
    {
        // A later file with the same key replaces an earlier one, as in the image's store.
        var byKey = new Dictionary<string, CrunchFile>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            byKey[file.Key] = file;
        }
        var heads = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in byKey.Values)
        {
            var coding = Unikernel.Protocols.Http.StaticHeads.VariantOf(file.Key, byKey.ContainsKey, out var key);
            var identity = byKey[key];
            if (identity.Digest.Length == 0)
            {
                continue;
            }
            var mediaType = Unikernel.Protocols.Http.StaticHeads.MediaType(key);
            var vary = coding is not null || HasVariant(key, byKey);
            var text = Unikernel.Protocols.Http.StaticHeads.Representation(mediaType, Length(file), identity.Digest, coding, vary);
            if (coding is null)
            {
                text += Unikernel.Protocols.Http.StaticHeads.File(mediaType, identity.Digest, vary, HttpDate(identity.LastModified));
            }
            heads[file.Key] = text;
        }
        return heads;
    }

    private static bool HasVariant(string key, Dictionary<string, CrunchFile> byKey)
    {
        foreach (var (suffix, _) in Unikernel.Protocols.Http.StaticHeads.Codings)
        {
            if (byKey.ContainsKey(key + suffix))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The length of the bytes the image holds for <paramref name="file"/> (its text's UTF-8, or its twin's bytes).</summary>
    private static long Length(CrunchFile file) => file.Binary ? Bytes(file.Content).Length : Encoding.UTF8.GetByteCount(file.Content);

    /// <summary>An IMF-fixdate for seconds since 1970; empty for none (-1) or a time a DateTimeOffset cannot hold.</summary>
    public static string HttpDate(long seconds) =>
        seconds is >= 0 and <= 253402300799L
            ? DateTimeOffset.FromUnixTimeSeconds(seconds).UtcDateTime.ToString("ddd, dd MMM yyyy HH':'mm':'ss 'GMT'", CultureInfo.InvariantCulture)
            : "";

    /// <summary>The crunched directory and key of the file at <paramref name="path"/>, or null if no directory holds it.</summary>
    public static (string Directory, string Key)? Match(string path, EquatableArray<string> directories, BuildOptions options)
    {
        if (directories.Length == 0 || options.ProjectDirectory.Length == 0)
        {
            return null;
        }
        path = path.Replace('\\', '/');
        var root = options.ProjectDirectory.Replace('\\', '/').TrimEnd('/') + "/";
        return path.StartsWith(root, StringComparison.Ordinal) ? MatchRelative(path.Substring(root.Length), directories) : null;
    }

    private static (string Directory, string Key)? MatchRelative(string relative, EquatableArray<string> directories)
    {
        foreach (var directory in directories)
        {
            var prefix = directory.Replace('\\', '/').Trim('/') + "/";
            if (relative.StartsWith(prefix, StringComparison.Ordinal))
            {
                return (directory, relative.Substring(prefix.Length));
            }
        }
        return null;
    }
}
