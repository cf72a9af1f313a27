using System;

namespace Unikernel.Protocols.Http;

/// <summary>
/// Content-Type by file extension (the common web types; anything else is application/octet-stream). The table is
/// <see cref="StaticHeads.MediaType"/>, which the generator compiles in too, so crunched files' prepared heads name the
/// same types.
/// </summary>
public static class MediaTypes
{
    public const string Default = StaticHeads.DefaultMediaType;

    public static string ForPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return StaticHeads.MediaType(path);
    }
}
