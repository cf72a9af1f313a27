using System;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Unikernel.Protocols.Iperf;

/// <summary>The state bytes of iperf3's control connection (iperf_api.h), one signed byte each.</summary>
public enum IperfState : sbyte
{
    TestStart = 1,
    TestRunning = 2,
    TestEnd = 4,
    ParamExchange = 9,
    CreateStreams = 10,
    ServerTerminate = 11,
    ClientTerminate = 12,
    ExchangeResults = 13,
    DisplayResults = 14,
    IperfStart = 15,
    IperfDone = 16,
    AccessDenied = -1,
    ServerError = -2,
}

/// <summary>
/// iperf3's error numbers (i_errno, iperf_api.h) that a server sends after <see cref="IperfState.ServerError"/>; the
/// client prints its own text for each (iperf_error.c).
/// </summary>
public enum IperfError
{
    Duration = 5,
    NumStreams = 6,
    BlockSize = 7,
    Omit = 12,
    Unimplemented = 13,
    Accept = 104,
    ReceiveCookie = 106,
    Message = 110,
    ReceiveParameters = 114,
    ReceiveResults = 117,
    ServerTerminated = 120,
}

/// <summary>Wire constants of iperf3's control protocol.</summary>
public static class IperfWire
{
    /// <summary>The cookie each connection of a test starts with: 36 characters and a NUL (COOKIE_SIZE).</summary>
    public const int CookieSize = 37;

    /// <summary>The default port of iperf3 (control and TCP streams share it).</summary>
    public const int DefaultPort = 5201;

    /// <summary>The default TCP block length (DEFAULT_TCP_BLKSIZE: 128 KiB).</summary>
    public const int DefaultBlockLength = 128 * 1024;

    /// <summary>iperf3's MAX_BLOCKSIZE (1 MB).</summary>
    public const int MaxBlockLength = 1024 * 1024;

    /// <summary>A JSON message is a 4-byte big-endian length and that many bytes of JSON.</summary>
    public const int LengthSize = 4;

