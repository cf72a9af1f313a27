using System;
using System.Globalization;
using System.Net;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Http;

namespace WwwAppliance;

/// <summary>
/// The web appliance: serves the compiled-in site (or <c>--site DIR</c>) over HTTP/1.1 until cancelled, with the
/// test routes of <c>--echo true</c>. The logic lives in Unikernel.Protocols.Http.
/// </summary>
/// <remarks>
/// The <c>--site</c> directory is read in <see cref="StartAsync"/>, before a sealed image seals itself (the VM images are
/// sealed by default; a sealed image opens no file after start).
/// </remarks>
public sealed class WwwJob(IConsole console, INetworkStack stack, IWallClock clock, IKeyValueStore data, string address, int port, string site, bool echo, int maxConnections, string logLevel) : IJob, IStartable
{
    private IKeyValueStore? _store;
    private string? _siteError;
    private bool _loaded;

    /// <summary>Reads the --site directory now, before the appliance is sealed (the generated Main starts every IStartable first).</summary>
    public Job StartAsync(CancellationToken cancellationToken)
    {
        Load();
        return Job.CompletedJob;
    }

    private void Load()
    {
        if (_loaded)
        {
            return;
        }
        _loaded = true;
        if (site.Length == 0)
        {
            _store = data;
            return;
        }
        try
        {
            _store = new DirectoryKeyValueStore(site);
        }
        catch (Exception e) when (e is System.IO.IOException or UnauthorizedAccessException)
        {
            _siteError = $"www: error: --site {site}: {e.Message}";
        }
    }

    public async Job RunAsync(CancellationToken cancellationToken)
    {
        var level = logLevel.ToLowerInvariant() switch { "debug" => 0, "info" => 1, "warn" or "warning" => 2, "error" => 3, _ => -1 };
        if (level < 0)
        {
            console.WriteLine($"www: error: --log-level must be debug, info, warn or error, got '{logLevel}'");
            return;
        }
        if (!IPAddress.TryParse(address, out var ip) || port is < 0 or > 65535 || maxConnections < 1)
        {
            console.WriteLine($"www: error: cannot listen on '{address}' port {port} with {maxConnections} connection(s)");
            return;
        }
        // Read in StartAsync when the generated Main runs the job (before sealing); a caller that only runs it reads now.
        Load();
        if (_store is not { } store)
        {
            console.WriteLine(_siteError ?? $"www: error: --site {site}: not read");
            return;
        }
        var files = new StaticSite(store, clock.UtcNow);
        var routes = new HttpRoutes();
        if (echo)
        {
            routes.Map("POST", "/echo", Echo);
            routes.Map("GET", "/headers", Headers);
        }
        var server = new HttpServer(stack, new HttpServerOptions
        {
            EndPoints = [new IPEndPoint(ip, port)],
            MaxConnections = maxConnections,
            Clock = clock,
            AccessLog = level <= 1 ? Access : null,
        }, files, routes);
        try
        {
            server.Bind();
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or InvalidOperationException or NotSupportedException)
        {
            console.WriteLine($"www: error: cannot listen on {ip}:{port}: {e.Message}");
            return;
        }
        if (level <= 2)
        {
            var inv = CultureInfo.InvariantCulture;
            var etags = files.HashedFiles == 0 ? "ETags from the build" : $"{files.HashedFiles.ToString(inv)} ETag(s) hashed at start-up";
            // Crunched files also bring their response heads from the build (StaticHeads): say so, to tell the two apart.
            var heads = files.HeadsFromBuild == files.FileCount && files.FileCount > 0 ? "response heads from the build" : $"{(files.FileCount - files.HeadsFromBuild).ToString(inv)} response head(s) made at start-up";
            etags += ", " + heads;
            console.WriteLine($"www: serving {files.FileCount.ToString(inv)} file(s), {files.TotalBytes.ToString(inv)} bytes, from {(site.Length > 0 ? site : "the image")} ({etags})"
                + $" on {string.Join(", ", server.EndPoints)} over the {StackName(stack)} stack{(echo ? "; test routes /echo and /headers on" : "")}");
        }
        await server.RunAsync(cancellationToken).ConfigureAwait(false);
        if (level <= 1)
        {
            console.WriteLine($"www: stopped: {server.Requests} request(s) on {server.Connections} connection(s), {server.Rejected} refused");
        }
    }

    private static string StackName(INetworkStack stack) => stack switch
    {
        UnixSocketStack => "socket",
        Unikernel.Protocols.Net.DirectStack => "direct",
        _ => "in-memory",
    };

    private void Access(in HttpAccessEntry entry)
    {
        console.WriteLine($"www: {entry.Remote?.ToString() ?? "-"} \"{Encoding.ASCII.GetString(entry.Method)} {Encoding.ASCII.GetString(entry.Target)} HTTP/1.{entry.MinorVersion.ToString(CultureInfo.InvariantCulture)}\" {entry.Status.ToString(CultureInfo.InvariantCulture)} {entry.Bytes.ToString(CultureInfo.InvariantCulture)}");
    }

    private static void Echo(HttpRequest request, HttpResponse response)
    {
        var type = request.Field("content-type"u8);
        response.AddField("Content-Type"u8, type.IsEmpty ? "application/octet-stream"u8 : type);
        response.Write(request.Body);
    }

    private static void Headers(HttpRequest request, HttpResponse response)
    {
        response.AddField("Content-Type"u8, "text/plain; charset=utf-8"u8);
        for (var i = 0; i < request.FieldCount; i++)
        {
            response.Write(request.FieldName(i));
            response.Write(": "u8);
            response.Write(request.FieldValue(i));
            response.Write("\n"u8);
        }
    }
}
