using System;
using System.Globalization;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Http;

namespace UnikernelApp;

/// <summary>
/// A static web server: serves <paramref name="files"/> (site/, compiled into the image; see config.cs) or the
/// directory of --site over HTTP/1.1 until stopped.
/// </summary>
public sealed class WebServer(IConsole console, INetworkStack stack, IWallClock clock, IKeyValueStore files, string address, int port, string site) : IJob
{
    // Read when the appliance is put together, before it seals itself (a microvm image is sealed: it may open no file
    // after start). A missing directory stops the start with "cannot create device".
    private readonly IKeyValueStore _store = site.Length > 0 ? new DirectoryKeyValueStore(site) : files;

    public async Job RunAsync(CancellationToken cancellationToken)
    {
        if (!IPAddress.TryParse(address, out var ip) || port is < 0 or > 65535)
        {
            throw new ArgumentException($"cannot listen on '{address}' port {port}");
        }
        var content = new StaticSite(_store, clock.UtcNow);
        var server = new HttpServer(stack, new HttpServerOptions { EndPoints = [new IPEndPoint(ip, port)], Clock = clock }, content, new HttpRoutes());
        server.Bind();
        var inv = CultureInfo.InvariantCulture;
        console.WriteLine($"UnikernelApp: serving {content.FileCount.ToString(inv)} file(s), {content.TotalBytes.ToString(inv)} bytes, on {string.Join(", ", server.EndPoints)}");
        await server.RunAsync(cancellationToken).ConfigureAwait(false);
    }
}
