using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// The published web appliance (NativeAOT, host sockets) on loopback, with real clients: curl (keep-alive reuse,
/// --compressed, ranges, conditionals, --http1.0), Python's http.client, and raw sockets for pipelining, smuggling
/// attempts and slow clients. Every wait is bounded.
/// </summary>
public sealed class WwwApplianceTests
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(30);
    private static readonly string SiteRoot = Path.Combine(Repo.Root, "examples", "www", "site");

    [Fact]
    public void Publish_reports_no_trim_or_AOT_warnings()
    {
        var www = Appliances.Publish("www");
        www.AssertSucceeded();
        var warnings = www.Publish.StandardOutput.Split('\n').Where(line => line.Contains("warning", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.True(warnings.Count == 0, "publish printed warnings:\n" + string.Join('\n', warnings));
    }

    [Fact]
    public void Curl_reuses_one_connection_for_several_requests_and_gets_every_file_byte_for_byte()
    {
        using var server = RunningAppliance.Start();
        var files = new[] { "index.html", "css/site.css", "logo.png", "favicon.ico", "robots.txt", "about/index.html" };
        var output = Directory.CreateTempSubdirectory("unikernel-www-").FullName;
        try
        {
            var arguments = new List<string> { "-sv", "--fail" };
            foreach (var (file, i) in files.Select((f, i) => (f, i)))
            {
                arguments.AddRange([server.Url("/" + file), "-o", Path.Combine(output, i.ToString(CultureInfo.InvariantCulture))]);
            }
            var result = Curl(arguments);
            Assert.Contains("Re-using existing connection", result.StandardError, StringComparison.Ordinal);
            Assert.DoesNotContain("Connection #0 to host 127.0.0.1 left intact\n* Connected", result.StandardError, StringComparison.Ordinal);
            for (var i = 0; i < files.Length; i++)
            {
                Assert.Equal(File.ReadAllBytes(Path.Combine(SiteRoot, files[i])), File.ReadAllBytes(Path.Combine(output, i.ToString(CultureInfo.InvariantCulture))));
            }
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public void Curl_compressed_gets_a_prepared_encoding_that_decodes_to_the_file()
    {
        using var server = RunningAppliance.Start();
        var original = File.ReadAllText(Path.Combine(SiteRoot, "index.html"));
        var compressed = Fetch("--compressed", server.Url("/"));
        Assert.Contains("Content-Encoding: br\r\n", compressed.Head, StringComparison.Ordinal);
        Assert.Contains("Vary: Accept-Encoding\r\n", compressed.Head, StringComparison.Ordinal);
        Assert.Equal(original, compressed.Body);

        // gzip only: the gzip twin, which .NET's decoder accepts too.
        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, server.Url("/css/site.css"));
        request.Headers.AcceptEncoding.ParseAdd("gzip");
        using var response = client.Send(request);
        Assert.Equal("gzip", response.Content.Headers.ContentEncoding.Single());
        using var gzip = new GZipStream(response.Content.ReadAsStream(), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        Assert.Equal(File.ReadAllText(Path.Combine(SiteRoot, "css/site.css")), reader.ReadToEnd());
    }

    [Fact]
    public void Curl_ranges_single_and_multiple_and_unsatisfiable()
    {
        using var server = RunningAppliance.Start();
        var bytes = File.ReadAllBytes(Path.Combine(SiteRoot, "index.html"));
        var single = Fetch("-r", "10-29", "-w", "%{http_code}", server.Url("/index.html"));
        Assert.Equal("206", single.Out);
        Assert.Equal(bytes[10..30], single.BodyBytes);

        var fetched = Fetch("-r", "0-4,-5", server.Url("/index.html"));
        var multi = fetched.Head + fetched.Body;
        Assert.Contains("HTTP/1.1 206 Partial Content", multi, StringComparison.Ordinal);
        Assert.Contains("Content-Type: multipart/byteranges; boundary=", multi, StringComparison.Ordinal);
        Assert.Contains($"Content-Range: bytes 0-4/{bytes.Length}\r\n\r\n<!doc", multi, StringComparison.Ordinal);
        Assert.Contains($"Content-Range: bytes {bytes.Length - 5}-{bytes.Length - 1}/{bytes.Length}\r\n\r\n", multi, StringComparison.Ordinal);

        Assert.Equal("416", Status("-r", "99999-", server.Url("/index.html")));
    }

    [Fact]
    public void Curl_conditional_requests_get_304()
    {
        using var server = RunningAppliance.Start();
        var head = Fetch("-I", server.Url("/css/site.css")).Head;
        var etag = head.Split("\r\n").Single(l => l.StartsWith("ETag: ", StringComparison.Ordinal))[6..];
        var lastModified = head.Split("\r\n").Single(l => l.StartsWith("Last-Modified: ", StringComparison.Ordinal))[15..];
        Assert.Equal("304", Status("-H", "If-None-Match: " + etag, server.Url("/css/site.css")));
        Assert.Equal("200", Status("-H", "If-None-Match: \"other\"", server.Url("/css/site.css")));
        // -z sends If-Modified-Since.
        Assert.Equal("304", Status("-z", lastModified, server.Url("/css/site.css")));
        Assert.Equal("200", Status("-z", "Sat, 01 Jan 2000 00:00:00 GMT", server.Url("/css/site.css")));
    }

    [Fact]
    public void The_images_etags_come_from_the_build_and_equal_those_of_the_same_files_hashed_at_start_up()
    {
        using var image = RunningAppliance.Start("--log-level", "info");
        Assert.Contains("from the image (ETags from the build, response heads from the build)", image.Output(), StringComparison.Ordinal);
        var files = Directory.GetFiles(SiteRoot, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(SiteRoot, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
        string ETag(string head) => head.Split("\r\n").Single(l => l.StartsWith("ETag: ", StringComparison.Ordinal))[6..];
        // The same files in a directory, with the image's own gzip and Brotli bodies as FILE.gz and FILE.br.
        var directory = Directory.CreateTempSubdirectory("unikernel-www-etags-").FullName;
        try
        {
            var expected = new Dictionary<(string File, string Coding), string>();
            // The image's heads were made by the generator; the directory's are built at start-up: the same bytes but
            // for the times (Date, and Last-Modified: each process's start time without a build time).
            var heads = new Dictionary<(string File, string Coding), string>();
            static string Timeless(string head) => string.Join("\r\n", head.Split("\r\n").Where(l => !l.StartsWith("Date: ", StringComparison.Ordinal) && !l.StartsWith("Last-Modified: ", StringComparison.Ordinal)));
            foreach (var file in files)
            {
                var bytes = File.ReadAllBytes(Path.Combine(SiteRoot, file));
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(directory, file))!);
                File.WriteAllBytes(Path.Combine(directory, file), bytes);
                var digest = Unikernel.Devices.ContentDigest.Compute(bytes);
                foreach (var (coding, suffix) in new[] { ("identity", ""), ("gzip", "-gz"), ("br", "-br") })
                {
                    var fetched = Fetch("-H", "Accept-Encoding: " + coding, image.Url("/" + file));
                    var encoded = fetched.Head.Contains("Content-Encoding: " + coding + "\r\n", StringComparison.Ordinal);
                    if (coding != "identity" && !encoded)
                    {
                        continue; // too small or not compressible: no twin
                    }
                    var etag = ETag(fetched.Head);
                    Assert.Equal("\"" + digest + suffix + "\"", etag);
                    expected[(file, coding)] = etag;
                    heads[(file, coding)] = Timeless(fetched.Head);
                    if (coding != "identity")
                    {
                        File.WriteAllBytes(Path.Combine(directory, file + (coding == "gzip" ? ".gz" : ".br")), fetched.BodyBytes);
                    }
                    // Each representation's build-time validator gives 304 for that representation.
                    Assert.Equal("304", Status("-H", "Accept-Encoding: " + coding, "-H", "If-None-Match: " + etag, image.Url("/" + file)));
                }
            }
            Assert.Contains(expected.Keys, k => k.Coding == "gzip");
            Assert.Contains(expected.Keys, k => k.Coding == "br");

            using var hashed = RunningAppliance.Start("--site", directory, "--log-level", "info");
            Assert.Contains($"ETag(s) hashed at start-up", hashed.Output(), StringComparison.Ordinal);
            Assert.Contains("response head(s) made at start-up", hashed.Output(), StringComparison.Ordinal);
            foreach (var ((file, coding), etag) in expected)
            {
                var head = Fetch("-H", "Accept-Encoding: " + coding, hashed.Url("/" + file)).Head;
                Assert.Equal(etag, ETag(head));
                Assert.Equal(heads[(file, coding)], Timeless(head));
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Curl_http_1_0_directories_and_errors()
    {
        using var server = RunningAppliance.Start();
        var old = Fetch("--http1.0", server.Url("/robots.txt"));
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", old.Head, StringComparison.Ordinal);
        Assert.Contains("Connection: close\r\n", old.Head, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllText(Path.Combine(SiteRoot, "robots.txt")), old.Body);

        Assert.Equal("301 " + server.Url("/about/"), Fetch("-w", "%{http_code} %{redirect_url}", server.Url("/about")).Out);
        Assert.Equal(File.ReadAllText(Path.Combine(SiteRoot, "about/index.html")), Fetch("-L", server.Url("/about")).Body);
        Assert.Equal("404", Status(server.Url("/nope")));
        var post = Fetch("-d", "x", server.Url("/index.html")).Head;
        Assert.StartsWith("HTTP/1.1 405 ", post, StringComparison.Ordinal);
        Assert.Contains("Allow: GET, HEAD\r\n", post, StringComparison.Ordinal);
        // curl normalises dot segments itself unless told not to.
        Assert.Equal("400", Status("--path-as-is", server.Url("/../../etc/passwd")));
        Assert.Equal("400", Status("--path-as-is", server.Url("/%2e%2e/%2e%2e/etc/passwd")));
        // The test routes are off by default.
        Assert.Equal("404", Status("-d", "hi", server.Url("/echo")));
    }

    [Fact]
    public void Python_http_client_keep_alive_head_and_chunked_echo()
    {
        using var server = RunningAppliance.Start("--echo");
        const string script = """
            import http.client, sys
            port = int(sys.argv[1])
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            c.request("GET", "/")
            r = c.getresponse(); body = r.read()
            assert r.status == 200 and body.startswith(b"<!doctype html>"), (r.status, body[:40])
            sock = c.sock
            c.request("HEAD", "/css/site.css")
            r = c.getresponse(); r.read()
            assert r.status == 200 and r.getheader("Content-Type") == "text/css; charset=utf-8"
            assert c.sock is sock, "the connection was not kept"
            c.request("POST", "/echo", body=iter([b"chunk one, ", b"chunk two"]), encode_chunked=True, headers={"Content-Type": "text/plain"})
            r = c.getresponse(); body = r.read()
            assert r.status == 200 and body == b"chunk one, chunk two", (r.status, body)
            c.request("POST", "/echo", body=b"x" * 100000)
            r = c.getresponse(); body = r.read()
            assert r.status == 200 and body == b"x" * 100000
            c.request("GET", "/headers", headers={"X-Probe": "42"})
            r = c.getresponse(); body = r.read().decode()
            assert "X-Probe: 42\n" in body, body
            # HEAD on a handler route: the GET's status and Content-Length, no body, and the next response right after.
            c.request("HEAD", "/headers", headers={"X-Probe": "42"})
            r = c.getresponse(); nothing = r.read()
            assert r.status == 200 and nothing == b"" and int(r.getheader("Content-Length")) == len(body.encode()), (r.status, r.getheader("Content-Length"), len(body))
            c.request("GET", "/robots.txt")
            r = c.getresponse(); r.read()
            assert r.status == 200
            assert c.sock is sock, "the connection was not kept"
            print("ok")
            """;
        var result = Processes.Run("/usr/bin/python3", ["-c", script, server.Port.ToString(CultureInfo.InvariantCulture)], ClientTimeout);
        Assert.True(result.ExitCode == 0 && result.StandardOutput.Trim() == "ok", result.ToString());
    }

    [Fact]
    public void Raw_socket_pipelining_answers_in_order()
    {
        using var server = RunningAppliance.Start();
        var paths = new[] { "/robots.txt", "/css/site.css", "/robots.txt", "/nope", "/logo.png", "/robots.txt" };
        var request = string.Concat(paths.Select(p => $"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n")) + "GET /robots.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        var text = Exchange(server.Port, Encoding.ASCII.GetBytes(request));
        var statuses = text.Split("HTTP/1.1 ").Skip(1).Select(r => r[..3]).ToList();
        Assert.Equal(["200", "200", "200", "404", "200", "200", "200"], statuses);
        Assert.Equal(4, CountOf(text, File.ReadAllText(Path.Combine(SiteRoot, "robots.txt"))));
    }

    [Theory]
    [InlineData("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 30\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nX: a\rGET /smuggled HTTP/1.1\r\n\r\n")]
    public void Raw_socket_smuggling_attempts_get_400_and_a_closed_connection(string attack)
    {
        using var server = RunningAppliance.Start("--log-level", "info");
        var text = Exchange(server.Port, Encoding.ASCII.GetBytes(attack));
        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", text, StringComparison.Ordinal);
        Assert.Equal(1, CountOf(text, "HTTP/1.1 ")); // one response, then the server closed
        Assert.DoesNotContain("smuggled", server.Output(), StringComparison.Ordinal);
    }

    [Fact]
    public void Raw_socket_slow_client_does_not_block_others_and_is_dropped_with_408()
    {
        using var server = RunningAppliance.Start();
        using var slow = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 25000 };
        slow.Connect(IPAddress.Loopback, server.Port);
        slow.Send("GET /robots.txt HTTP/1.1\r\nHost: x\r\n"u8.ToArray());
        // Others are served meanwhile.
        Assert.Equal("200", Status(server.Url("/robots.txt")));
        // The header timeout (10 s by default) ends the slow one; the read is bounded by ReceiveTimeout.
        var buffer = new byte[4096];
        var all = new StringBuilder();
        int n;
        while ((n = slow.Receive(buffer)) > 0)
        {
            all.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        Assert.StartsWith("HTTP/1.1 408 Request Timeout\r\n", all.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Serves_a_directory_given_at_run_time_with_its_gzip_siblings_and_logs_requests()
    {
        var directory = Directory.CreateTempSubdirectory("unikernel-www-site-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "index.html"), "<p>from the directory</p>\n");
            using (var gz = new GZipStream(File.Create(Path.Combine(directory, "index.html.gz")), CompressionLevel.Optimal))
            {
                gz.Write("<p>from the directory</p>\n"u8);
            }
            using var server = RunningAppliance.Start("--site", directory, "--log-level", "info");
            Assert.Contains("serving 1 file(s)", server.Output(), StringComparison.Ordinal);
            Assert.Equal("<p>from the directory</p>\n", Fetch(server.Url("/")).Body);
            var compressed = Fetch("-H", "Accept-Encoding: gzip", server.Url("/")).Head;
            Assert.Contains("Content-Encoding: gzip\r\n", compressed, StringComparison.Ordinal);
            Assert.Equal("<p>from the directory</p>\n", Fetch("--compressed", server.Url("/")).Body);
            // The access log (info) has a line per request.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (CountOf(server.Output(), "\"GET / HTTP/1.1\" 200") < 3 && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(20);
            }
            Assert.Equal(3, CountOf(server.Output(), "\"GET / HTTP/1.1\" 200"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Bad_arguments_are_clear_errors()
    {
        var www = Appliances.Publish("www");
        www.AssertSucceeded();
        var result = www.Run(ClientTimeout, "--log-level", "loud");
        Assert.Contains("--log-level must be debug, info, warn or error", result.StandardOutput, StringComparison.Ordinal);
        var missing = www.Run(ClientTimeout, "--site", "/nonexistent-unikernel-site", "--port", "0");
        Assert.Contains("--site /nonexistent-unikernel-site", missing.StandardOutput, StringComparison.Ordinal);
    }

    /// <summary>How often <paramref name="part"/> occurs in <paramref name="text"/> (not overlapping).</summary>
    internal static int CountOf(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }

    /// <summary>Sends the bytes and reads until the server closes (bounded).</summary>
    private static string Exchange(int port, byte[] request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 20000 };
        socket.Connect(IPAddress.Loopback, port);
        socket.Send(request);
        var all = new MemoryStream();
        var buffer = new byte[65536];
        int n;
        while ((n = socket.Receive(buffer)) > 0)
        {
            all.Write(buffer, 0, n);
        }
        return Encoding.Latin1.GetString(all.ToArray());
    }

    private static ProcessResult Curl(IEnumerable<string> arguments)
    {
        var result = Processes.Run("curl", ["--max-time", "20", .. arguments], ClientTimeout);
        Assert.True(result.ExitCode == 0, "curl failed (is the Debian package curl installed? scripts/setup.sh installs it):\n" + result);
        return result;
    }

    /// <summary>What curl wrote: -w output (trimmed), the response head (-D) and body (-o) exactly as received.</summary>
    private sealed record Fetched(string Out, string Head, byte[] BodyBytes)
    {
        public string Body => Encoding.Latin1.GetString(BodyBytes);
    }

    /// <summary>One curl run for one URL; the head and body go to files, so bytes (CR included) are exact.</summary>
    private static Fetched Fetch(params string[] arguments)
    {
        var directory = Directory.CreateTempSubdirectory("unikernel-curl-").FullName;
        try
        {
            var head = Path.Combine(directory, "head");
            var body = Path.Combine(directory, "body");
            var result = Curl(["-s", "-D", head, "-o", body, .. arguments]);
            return new Fetched(result.StandardOutput.Trim(), File.Exists(head) ? File.ReadAllText(head, Encoding.Latin1) : "", File.Exists(body) ? File.ReadAllBytes(body) : []);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string Status(params string[] arguments) => Fetch(["-w", "%{http_code}", .. arguments]).Out;

    /// <summary>The published image on a free loopback port, ready when it prints its start summary; killed on dispose.</summary>
    private sealed class RunningAppliance(ApplianceProcess process) : IDisposable
    {
        public int Port => process.Port;

        public string Url(string path) => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}{path}";

        public static RunningAppliance Start(params string[] extra) => new(ApplianceProcess.Start("www", "www: serving", extra));

        public string Output() => process.Output();

        public void Dispose() => process.Dispose();
    }
}
