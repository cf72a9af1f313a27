using Unikernel.Tests;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Dns;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>Our DnsService over the host's sockets on 127.0.0.1 (a free port), serving the sample zone.</summary>
public sealed class OurServer : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;

    public OurServer(DnsServiceOptions? options = null, DnsResponder? responder = null)
    {
        Responder = responder ?? new DnsResponder(new ZoneSet([TestZone.LoadSample()]));
        Service = new DnsService(new UnixSocketStack(), Responder, options ?? new DnsServiceOptions { EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)], UdpThreads = 2 });
        Service.Bind();
        EndPoint = Service.UdpEndPoints[0];
        _run = Service.RunAsync(_stop.Token).AsTask();
    }

    public DnsResponder Responder { get; }
    public DnsService Service { get; }
    public IPEndPoint EndPoint { get; }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _run.WaitAsync(TimeSpan.FromSeconds(15));
        _stop.Dispose();
    }
}

/// <summary>NSD serving the sample zone from a private config on 127.0.0.1 (a free port), minimal-responses like the bench.</summary>
public sealed class NsdServer : IDisposable
{
    private readonly Process _process;
    private readonly string _dir;

    public NsdServer() : this(null)
    {
    }

    /// <param name="exampleOrgZone">The zone file to serve as example.org (default: the sample zone).</param>
    public NsdServer(string? exampleOrgZone)
    {
        var nsd = Tools.Require("nsd", "/usr/sbin/nsd");
        _dir = Directory.CreateTempSubdirectory("dns-diff-nsd.").FullName;
        Port = TestPorts.Free();
        File.Copy(exampleOrgZone ?? TestZone.SamplePath, Path.Combine(_dir, "example.org.zone"));
        File.WriteAllText(Path.Combine(_dir, "other.test.zone"), TestZone.OtherZone);
        File.WriteAllText(Path.Combine(_dir, "nsd.conf"), $"""
            server:
                server-count: 1
                ip-address: 127.0.0.1
                port: {Port}
                do-ip4: yes
                do-ip6: no
                username: ""
                chroot: ""
                zonesdir: "{_dir}"
                database: ""
                zonelistfile: "{_dir}/zone.list"
                xfrdfile: "{_dir}/xfrd.state"
                xfrdir: "{_dir}"
                pidfile: "{_dir}/nsd.pid"
                logfile: "{_dir}/nsd.log"
                verbosity: 0
                version: "{TestZone.Version}"
                identity: "{TestZone.Identity}"
                minimal-responses: yes
                rrl-ratelimit: 0
            remote-control:
                control-enable: no
            zone:
                name: "example.org"
                zonefile: "{_dir}/example.org.zone"
            zone:
                name: "other.test"
                zonefile: "{_dir}/other.test.zone"
            """);
        _process = Process.Start(new ProcessStartInfo(nsd, ["-d", "-c", Path.Combine(_dir, "nsd.conf")])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        }) ?? throw new InvalidOperationException("cannot start nsd");
        EndPoint = new IPEndPoint(IPAddress.Loopback, Port);
        var probe = DnsMessage.Query(TestZone.N("example.org."), DnsType.SOA).Encode();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"nsd exited: {_process.StandardError.ReadToEnd()} {ReadLog()}");
            }
            if (Tools.TryQuery(EndPoint, probe, TimeSpan.FromMilliseconds(200)) is not null)
            {
                return;
            }
        }
        Dispose();
        throw new InvalidOperationException("nsd did not answer within 20 s: " + ReadLog());
    }

    public int Port { get; }
    public IPEndPoint EndPoint { get; }

    private string ReadLog()
    {
        var log = Path.Combine(_dir, "nsd.log");
        return File.Exists(log) ? File.ReadAllText(log) : "";
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

internal static class Tools
{
    /// <summary>The path of a required tool; fails the test with a clear message when it is missing (CI installs it).</summary>
    public static string Require(string name, params string[] candidates)
    {
        foreach (var c in candidates)
        {
            if (File.Exists(c))
            {
                return c;
            }
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            var path = Path.Combine(dir, name);
            if (dir.Length > 0 && File.Exists(path))
            {
                return path;
            }
        }
        Assert.Fail($"'{name}' is required for this test but was not found (Debian: apt-get install nsd dnsutils knot-dnsutils)");
        return "";
    }


    public static byte[]? TryQuery(IPEndPoint server, byte[] query, TimeSpan timeout)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        socket.Connect(server);
        socket.Send(query);
        var buffer = new byte[65535];
        try
        {
            var n = socket.Receive(buffer);
            return buffer[..n];
        }
        catch (SocketException)
        {
            return null;
        }
    }

    public static byte[] QueryTcp(IPEndPoint server, byte[] query, TimeSpan timeout)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        socket.SendTimeout = (int)timeout.TotalMilliseconds;
        socket.Connect(server);
        var framed = new byte[query.Length + 2];
        framed[0] = (byte)(query.Length >> 8);
        framed[1] = (byte)query.Length;
        query.CopyTo(framed, 2);
        socket.Send(framed);
        var header = ReadExactly(socket, 2);
        return ReadExactly(socket, (header[0] << 8) | header[1]);
    }

    public static byte[] ReadExactly(Socket socket, int count)
    {
        var buffer = new byte[count];
        var got = 0;
        while (got < count)
        {
            var n = socket.Receive(buffer, got, count - got, SocketFlags.None);
            if (n == 0)
            {
                throw new IOException("connection closed early");
            }
            got += n;
        }
        return buffer;
    }

    public static (int ExitCode, string Output) Run(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeout}");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
