using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.Iperf;

/// <summary>
/// One iperf3 test, from the control connection's cookie to IPERF_DONE (iperf_server_api.c's sequence): PARAM_EXCHANGE
/// and the client's parameters, CREATE_STREAMS and the streams (each opens with the test's cookie), TEST_START and
/// TEST_RUNNING, the transfer until the client's TEST_END, EXCHANGE_RESULTS (the client's results, then ours),
/// DISPLAY_RESULTS. Anything else ends the test: a refusal with SERVER_ERROR, a stalled step after
/// <see cref="IperfServerOptions.StepTimeout"/>, a test that overruns its time with SERVER_TERMINATE.
/// </summary>
internal sealed class IperfSession
{
    internal enum Phase
    {
        Cookie,
        Parameters,
        CreateStreams,
        Running,
        Results,
        Ending,
        Done,
    }

    private const int ReceiveBufferSize = 128 * 1024;
    // The control reader's "no state": end of stream or a failed read.
    private const int Closed = int.MinValue;

    private readonly IperfServer _server;
    private readonly IperfServerOptions _options;
    private readonly ITcpConnection _control;
    private readonly string _client;
    private readonly CancellationTokenSource _stop;
    private readonly CancellationTokenSource _transfer;
    private readonly byte[] _cookie = new byte[IperfWire.CookieSize];
    private readonly byte[] _small = new byte[16];
    private readonly object _sync = new();
    private readonly List<DataStream> _streams = [];
    private readonly TaskCompletionSource _allStreams = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IperfParameters _parameters = new();
    private Phase _phase;
    private int _candidates;
    private long _reservedBytes;
    private long _reservedBlocks;
    private long _countFrom;

    private IperfSession(IperfServer server, ITcpConnection control, CancellationToken cancellationToken)
    {
        _server = server;
        _options = server.Options;
        _control = control;
        _client = control.RemoteEndPoint.ToString();
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _transfer = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        Completion = Task.CompletedTask;
    }

    public Task Completion { get; private set; }

    internal Phase CurrentPhase
    {
        get
        {
            lock (_sync)
            {
                return _phase;
            }
        }
    }

    internal long CountedBytes
    {
        get
        {
            lock (_sync)
            {
                long total = 0;
                foreach (var stream in _streams)
                {
                    total += stream.Bytes;
                }
                return total;
            }
        }
    }

    /// <summary>After DISPLAY_RESULTS, or the last message of a refused test: only the client's close is left.</summary>
    public bool IsEnding => CurrentPhase >= Phase.Ending;

    public static IperfSession Start(IperfServer server, ITcpConnection control, CancellationToken cancellationToken)
    {
        var session = new IperfSession(server, control, cancellationToken);
        session.Completion = Task.Run(session.RunAsync, CancellationToken.None);
        return session;
    }

    /// <summary>Takes a connection as a candidate stream while the test creates its streams (its cookie decides).</summary>
    public bool TryOfferStream(ITcpConnection connection)
    {
        lock (_sync)
        {
            // A few spare candidates (a client retrying a connect), not an unbounded pile of readers.
            if (_phase != Phase.CreateStreams || _candidates >= _parameters.Streams + 4)
            {
                return false;
            }
            _candidates++;
        }
        _ = AcceptStreamAsync(connection);
        return true;
    }

    private async Task AcceptStreamAsync(ITcpConnection connection)
    {
        var accepted = false;
        try
        {
            var cookie = new byte[IperfWire.CookieSize];
            using var step = Step();
            if (await ReadExactlyAsync(connection, cookie, step.Token).ConfigureAwait(false) && cookie.AsSpan().SequenceEqual(_cookie))
            {
                lock (_sync)
                {
                    if (_phase == Phase.CreateStreams && _streams.Count < _parameters.Streams)
                    {
                        // iperf_add_stream's numbering: 1, then 3, 4, 5, ... (both sides number alike; results match by id).
                        _streams.Add(new DataStream(connection, _streams.Count == 0 ? 1 : _streams.Count + 2));
                        accepted = true;
                        if (_streams.Count == _parameters.Streams)
                        {
                            _allStreams.TrySetResult();
                        }
                    }
                }
            }
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            // not a stream
        }
        finally
        {
            lock (_sync)
            {
                _candidates--;
            }
        }
        if (!accepted)
        {
            await _server.DenyAsync(connection, drain: false).ConfigureAwait(false);
        }
    }

