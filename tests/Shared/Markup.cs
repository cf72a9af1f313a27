using Microsoft.CodeAnalysis.Text;

namespace Unikernel.Generators.Testing;

/// <summary>An expected diagnostic from markup: its ID (null: the test's default ID) and span in the clean source.</summary>
public sealed record MarkedSpan(string? Id, TextSpan Span);

/// <summary>
/// Test-source markup, as in Roslyn's and dotnet/runtime's analyzer tests: <c>[|text|]</c> marks where the expected
/// diagnostic is, <c>{|UK0001:text|}</c> marks where a diagnostic with that ID is. Spans may nest.
/// </summary>
public static class Markup
{
    public static (string Source, IReadOnlyList<MarkedSpan> Spans) Parse(string markup)
    {
        var output = new System.Text.StringBuilder();
        var open = new Stack<(string? Id, int Start, bool Braces)>();
        var spans = new List<MarkedSpan>();
        for (var i = 0; i < markup.Length; i++)
        {
            if (Starts(markup, i, "[|"))
            {
                open.Push((null, output.Length, false));
                i++;
            }
            else if (Starts(markup, i, "{|"))
            {
                var colon = markup.IndexOf(':', i + 2);
                if (colon < 0)
                {
                    throw new FormatException("'{|' without 'ID:' at " + i);
                }
                open.Push((markup[(i + 2)..colon], output.Length, true));
                i = colon;
            }
            else if (Starts(markup, i, "|]") || Starts(markup, i, "|}"))
            {
                if (open.Count == 0 || open.Peek().Braces != (markup[i + 1] == '}'))
                {
                    throw new FormatException("Unbalanced markup at " + i);
                }
                var (id, start, _) = open.Pop();
                spans.Add(new MarkedSpan(id, TextSpan.FromBounds(start, output.Length)));
                i++;
            }
            else
            {
                output.Append(markup[i]);
            }
        }
        if (open.Count > 0)
        {
            throw new FormatException("Unclosed markup");
        }
        return (output.ToString(), spans.OrderBy(s => s.Span.Start).ThenBy(s => s.Span.End).ToList());
    }

    private static bool Starts(string text, int index, string token) => string.CompareOrdinal(text, index, token, 0, token.Length) == 0;
}
