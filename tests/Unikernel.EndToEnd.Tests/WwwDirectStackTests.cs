using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Xunit.Abstractions;

namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// examples/www published with our direct stack (-p:UnikernelNet=direct, one publish shared by the class), unchanged,
/// attached to a tap in a namespace the test makes (kernel side 10.215.0.1/24, appliance 10.215.0.2), and fetched by
/// curl from inside the namespace, so every byte crosses Linux's TCP and ours. Needs root, /dev/net/tun, iproute2 and
/// curl; fails (never skips) without them. Every curl is bounded (--max-time and a process timeout).
/// </summary>
[Collection("WwwDirectStack")]
public sealed class WwwDirectStackTests(ITestOutputHelper output)
{
    private const string ApplianceAddress = "10.215.0.2";
    private const string Ready = "www: serving";
    private static readonly string SiteRoot = Path.Combine(Repo.Root, "examples", "www", "site");

    private static string Url(string path) => $"http://{ApplianceAddress}:8080{path}";

    private static string[] Attach(TapNamespace link, params string[] extra) =>
        ["--interface", link.TapName, "--ipv4", ApplianceAddress + "/24", "--address", ApplianceAddress, "--port", "8080", .. extra];

    [Fact]
    public void The_compiled_in_site_over_the_direct_stack_keep_alive_compressed_range_and_304()
    {
        using var link = TapNamespace.Create(output, "curl");
        using var www = link.StartExample("www", Ready, Attach(link, "--log-level", "info"));
        Assert.Contains($"on {ApplianceAddress}:8080 over the direct stack", www.Output, StringComparison.Ordinal);

        // Several files on one connection, each byte for byte.
        var files = new[] { "index.html", "css/site.css", "logo.png", "favicon.ico", "robots.txt", "about/index.html" };
        var arguments = new List<string> { "-sv", "--fail" };
        foreach (var (file, i) in files.Select((f, i) => (f, i)))
        {
            arguments.AddRange([Url("/" + file), "-o", Path.Combine(link.Directory, "f" + i.ToString(CultureInfo.InvariantCulture))]);
        }
        var many = Curl(link, [.. arguments]);
        Assert.Contains("Re-using existing connection", many.StandardError, StringComparison.Ordinal);
        Assert.Equal(1, WwwApplianceTests.CountOf(many.StandardError, "* Connected to "));
        for (var i = 0; i < files.Length; i++)
        {
            Assert.Equal(Sha256(Path.Combine(SiteRoot, files[i])), Sha256(Path.Combine(link.Directory, "f" + i.ToString(CultureInfo.InvariantCulture))));
        }

        // --compressed: the prepared Brotli twin, decoded by curl to the file.
        var compressed = Fetch(link, "--compressed", Url("/"));
        Assert.Contains("Content-Encoding: br\r\n", compressed.Head, StringComparison.Ordinal);
        Assert.Contains("Vary: Accept-Encoding\r\n", compressed.Head, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(Path.Combine(SiteRoot, "index.html")), compressed.Body);

        // A single range.
        var bytes = File.ReadAllBytes(Path.Combine(SiteRoot, "index.html"));
        var range = Fetch(link, "-r", "10-29", Url("/index.html"));
        Assert.StartsWith("HTTP/1.1 206 Partial Content\r\n", range.Head, StringComparison.Ordinal);
        Assert.Contains($"Content-Range: bytes 10-29/{bytes.Length.ToString(CultureInfo.InvariantCulture)}\r\n", range.Head, StringComparison.Ordinal);
        Assert.Equal(bytes[10..30], range.Body);

        // Conditional requests.
        var head = Fetch(link, "-I", Url("/css/site.css")).Head;
        var etag = head.Split("\r\n").Single(l => l.StartsWith("ETag: ", StringComparison.Ordinal))[6..];
        var lastModified = head.Split("\r\n").Single(l => l.StartsWith("Last-Modified: ", StringComparison.Ordinal))[15..];
        Assert.StartsWith("HTTP/1.1 304 Not Modified\r\n", Fetch(link, "-H", "If-None-Match: " + etag, Url("/css/site.css")).Head, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 304 Not Modified\r\n", Fetch(link, "-z", lastModified, Url("/css/site.css")).Head, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", Fetch(link, "-H", "If-None-Match: \"other\"", Url("/css/site.css")).Head, StringComparison.Ordinal);

        Assert.True(www.IsRunning, "the appliance exited:\n" + www.Output);
        var stopped = www.Stop();
        output.WriteLine(stopped);
        // 6 on the kept connection, then one each for the five single fetches.
        Assert.Contains("www: stopped: 12 request(s) on 7 connection(s), 0 refused", stopped, StringComparison.Ordinal);
    }