    private async Task RunAsync()
    {
        try
        {
            await RunStepsAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            _server.Log($"iperf: {_client}: test ended: {Describe(e)} ({CurrentPhase})");
        }
        catch (Exception e)
        {
            // A bug in one test must not end the appliance: it is logged and the next test runs.
            _server.Log($"iperf: {_client}: internal error ({CurrentPhase}): {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            lock (_sync)
            {
                _phase = Phase.Done;
            }
            _allStreams.TrySetCanceled();
            _stop.Cancel();
            await CloseStreamsAsync().ConfigureAwait(false);
            await CloseAsync(_control).ConfigureAwait(false);
            _transfer.Dispose();
            _stop.Dispose();
        }
    }

    private async Task RunStepsAsync()
    {
        using (var step = Step())
        {
            if (!await ReadExactlyAsync(_control, _cookie, step.Token).ConfigureAwait(false))
            {
                _server.Log($"iperf: {_client}: closed before sending its cookie");
                SetPhase(Phase.Ending);
                return;
            }
        }
        if (!IperfWire.IsWellFormedCookie(_cookie))
        {
            _server.Log($"iperf: {_client}: not an iperf3 cookie, sent ACCESS_DENIED");
            _server.CountDenied();
            SetPhase(Phase.Ending);
            await SendAsync(IperfState.AccessDenied).ConfigureAwait(false);
            return;
        }
        _server.CountTest();
        SetPhase(Phase.Parameters);
        await SendAsync(IperfState.ParamExchange).ConfigureAwait(false);
        var (json, refusal) = await ReadJsonAsync(IperfError.ReceiveParameters).ConfigureAwait(false);
        if (json is null)
        {
            await RefuseAsync(refusal).ConfigureAwait(false);
            return;
        }
        if (!IperfParameters.TryParse(json, _options.Limits, out var parameters, out refusal))
        {
            await RefuseAsync(refusal).ConfigureAwait(false);
            return;
        }
        lock (_sync)
        {
            _parameters = parameters;
            _phase = Phase.CreateStreams;
        }
        await SendAsync(IperfState.CreateStreams).ConfigureAwait(false);

        // From here on the control connection is read by one task: a state byte (TEST_END, CLIENT_TERMINATE) or its end.
        var control = ReadStateAsync(_stop.Token);
        var streamsDeadline = Task.Delay(_options.StepTimeout, _stop.Token);
        var first = await Task.WhenAny(_allStreams.Task, control, streamsDeadline).ConfigureAwait(false);
        if (first != _allStreams.Task)
        {
            if (first == control)
            {
                await EndedEarlyAsync(control.Result).ConfigureAwait(false);
                return;
            }
            _server.Log($"iperf: {_client}: {StreamCount()} of {parameters.Streams} stream(s) connected in {_options.StepTimeout.TotalSeconds:0} s, test ended");
            await RefuseAsync(new IperfRefusal(IperfError.Accept, 0, "the streams did not connect")).ConfigureAwait(false);
            return;
        }
        SetPhase(Phase.Running);
        DataStream[] streams;
        lock (_sync)
        {
            streams = [.. _streams];
        }
        _small[0] = (byte)IperfState.TestStart;
        _small[1] = (byte)IperfState.TestRunning;
        using (var step = Step())
        {
            await _control.WriteAsync(_small.AsMemory(0, 2), step.Token).ConfigureAwait(false);
        }
        var end = parameters.Bytes > 0 ? $"{parameters.Bytes.ToString(CultureInfo.InvariantCulture)} bytes"
            : parameters.Blocks > 0 ? $"{parameters.Blocks.ToString(CultureInfo.InvariantCulture)} blocks" : $"{parameters.Duration.ToString(CultureInfo.InvariantCulture)} s";
        _server.Log($"iperf: {_client}: test started: {streams.Length.ToString(CultureInfo.InvariantCulture)} stream(s), {(parameters.Reverse ? "reverse (we send)" : "forward (we receive)")}, {end}, blocks of {parameters.BlockLength.ToString(CultureInfo.InvariantCulture)} bytes");
        var started = Stopwatch.GetTimestamp();
        Volatile.Write(ref _countFrom, started);
        var workers = new Task[streams.Length];
        var block = parameters.Reverse ? Payload(parameters.BlockLength) : null;
        for (var i = 0; i < streams.Length; i++)
        {
            var stream = streams[i];
            workers[i] = block is null ? ReceiveAsync(stream, _transfer.Token) : SendAsync(stream, block, _transfer.Token);
        }
        if (parameters.Omit > 0)
        {
            _ = OmitAsync(streams, parameters.Omit, _transfer.Token);
        }
        // iperf3's server timer: the test's time (and omit) plus a grace; a test by bytes or blocks gets the longest time.
        var allowed = TimeSpan.FromSeconds((parameters.Duration > 0 ? parameters.Duration : _options.Limits.MaxDuration) + parameters.Omit) + _options.EndGrace;
        var ended = await Task.WhenAny(control, Task.Delay(allowed, _stop.Token)).ConfigureAwait(false);
        var stopped = Stopwatch.GetTimestamp();
        await _transfer.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // a worker stuck in the stack: its connection is closed below
        }
        await CloseStreamsAsync().ConfigureAwait(false);
        if (ended != control)
        {
            _server.Log($"iperf: {_client}: no TEST_END {allowed.TotalSeconds:0} s into the test, sent SERVER_TERMINATE");
            SetPhase(Phase.Ending);
            await SendAsync(IperfState.ServerTerminate).ConfigureAwait(false);
            return;
        }
        var state = control.Result;
        if (state != (int)IperfState.TestEnd)
        {
            await EndedEarlyAsync(state).ConfigureAwait(false);
            return;
        }

        SetPhase(Phase.Results);
        await SendAsync(IperfState.ExchangeResults).ConfigureAwait(false);
        var (clientResults, problem) = await ReadJsonAsync(IperfError.ReceiveResults).ConfigureAwait(false);
        if (clientResults is null)
        {
            await RefuseAsync(problem).ConfigureAwait(false);
            return;
        }
        if (!IperfResults.TryRead(clientResults, out var clientBytes, out _, out var error))
        {
            await RefuseAsync(new IperfRefusal(IperfError.ReceiveResults, IperfParameters.Errno.BadMessage, error)).ConfigureAwait(false);
            return;
        }
        var countFrom = Volatile.Read(ref _countFrom);
        var seconds = Math.Max(0, Stopwatch.GetElapsedTime(countFrom, stopped).TotalSeconds);
        var results = new IperfStreamResult[streams.Length];
        long total = 0;
        for (var i = 0; i < streams.Length; i++)
        {
            var bytes = Math.Max(0, streams[i].Bytes - streams[i].OmittedBytes);
            results[i] = new IperfStreamResult(streams[i].Id, bytes, seconds);
            total += bytes;
        }
        var json2 = new JsonWriter();
        IperfResults.Write(json2, parameters.Reverse, results,
            parameters.GetServerOutput ? IperfResults.ServerOutput(_client, parameters.Reverse, results) : null);
        var message = new byte[IperfWire.LengthSize + json2.Length + 1];
        BinaryPrimitives.WriteInt32BigEndian(message, json2.Length);
        json2.Written.CopyTo(message.AsSpan(IperfWire.LengthSize));
        message[^1] = (byte)IperfState.DisplayResults;
        using (var step = Step())
        {
            await _control.WriteAsync(message, step.Token).ConfigureAwait(false);
        }
        SetPhase(Phase.Ending);
        _server.CountCompleted();
        var inv = CultureInfo.InvariantCulture;
        var rate = seconds > 0 ? total * 8 / seconds / 1e9 : 0;
        _server.Log(string.Create(inv, $"iperf: {_client}: {(parameters.Reverse ? "sent" : "received")} {total} bytes on {streams.Length} stream(s) in {seconds:0.00} s ({rate:0.000} Gbit/s); the client counted {clientBytes} bytes{(parameters.ClientVersion.Length > 0 ? "; client " + parameters.ClientVersion : "")}"));

        // IPERF_DONE (or the client's close) ends it; either way the test is over.
        using (var step = Step())
        {
            await ReadStateAsync(step.Token).ConfigureAwait(false);
        }
    }

