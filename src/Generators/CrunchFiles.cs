using System;

namespace Unikernel.Generators;

/// <summary>Which additional files c.Crunch("dir") compiles in: the generator reads them, the analyzer only counts them.</summary>
internal static class CrunchFiles
{
    /// <summary>The crunched directory and key of the file at <paramref name="path"/>, or null if no directory holds it.</summary>
    public static (string Directory, string Key)? Match(string path, EquatableArray<string> directories, BuildOptions options)
    {
        if (directories.Length == 0 || options.ProjectDirectory.Length == 0)
        {
            return null;
        }
        path = path.Replace('\\', '/');
        var root = options.ProjectDirectory.Replace('\\', '/').TrimEnd('/') + "/";
        if (!path.StartsWith(root, StringComparison.Ordinal))
        {
            return null;
        }
        var relative = path.Substring(root.Length);
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
