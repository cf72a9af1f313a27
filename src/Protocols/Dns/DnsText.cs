using System.Collections.Generic;

namespace Unikernel.Protocols.Dns;

/// <summary>Small text helpers of the zone and key readers, kept here for the image's size.</summary>
public static class DnsText
{
    /// <summary>
    /// What <c>text.Split(separator)</c> gives (every part, empty ones too; "" is one empty part), without
    /// string.Split's vectorised separator search, its pooled int buffers and option handling (about 5 KB of the image).
    /// </summary>
    public static string[] Split(string text, char separator)
    {
        var parts = new List<string>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == separator)
            {
                parts.Add(text.Substring(start, i - start));
                start = i + 1;
            }
        }
        parts.Add(text.Substring(start));
        return parts.ToArray();
    }
}
