using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;

namespace Unikernel.Generators.Tests;

/// <summary>docs/diagnostics.md has a section for every diagnostic, matching its descriptor.</summary>
public class DocumentationTests
{
    private static readonly string s_page = File.ReadAllText(Path.Combine(Snapshot.RepositoryRoot, "docs", "diagnostics.md"));

    public static TheoryData<string> Descriptors()
    {
        var data = new TheoryData<string>();
        foreach (var descriptor in AllDescriptors())
        {
            data.Add(descriptor.Id);
        }
        return data;
    }

    private static IEnumerable<DiagnosticDescriptor> AllDescriptors() =>
        typeof(Diagnostics).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!);

    [Theory]
    [MemberData(nameof(Descriptors))]
    public void Every_diagnostic_has_a_section(string id)
    {
        var descriptor = AllDescriptors().Single(d => d.Id == id);
        // Absolute, so an editor can open it: the repository's docs page and the section's anchor.
        Assert.Equal(Diagnostics.RepositoryUrl + "/blob/main/docs/diagnostics.md#" + id.ToLowerInvariant(), descriptor.HelpLinkUri);
        Assert.True(Uri.TryCreate(descriptor.HelpLinkUri, UriKind.Absolute, out var uri) && uri.Scheme == "https", descriptor.HelpLinkUri);
        var section = Regex.Match(s_page, $@"^## {id}\n\n\*\*(?<title>[^*]+)\*\* · (?<severity>\w+)\n", RegexOptions.Multiline);
        Assert.True(section.Success, $"docs/diagnostics.md has no '## {id}' section with '**title** · severity'");
        Assert.Equal(descriptor.Title.ToString(System.Globalization.CultureInfo.InvariantCulture), section.Groups["title"].Value);
        Assert.Equal(descriptor.DefaultSeverity.ToString(), section.Groups["severity"].Value);
        Assert.Contains($"| [{id}](#{id.ToLowerInvariant()}) | {descriptor.DefaultSeverity} | {descriptor.Title} |", s_page, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_section_is_a_diagnostic()
    {
        var ids = AllDescriptors().Select(d => d.Id).ToHashSet();
        foreach (Match heading in Regex.Matches(s_page, @"^## (UK\d{4})$", RegexOptions.Multiline))
        {
            Assert.Contains(heading.Groups[1].Value, ids);
        }
    }

    [Fact]
    public void Release_tracking_lists_every_diagnostic()
    {
        var unshipped = File.ReadAllText(Path.Combine(Snapshot.RepositoryRoot, "src", "Generators", "AnalyzerReleases.Unshipped.md"))
            + File.ReadAllText(Path.Combine(Snapshot.RepositoryRoot, "src", "Generators", "AnalyzerReleases.Shipped.md"));
        foreach (var descriptor in AllDescriptors())
        {
            Assert.Contains($"{descriptor.Id} | Unikernel | {descriptor.DefaultSeverity} |", unshipped, StringComparison.Ordinal);
        }
    }
}
