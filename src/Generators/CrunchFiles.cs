using System;
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
            return MatchRelative(twin.Substring(TwinHeader.Length, newline - TwinHeader.Length), directories) is { } inTwin
                ? new CrunchFile(inTwin.Directory, inTwin.Key, withContent ? twin.Substring(newline + 1) : "", Binary: true)
                : null;
        }
        if (Match(text.Path, directories, options) is not { } match)
        {
            return null;
        }
        var content = withContent ? text.GetText(cancellationToken)?.ToString() : "";
        return content is null ? null : new CrunchFile(match.Directory, match.Key, content);
    }

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
