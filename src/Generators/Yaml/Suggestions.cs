using System;
using System.Collections.Generic;
using System.Linq;

namespace Unikernel.Generators;

/// <summary>"Did you mean" suggestions by Levenshtein distance.</summary>
internal static class Suggestions
{
    /// <summary>" (did you mean 'x'?)" for the closest option, or "" when none is close.</summary>
    public static string DidYouMean(string input, IEnumerable<string> options)
    {
        var best = Closest(input, options);
        return best is null ? "" : $" (did you mean '{best}'?)";
    }

    public static string? Closest(string input, IEnumerable<string> options)
    {
        if (input.Length > 200)
        {
            return null;
        }
        var limit = Math.Max(2, input.Length / 3);
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var option in options.Distinct(StringComparer.Ordinal))
        {
            if (option.Length > 200)
            {
                continue;
            }
            var distance = Distance(input.ToLowerInvariant(), option.ToLowerInvariant());
            if (distance <= limit && distance < bestDistance)
            {
                best = option;
                bestDistance = distance;
            }
        }
        return best;
    }

    public static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