    /// <summary>
    /// True for a cookie as iperf3 makes them (make_cookie: 36 printable characters, then NUL). The server accepts any
    /// such cookie; a stream must repeat its test's byte for byte.
    /// </summary>
    public static bool IsWellFormedCookie(ReadOnlySpan<byte> cookie)
    {
        if (cookie.Length != CookieSize || cookie[CookieSize - 1] != 0)
        {
            return false;
        }
        foreach (var b in cookie[..^1])
        {
            if (b is < 0x21 or > 0x7e)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The SERVER_ERROR message: the state byte, i_errno and errno, both 32-bit big-endian (9 bytes).</summary>
    public static int WriteServerError(Span<byte> destination, IperfError error, int errno)
    {
        destination[0] = unchecked((byte)IperfState.ServerError);
        BinaryPrimitives.WriteInt32BigEndian(destination[1..], (int)error);
        BinaryPrimitives.WriteInt32BigEndian(destination[5..], errno);
        return 9;
    }
}

/// <summary>A test that the server declines, with the iperf3 error number the client is sent and a text for the log.</summary>
public readonly record struct IperfRefusal(IperfError Error, int Errno, string Reason);

/// <summary>What the server supports and up to where (the parameters a client may ask for).</summary>
public sealed record IperfLimits
{
    public static readonly IperfLimits Default = new();

    /// <summary>Parallel streams (-P); iperf3's MAX_STREAMS is 128.</summary>
    public int MaxStreams { get; init; } = 128;

    /// <summary>Longest test (-t) in seconds; also the bound on a test that ends by bytes (-n) or blocks (-k).</summary>
    public int MaxDuration { get; init; } = 3600;

    /// <summary>Largest block (-l).</summary>
    public int MaxBlockLength { get; init; } = IperfWire.MaxBlockLength;

    /// <summary>Longest omitted start (-O) in seconds.</summary>
    public int MaxOmit { get; init; } = 600;

    /// <summary>Largest JSON message (parameters, the client's results) accepted on the control connection.</summary>
    public int MaxJsonBytes { get; init; } = 64 * 1024;
}

/// <summary>
/// The parameters of a TCP test as the client sends them at PARAM_EXCHANGE (iperf_api.c send_parameters), checked
/// against what this server does. Unknown members are ignored, as iperf3 ignores them.
/// </summary>
public sealed record IperfParameters
{
    /// <summary>-R: the server sends.</summary>
    public bool Reverse { get; init; }

    /// <summary>-P.</summary>
    public int Streams { get; init; } = 1;

    /// <summary>-t in seconds; 0 when the test ends by bytes or blocks.</summary>
    public int Duration { get; init; }

    /// <summary>-n: bytes to send in all (0: none given).</summary>
    public long Bytes { get; init; }

    /// <summary>-k: blocks to send in all (0: none given).</summary>
    public long Blocks { get; init; }

    /// <summary>-l: the sender's block length.</summary>
    public int BlockLength { get; init; } = IperfWire.DefaultBlockLength;

    /// <summary>-O: seconds at the start not counted.</summary>
    public int Omit { get; init; }

    /// <summary>--get-server-output: the results carry the server's text.</summary>
    public bool GetServerOutput { get; init; }

    public string ClientVersion { get; init; } = "";

    /// <summary>Reads and checks the parameters; a refusal says which iperf3 error to send and why.</summary>
    public static bool TryParse(JsonValue json, IperfLimits limits, out IperfParameters parameters, out IperfRefusal refusal)
    {
        parameters = new IperfParameters();
        refusal = default;
        if (json.Kind != JsonKind.Object)
        {
            refusal = new(IperfError.ReceiveParameters, Errno.BadMessage, "the parameters are not a JSON object");
            return false;
        }
        foreach (var protocol in (ReadOnlySpan<string>)["udp", "sctp", "mptcp"])
        {
            if (json[protocol] is not null)
            {
                refusal = new(IperfError.Unimplemented, 0, $"{protocol.ToUpperInvariant()} tests are not supported (TCP only)");
                return false;
            }
        }
        if (json["bidirectional"] is not null)
        {
            refusal = new(IperfError.Unimplemented, 0, "bidirectional tests (--bidir) are not supported");
            return false;
        }
        // Socket options iperf3 would set on the server's sockets; the stack's buffers and segment size are fixed.
        foreach (var option in (ReadOnlySpan<string>)["window", "MSS", "TOS", "flowlabel"])
        {
            if (json[option] is { } value && !(value.Kind == JsonKind.Number && value.Integer == 0))
            {
                refusal = new(IperfError.Unimplemented, 0, $"'{option}' is not supported (the stack's socket options are fixed)");
                return false;
            }
        }
        var reverse = json["reverse"] is not null;
        if (reverse)
        {
            // Pacing is the sender's; in a reverse test that would be us.
            foreach (var option in (ReadOnlySpan<string>)["bandwidth", "fqrate"])
            {
                if (json[option] is { } value && !(value.Kind == JsonKind.Number && value.Integer == 0))
                {
                    refusal = new(IperfError.Unimplemented, 0, $"'{option}' (a paced sender) is not supported in a reverse test");
                    return false;
                }
            }
        }
        if (!Integer(json, "parallel", 1, 1, limits.MaxStreams, out var streams))
        {
            refusal = new(IperfError.NumStreams, 0, $"'parallel' must be 1 to {limits.MaxStreams.ToString(CultureInfo.InvariantCulture)}");
            return false;
        }
        if (!Integer(json, "time", 0, 0, limits.MaxDuration, out var duration))
        {
            refusal = new(IperfError.Duration, 0, $"'time' must be 0 to {limits.MaxDuration.ToString(CultureInfo.InvariantCulture)} seconds");
            return false;
        }
        if (!Integer(json, "len", IperfWire.DefaultBlockLength, 1, limits.MaxBlockLength, out var length))
        {
            refusal = new(IperfError.BlockSize, 0, $"'len' must be 1 to {limits.MaxBlockLength.ToString(CultureInfo.InvariantCulture)} bytes");
            return false;
        }
        if (!Integer(json, "omit", 0, 0, limits.MaxOmit, out var omit))
        {
            refusal = new(IperfError.Omit, 0, $"'omit' must be 0 to {limits.MaxOmit.ToString(CultureInfo.InvariantCulture)} seconds");
            return false;
        }
        if (!Integer(json, "num", 0, 0, long.MaxValue, out var bytes) || !Integer(json, "blockcount", 0, 0, long.MaxValue, out var blocks))
        {
            refusal = new(IperfError.ReceiveParameters, Errno.BadMessage, "'num' and 'blockcount' must be non-negative integers");
            return false;
        }
        var version = json["client_version"] is { Kind: JsonKind.String } v ? v.Text : "";
        parameters = new IperfParameters
        {
            Reverse = reverse,
            Streams = (int)streams,
            Duration = (int)duration,
            Bytes = bytes,
            Blocks = blocks,
            BlockLength = (int)length,
            Omit = (int)omit,
            GetServerOutput = json["get_server_output"] is not null,
            ClientVersion = version.Length <= 32 ? version : version[..32],
        };
        return true;
    }

    private static bool Integer(JsonValue json, string name, long absent, long min, long max, out long value)
    {
        value = absent;
        if (json[name] is not { } member)
        {
            return true;
        }
        if (member.Kind != JsonKind.Number || member.Number != Math.Floor(member.Number))
        {
            return false;
        }
        value = member.Integer;
        return value >= min && value <= max;
    }

    /// <summary>The errno values sent next to an error number (Linux's).</summary>
    public static class Errno
    {
        public const int BadMessage = 74;
        public const int MessageTooLong = 90;
    }
}

/// <summary>What one stream moved, for the results.</summary>
public readonly record struct IperfStreamResult(int Id, long Bytes, double Seconds);

/// <summary>The results JSON a side sends at EXCHANGE_RESULTS (iperf_api.c send_results).</summary>
public static class IperfResults
{
    /// <summary>
    /// Our results: CPU use is not measured (0: a sealed image may not read /proc), retransmissions are not known
    /// through <c>ITcpConnection</c> (sender_has_retransmits 0 as sender, -1 as receiver, per stream -1).
    /// </summary>
    public static void Write(JsonWriter json, bool sender, ReadOnlySpan<IperfStreamResult> streams, string? serverOutput)
    {
        json.StartObject()
            .Property("cpu_util_total", 0.0)
            .Property("cpu_util_user", 0.0)
            .Property("cpu_util_system", 0.0)
            .Property("sender_has_retransmits", sender ? 0 : -1);
        if (serverOutput is not null)
        {
            json.Property("server_output_text", serverOutput);
        }
        json.Name("streams").StartArray();
        foreach (var stream in streams)
        {
            json.StartObject()
                .Property("id", stream.Id)
                .Property("bytes", stream.Bytes)
                .Property("retransmits", -1)
                .Property("jitter", 0.0)
                .Property("errors", 0)
                .Property("packets", 0)
                .Property("start_time", 0.0)
                .Property("end_time", stream.Seconds)
                .EndObject();
        }
        json.EndArray().EndObject();
    }

    /// <summary>
    /// Checks the client's results (an object with the three CPU figures, sender_has_retransmits and a streams array
    /// of objects with id and bytes, as iperf3's get_results requires) and sums its streams' bytes.
    /// </summary>
    public static bool TryRead(JsonValue json, out long bytes, out int streams, out string error)
    {
        bytes = 0;
        streams = 0;
        error = "";
        if (json.Kind != JsonKind.Object)
        {
            error = "the results are not a JSON object";
            return false;
        }
        foreach (var name in (ReadOnlySpan<string>)["cpu_util_total", "cpu_util_user", "cpu_util_system", "sender_has_retransmits"])
        {
            if (json[name] is not { Kind: JsonKind.Number })
            {
                error = $"the results have no number '{name}'";
                return false;
            }
        }
        if (json["streams"] is not { Kind: JsonKind.Array } list)
        {
            error = "the results have no 'streams' array";
            return false;
        }
        foreach (var stream in list.Items)
        {
            if (stream["id"] is not { Kind: JsonKind.Number } || stream["bytes"] is not { Kind: JsonKind.Number } count)
            {
                error = "a stream of the results has no 'id' or 'bytes'";
                return false;
            }
            bytes = count.Integer > 0 && bytes <= long.MaxValue - count.Integer ? bytes + count.Integer : bytes;
            streams++;
        }
        return true;
    }

    /// <summary>The text a client asking --get-server-output prints: one line per stream and the sum, iperf3's layout.</summary>
    public static string ServerOutput(string client, bool sender, ReadOnlySpan<IperfStreamResult> streams)
    {
        var inv = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.Append("Accepted connection from ").Append(client).Append('\n');
        text.Append("[ ID] Interval           Transfer     Bitrate\n");
        long total = 0;
        double longest = 0;
        foreach (var stream in streams)
        {
            text.Append(inv, $"[{stream.Id,3}]   0.00-{stream.Seconds,-6:0.00} sec  {stream.Bytes,12} Bytes  {Rate(stream.Bytes, stream.Seconds),8:0.00} Mbits/sec  {(sender ? "sender" : "receiver")}\n");
            total += stream.Bytes;
            longest = Math.Max(longest, stream.Seconds);
        }
        if (streams.Length > 1)
        {
            text.Append(inv, $"[SUM]   0.00-{longest,-6:0.00} sec  {total,12} Bytes  {Rate(total, longest),8:0.00} Mbits/sec  {(sender ? "sender" : "receiver")}\n");
        }
        return text.ToString();
    }

    private static double Rate(long bytes, double seconds) => seconds > 0 ? bytes * 8 / seconds / 1e6 : 0;
}