    /// <summary>The client ended the test before TEST_END: its CLIENT_TERMINATE, its close, or a state out of place.</summary>
    private async Task EndedEarlyAsync(int state)
    {
        if (state == Closed || state == (int)IperfState.ClientTerminate)
        {
            SetPhase(Phase.Ending);
            _server.Log($"iperf: {_client}: the client {(state == Closed ? "closed the control connection" : "terminated the test")} ({CurrentPhase})");
            return;
        }
        await RefuseAsync(new IperfRefusal(IperfError.Message, 0, $"unexpected state {state.ToString(CultureInfo.InvariantCulture)}")).ConfigureAwait(false);
    }

    /// <summary>SERVER_ERROR with the error number the client prints, then the test is over.</summary>
    private async Task RefuseAsync(IperfRefusal refusal)
    {
        _server.CountRefused();
        _server.Log($"iperf: {_client}: refused: {refusal.Reason} (iperf3 error {(int)refusal.Error})");
        // The client leaves once it has read this: its successor may connect before this session has closed.
        SetPhase(Phase.Ending);
        var length = IperfWire.WriteServerError(_small, refusal.Error, refusal.Errno);
        using var step = Step();
        await _control.WriteAsync(_small.AsMemory(0, length), step.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// A length-prefixed JSON message, bounded: a length of 0 or above <see cref="IperfLimits.MaxJsonBytes"/> is refused
    /// before anything is allocated or read for it.
    /// </summary>
    private async Task<(JsonValue? Json, IperfRefusal Refusal)> ReadJsonAsync(IperfError error)
    {
        using var step = Step();
        if (!await ReadExactlyAsync(_control, _small.AsMemory(0, IperfWire.LengthSize), step.Token).ConfigureAwait(false))
        {
            throw new System.IO.EndOfStreamException("the client closed the control connection");
        }
        var length = BinaryPrimitives.ReadUInt32BigEndian(_small);
        if (length == 0 || length > (uint)_options.Limits.MaxJsonBytes)
        {
            return (null, new IperfRefusal(error, IperfParameters.Errno.MessageTooLong,
                $"a JSON message of {length.ToString(CultureInfo.InvariantCulture)} bytes (at most {_options.Limits.MaxJsonBytes.ToString(CultureInfo.InvariantCulture)})"));
        }
        var text = new byte[length];
        if (!await ReadExactlyAsync(_control, text, step.Token).ConfigureAwait(false))
        {
            throw new System.IO.EndOfStreamException("the client closed the control connection inside a JSON message");
        }
        if (!JsonReader.TryParse(text, out var json, out var why))
        {
            return (null, new IperfRefusal(error, IperfParameters.Errno.BadMessage, "bad JSON: " + why));
        }
        return (json, default);
    }

    /// <summary>One state byte from the control connection, or <see cref="Closed"/> at its end or a failed read.</summary>
    private async Task<int> ReadStateAsync(CancellationToken cancellationToken)
    {
        var one = new byte[1];
        try
        {
            return await _control.ReadAsync(one, cancellationToken).ConfigureAwait(false) == 1 ? (sbyte)one[0] : Closed;
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            return Closed;
        }
    }

    private async Task SendAsync(IperfState state)
    {
        _small[0] = unchecked((byte)state);
        using var step = Step();
        await _control.WriteAsync(_small.AsMemory(0, 1), step.Token).ConfigureAwait(false);
    }

    /// <summary>Forward test: read and count until TEST_END (cancellation), the stream's end or an error.</summary>
    private static async Task ReceiveAsync(DataStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[ReceiveBufferSize];
        try
        {
            while (true)
            {
                var n = await stream.Connection.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    return;
                }
                stream.Add(n);
            }
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            // the test is over or the client went away
        }
    }

    /// <summary>Reverse test: send blocks until TEST_END, or until the test's bytes (-n) or blocks (-k) are sent.</summary>
    private async Task SendAsync(DataStream stream, byte[] block, CancellationToken cancellationToken)
    {
        var bytesLimit = _parameters.Bytes;
        var blocksLimit = _parameters.Blocks;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                // The limits are the test's, over all streams (iperf3 counts test->bytes_sent).
                if (bytesLimit > 0 && Interlocked.Add(ref _reservedBytes, block.Length) - block.Length >= bytesLimit)
                {
                    return;
                }
                if (blocksLimit > 0 && Interlocked.Increment(ref _reservedBlocks) > blocksLimit)
                {
                    return;
                }
                await stream.Connection.WriteAsync(block, cancellationToken).ConfigureAwait(false);
                stream.Add(block.Length);
            }
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            // the test is over or the client went away
        }
    }

    /// <summary>-O: what moved in the first seconds is not counted, and the test's time starts after them.</summary>
    private async Task OmitAsync(DataStream[] streams, int seconds, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(seconds), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        foreach (var stream in streams)
        {
            stream.OmittedBytes = stream.Bytes;
        }
        Volatile.Write(ref _countFrom, Stopwatch.GetTimestamp());
    }

    /// <summary>The sender's block: pseudo-random bytes (iperf3 sends random data too, so nothing on the path can compress it).</summary>
    private static byte[] Payload(int length)
    {
        var block = new byte[length];
        var x = 0x9E3779B97F4A7C15UL;
        for (var i = 0; i < length; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            block[i] = (byte)x;
        }
        return block;
    }

    private void SetPhase(Phase phase)
    {
        lock (_sync)
        {
            _phase = phase;
        }
    }

    private int StreamCount()
    {
        lock (_sync)
        {
            return _streams.Count;
        }
    }

    private async Task CloseStreamsAsync()
    {
        DataStream[] streams;
        lock (_sync)
        {
            streams = [.. _streams];
        }
        foreach (var stream in streams)
        {
            if (stream.TryClose())
            {
                await CloseAsync(stream.Connection).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A token for one step of the client: the session's, cancelled after <see cref="IperfServerOptions.StepTimeout"/>.</summary>
    private CancellationTokenSource Step()
    {
        var step = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        step.CancelAfter(_options.StepTimeout);
        return step;
    }

    internal static async Task<bool> ReadExactlyAsync(ITcpConnection connection, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            var n = await connection.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }
            buffer = buffer[n..];
        }
        return true;
    }

    internal static async Task CloseAsync(ITcpConnection connection)
    {
        try
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            // already closed
        }
    }

    internal static bool IsConnectionError(Exception e) =>
        e is OperationCanceledException or System.Net.Sockets.SocketException or System.IO.IOException or ObjectDisposedException
            or InvalidOperationException or TimeoutException;

    private static string Describe(Exception e) => e switch
    {
        OperationCanceledException => "a step timed out or the server is stopping",
        System.IO.EndOfStreamException => e.Message,
        _ => e.GetType().Name + ": " + e.Message,
    };

    private sealed class DataStream(ITcpConnection connection, int id)
    {
        private long _bytes;
        private int _closed;

        public ITcpConnection Connection { get; } = connection;

        public int Id { get; } = id;

        /// <summary>Written by the stream's one worker, read by the session.</summary>
        public long Bytes => Volatile.Read(ref _bytes);

        public long OmittedBytes { get; set; }

        public void Add(int count) => Volatile.Write(ref _bytes, _bytes + count);

        public bool TryClose() => Interlocked.Exchange(ref _closed, 1) == 0;
    }
}