    [Fact]
    public void Large_files_from_a_directory_arrive_byte_for_byte_on_one_kept_connection()
    {
        using var link = TapNamespace.Create(output, "curl");
        var site = Path.Combine(link.Directory, "site");
        Directory.CreateDirectory(site);
        // Incompressible bytes (so no layer can shortcut them), sizes around segment and window boundaries.
        var sizes = new Dictionary<string, int> { ["a.bin"] = 100 * 1024 + 1, ["b.bin"] = 1024 * 1024 + 1460, ["small.txt"] = 17 };
        var random = new Random(14);
        foreach (var (name, size) in sizes)
        {
            var content = new byte[size];
            random.NextBytes(content);
            File.WriteAllBytes(Path.Combine(site, name), content);
        }
        using var www = link.StartExample("www", Ready, Attach(link, "--site", site, "--log-level", "info"));
        Assert.Contains("over the direct stack", www.Output, StringComparison.Ordinal);

        var order = new[] { "a.bin", "small.txt", "b.bin", "a.bin", "b.bin" };
        var arguments = new List<string> { "-sv", "--fail" };
        foreach (var (file, i) in order.Select((f, i) => (f, i)))
        {
            arguments.AddRange([Url("/" + file), "-o", Path.Combine(link.Directory, "got" + i.ToString(CultureInfo.InvariantCulture))]);
        }
        var result = Curl(link, [.. arguments]);
        Assert.Equal(1, WwwApplianceTests.CountOf(result.StandardError, "* Connected to "));
        Assert.Equal(order.Length - 1, WwwApplianceTests.CountOf(result.StandardError, "Re-using existing connection"));
        for (var i = 0; i < order.Length; i++)
        {
            Assert.Equal(Sha256(Path.Combine(site, order[i])), Sha256(Path.Combine(link.Directory, "got" + i.ToString(CultureInfo.InvariantCulture))));
        }

        // A range in the middle of the large file (crossing many segments).
        var big = File.ReadAllBytes(Path.Combine(site, "b.bin"));
        var range = Fetch(link, "-r", "70000-899999", Url("/b.bin"));
        Assert.StartsWith("HTTP/1.1 206 Partial Content\r\n", range.Head, StringComparison.Ordinal);
        Assert.Equal(SHA256.HashData(big.AsSpan(70000, 830000)), SHA256.HashData(range.Body));

        var stopped = www.Stop();
        output.WriteLine(stopped);
        Assert.Contains("www: stopped: 6 request(s) on 2 connection(s), 0 refused", stopped, StringComparison.Ordinal);
    }

    private static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    private static ProcessResult Curl(TapNamespace link, string[] arguments)
    {
        var result = link.Exec(TimeSpan.FromSeconds(40), ["curl", "--max-time", "30", .. arguments]);
        Assert.True(result.ExitCode == 0, "curl failed inside the namespace:\n" + result);
        return result;
    }

    /// <summary>The response head (-D) and body (-o) of one curl run, exactly as received.</summary>
    private sealed record Fetched(string Head, byte[] Body);

    private static int s_fetches;

    private static Fetched Fetch(TapNamespace link, params string[] arguments)
    {
        var n = Interlocked.Increment(ref s_fetches).ToString(CultureInfo.InvariantCulture);
        var head = Path.Combine(link.Directory, "head" + n);
        var body = Path.Combine(link.Directory, "body" + n);
        Curl(link, ["-s", "-D", head, "-o", body, .. arguments]);
        return new Fetched(File.ReadAllText(head, Encoding.Latin1), File.Exists(body) ? File.ReadAllBytes(body) : []);
    }
}

[CollectionDefinition("WwwDirectStack", DisableParallelization = true)]
public sealed class WwwDirectStackCollection;
