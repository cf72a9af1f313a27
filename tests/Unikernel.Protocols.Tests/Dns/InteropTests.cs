using System.Net;
using System.Net.Sockets;
using Unikernel.Protocols.Dns;
using static Unikernel.Protocols.Tests.Dns.TestZone;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>Our server on 127.0.0.1 queried by real clients (dig, kdig) and raw TCP.</summary>
[Collection("servers")]
public class InteropTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);

    private static string Dig(OurServer server, params string[] args)
    {
        var dig = Tools.Require("dig", "/usr/bin/dig");
        var (code, output) = Tools.Run(dig, ["@127.0.0.1", "-p", server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "+time=3", "+tries=1", "+norec", .. args], s_timeout);
        Assert.True(code == 0, $"dig failed ({code}): {output}");
        return output;
    }

    [Fact]
    public async Task Dig_over_udp_and_tcp()
    {
        await using var server = new OurServer();
        foreach (var transport in new[] { "+notcp", "+tcp" })
        {
            var output = Dig(server, transport, "www.example.org", "A");
            Assert.Contains("status: NOERROR", output, StringComparison.Ordinal);
            Assert.Contains("flags: qr aa;", output, StringComparison.Ordinal);
            Assert.Contains("host1.example.org.\t3600\tIN\tA\t192.0.2.80", output, StringComparison.Ordinal);
            Assert.Contains("www.example.org.\t3600\tIN\tCNAME\tweb.example.org.", output, StringComparison.Ordinal);
            var nx = Dig(server, transport, "missing.example.org", "A");
            Assert.Contains("status: NXDOMAIN", nx, StringComparison.Ordinal);
            var refused = Dig(server, transport, "example.com", "A");
            Assert.Contains("status: REFUSED", refused, StringComparison.Ordinal);
        }
        var unknown = Dig(server, "unknown.example.org", "TYPE65280");
        Assert.Contains("\\# 4 0A000001", unknown, StringComparison.Ordinal);
        var txt = Dig(server, "txt.example.org", "TXT");
        Assert.Contains("\"multiple\" \"strings\" \"with \\\"quotes\\\" and \\\\ backslash\" \"ABC\"", txt, StringComparison.Ordinal);
        Assert.True(server.Service.TcpQueries >= 3);
    }

    [Fact]
    public async Task Kdig_gets_the_same()
    {
        await using var server = new OurServer();
        var kdig = Tools.Require("kdig", "/usr/bin/kdig");
        var (code, output) = Tools.Run(kdig, ["@127.0.0.1", "-p", server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "+time=3", "+retry=0", "example.org", "CAA"], s_timeout);
        Assert.True(code == 0, output);
        Assert.Contains("NOERROR", output, StringComparison.Ordinal);
        Assert.Contains("0 issue \"letsencrypt.org\"", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tcp_several_queries_per_connection_and_idle_timeout()
    {
        await using var server = new OurServer(new DnsServiceOptions
        {
            EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)],
            TcpIdleTimeout = TimeSpan.FromMilliseconds(300),
        });
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 };
        socket.Connect(server.Service.TcpEndPoints[0]);
        // Two pipelined queries in one write.
        var q1 = DnsMessage.Query(N("host1.example.org."), DnsType.A, id: 1).Encode();
        var q2 = DnsMessage.Query(N("example.org."), DnsType.MX, id: 2).Encode();
        var both = new List<byte>();
        foreach (var q in new[] { q1, q2 })
        {
            both.Add((byte)(q.Length >> 8));
            both.Add((byte)q.Length);
            both.AddRange(q);
        }
        socket.Send(both.ToArray());
        for (var id = 1; id <= 2; id++)
        {
            var header = Tools.ReadExactly(socket, 2);
            var body = Tools.ReadExactly(socket, (header[0] << 8) | header[1]);
            Assert.True(DnsMessage.TryParse(body, out var m, out var error), error);
            Assert.Equal(id, m!.Id);
            Assert.Equal(DnsRcode.NoError, m.Rcode);
        }
        // Idle: the server closes the connection (a FIN: Receive returns 0; were it left open, the 10 s receive
        // timeout would throw instead).
        Assert.Equal(0, socket.Receive(new byte[1]));
    }

    [Fact]
    public async Task Tcp_connection_cap_closes_the_oldest_idle_connection_for_a_new_one()
    {
        await using var server = new OurServer(new DnsServiceOptions
        {
            EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)],
            MaxTcpConnections = 2,
        });
        var endPoint = server.Service.TcpEndPoints[0];
        using var a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 };
        using var b = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 };
        a.Connect(endPoint);
        b.Connect(endPoint);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (server.Service.TcpActive < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        Assert.Equal(2, server.Service.TcpActive);
        // b asks a question, so a is the oldest idle one; a third client gets in and a is closed for it.
        var q = DnsMessage.Query(N("host1.example.org."), DnsType.A).Encode();
        byte[] framed = [(byte)(q.Length >> 8), (byte)q.Length, .. q];
        b.Send(framed);
        Assert.Equal(2, Tools.ReadExactly(b, 2).Length);
        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 };
        c.Connect(endPoint);
        c.Send(framed);
        var header = Tools.ReadExactly(c, 2);
        Assert.True(DnsMessage.TryParse(Tools.ReadExactly(c, (header[0] << 8) | header[1]), out var m, out var error), error);
        Assert.Equal(DnsRcode.NoError, m!.Rcode);
        Assert.Equal(0, a.Receive(new byte[1])); // closed by the server
        Assert.Equal(1, server.Service.TcpEvicted);
        b.Send(framed); // the busy one still works
        Assert.Equal(2, Tools.ReadExactly(b, 2).Length);
    }

    [Fact]
    public async Task Ipv6_loopback()
    {
        await using var server = new OurServer(new DnsServiceOptions { EndPoints = [new IPEndPoint(IPAddress.IPv6Loopback, 0)] });
        var response = Tools.TryQuery(server.EndPoint, DnsMessage.Query(N("example.org."), DnsType.AAAA).Encode(), TimeSpan.FromSeconds(5));
        Assert.NotNull(response);
        Assert.True(DnsMessage.TryParse(response, out var m, out _));
        Assert.Equal("example.org. 3600 IN AAAA 2001:db8::1", m!.Answers[0].ToString());
        var tcp = Tools.QueryTcp(server.Service.TcpEndPoints[0], DnsMessage.Query(N("example.org."), DnsType.A).Encode(), TimeSpan.FromSeconds(5));
        Assert.True(DnsMessage.TryParse(tcp, out var t, out _));
        Assert.Equal("example.org. 3600 IN A 192.0.2.1", t!.Answers[0].ToString());
    }

    [Fact]
    public async Task Many_udp_queries_in_flight_are_all_answered()
    {
        await using var server = new OurServer();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 5000 };
        socket.Connect(server.EndPoint);
        const int count = 200;
        for (var i = 0; i < count; i++)
        {
            socket.Send(DnsMessage.Query(N($"h{i % 7}.apps.example.org."), DnsType.A, id: (ushort)i).Encode());
        }
        var seen = new HashSet<int>();
        var buffer = new byte[1500];
        while (seen.Count < count)
        {
            var n = socket.Receive(buffer);
            Assert.True(DnsMessage.TryParse(buffer.AsSpan(0, n), out var m, out _));
            seen.Add(m!.Id);
        }
        Assert.Equal(count, seen.Count);
    }
}

[CollectionDefinition("servers", DisableParallelization = true)]
public class ServersCollection;
