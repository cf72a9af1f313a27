using System.Net;
using System.Text;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Devices.Unix;
using Unikernel.Protocols.Http;

namespace Unikernel.Protocols.Tests.Http;

/// <summary>A clock stopped at one instant, so responses are byte-for-byte reproducible.</summary>
internal sealed class FixedClock(DateTimeOffset now) : IWallClock
{
    public DateTimeOffset UtcNow => now;
}

/// <summary>
/// A connection that replays scripted reads (each one ReadAsync result; the end of the script is the end of the
/// stream) and records what is written. Every operation completes synchronously, so a whole connection runs on the
/// calling thread: what it allocates is measurable.
/// </summary>
internal sealed class ScriptedConnection(IEnumerable<byte[]> reads, int capacity = 0) : ITcpConnection
{
    private readonly Queue<byte[]> _reads = new(reads);
    private readonly MemoryStream _written = new(capacity);
    private byte[] _pending = [];
    private int _offset;

    public IPEndPoint RemoteEndPoint { get; } = new(IPAddress.Loopback, 40000);

    public bool SendShutdown { get; private set; }

    public int Writes { get; private set; }

    public byte[] Written => _written.ToArray();

    public string WrittenText => Encoding.Latin1.GetString(Written);

    public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_offset == _pending.Length)
        {
            if (!_reads.TryDequeue(out var next))
            {
                return ValueTask.FromResult(0);
            }
            _pending = next;
            _offset = 0;
        }
        var n = Math.Min(buffer.Length, _pending.Length - _offset);
        _pending.AsSpan(_offset, n).CopyTo(buffer.Span);
        _offset += n;
        return ValueTask.FromResult(n);
    }

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        _written.Write(data.Span);
        Writes++;
        return ValueTask.CompletedTask;
    }

    public void ShutdownSend() => SendShutdown = true;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

internal static class HttpTestKit
{
    public static readonly DateTimeOffset Now = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public static readonly DateTimeOffset Built = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public const string DateLine = "Date: Fri, 02 Jan 2026 03:04:05 GMT\r\n";

    public const string LastModified = "Thu, 01 Jan 2026 00:00:00 GMT";

    public static readonly byte[] Big = Enumerable.Range(0, 100 * 1024).Select(i => (byte)(i * 7 + (i >> 8))).ToArray();

    public static CrunchKeyValueStore Store() => new(
    [
        new("index.html", Encoding.ASCII.GetBytes("<p>hello</p>\n")),
        new("index.html.gz", [0x1f, 0x8b, 1, 2, 3]),
        new("index.html.br", [0xb1, 0xb2]),
        new("docs/index.html", Encoding.ASCII.GetBytes("<p>docs</p>\n")),
        new("docs/a b.txt", Encoding.ASCII.GetBytes("space")),
        new("caf\u00e9.txt", Encoding.ASCII.GetBytes("latte")),
        new("style.css", Encoding.ASCII.GetBytes("body{}")),
        new("digits.txt", Encoding.ASCII.GetBytes("0123456789")),
        new("logo.png", [0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d]),
        new("big.bin", Big),
        new("empty.txt", []),
    ]);

    public static StaticSite Site() => new(Store(), Built);

    public static HttpServer Server(HttpServerOptions? options = null, HttpRoutes? routes = null, StaticSite? site = null) =>
        new(new LoopbackStack(), options ?? new HttpServerOptions { Clock = new FixedClock(Now) }, site ?? Site(), routes);

    public static HttpRoutes EchoRoutes() => new HttpRoutes()
        .Map("POST", "/echo", (request, response) =>
        {
            response.AddField("Content-Type", "application/octet-stream");
            response.Write(request.Body);
        })
        .Map("GET", "/headers", (request, response) =>
        {
            for (var i = 0; i < request.FieldCount; i++)
            {
                response.Write(request.FieldName(i));
                response.Write(": "u8);
                response.Write(request.FieldValue(i));
                response.Write("\n"u8);
            }
        })
        .Map("GET", "/throws", (_, _) => throw new InvalidOperationException("handler bug"));

    /// <summary>Runs one connection over the scripted reads; returns what the server wrote.</summary>
    public static ScriptedConnection Run(HttpServer server, params string[] reads) =>
        RunBytes(server, reads.Select(r => Encoding.Latin1.GetBytes(r)).ToArray());

    public static ScriptedConnection RunBytes(HttpServer server, params byte[][] reads) => Serve(server, new ScriptedConnection(reads));

    public static ScriptedConnection Serve(HttpServer server, ScriptedConnection connection)
    {
        var served = new HttpConnection(server, connection);
        try
        {
            var task = served.RunAsync(CancellationToken.None);
            Assert.True(task.Wait(TimeSpan.FromSeconds(30)), "the connection did not finish");
        }
        finally
        {
            served.Dispose();
        }
        return connection;
    }

    /// <summary>Splits a stream of responses into (head, body) pairs by their Content-Length.</summary>
    public static List<(string Head, string Body)> Responses(string stream)
    {
        var list = new List<(string, string)>();
        var position = 0;
        while (position < stream.Length)
        {
            var end = stream.IndexOf("\r\n\r\n", position, StringComparison.Ordinal);
            Assert.True(end >= 0, "a truncated response head: " + stream[position..]);
            var head = stream[position..(end + 4)];
            position = end + 4;
            var status = int.Parse(head.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
            var length = 0;
            foreach (var line in head.Split("\r\n"))
            {
                if (line.StartsWith("Content-Length: ", StringComparison.OrdinalIgnoreCase))
                {
                    length = int.Parse(line.AsSpan(16), System.Globalization.CultureInfo.InvariantCulture);
                }
            }
            if (status is 100 or 204 or 304)
            {
                length = 0;
            }
            list.Add((head, stream.Substring(position, Math.Min(length, stream.Length - position))));
            position += length;
        }
        return list;
    }
}
