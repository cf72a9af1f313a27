using System;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.OpenFlow;

/// <summary>Handles one framed message; the view is valid only during the call.</summary>
public delegate void OfMessageHandler(OfMessage message);

/// <summary>
/// An OpenFlow channel over a TCP connection: splits the byte stream into messages and queues outgoing ones.
/// Memory is bounded: one receive buffer of two maximum-size messages and two output buffers of
/// <see cref="OutputCapacity"/> bytes (one filling while the other is written). Sending never blocks: a full output
/// buffer refuses the message (<see cref="TrySend"/> returns false) and the caller decides to drop (packet_in from the
/// data path) or to wait for room (<see cref="WaitForRoomAsync"/>, which stops reading a peer that does not read).
/// </summary>
public sealed class OfConnection : IAsyncDisposable
{
    public const int DefaultOutputCapacity = 1 << 20;

    private readonly ITcpConnection _connection;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _pending = new(0, 1);
    private readonly SemaphoreSlim _drained = new(0, 1);
    private readonly byte[] _input = new byte[2 * OfMessage.MaxLength];
    private byte[] _filling;
    private byte[] _writing;
    private int _filled;
    private bool _closed;
    private bool _flushing;
    private long _dropped;
    private long _sentMessages;
    private bool _signalDeferred;

    /// <summary>
    /// The connection whose read loop is running handlers on this thread: what they send is flushed by that loop
    /// after the batch, so <see cref="TrySend"/> does not wake the write loop (a thread-pool hop and a futex per
    /// message in the latency-bound packet_in → flow_mod exchange).
    /// </summary>
    [ThreadStatic]
    private static OfConnection? t_handling;

    public OfConnection(ITcpConnection connection, int outputCapacity = DefaultOutputCapacity)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputCapacity, OfMessage.MaxLength);
        _connection = connection;
        OutputCapacity = outputCapacity;
        _filling = new byte[outputCapacity];
        _writing = new byte[outputCapacity];
    }

    public int OutputCapacity { get; }

    public System.Net.IPEndPoint RemoteEndPoint => _connection.RemoteEndPoint;

    /// <summary>Bytes queued and not yet handed to the connection.</summary>
    public int PendingBytes
    {
        get
        {
            lock (_gate)
            {
                return _filled;
            }
        }
    }

    /// <summary>Messages refused because the output buffer was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public long SentMessages => Interlocked.Read(ref _sentMessages);

    /// <summary>Queues one complete message (copied); false when the output buffer has no room or the channel is closed.</summary>
    public bool TrySend(ReadOnlySpan<byte> message)
    {
        lock (_gate)
        {
            if (_closed || _filled + message.Length > OutputCapacity)
            {
                Interlocked.Increment(ref _dropped);
                return false;
            }
            message.CopyTo(_filling.AsSpan(_filled));
            var wasEmpty = _filled == 0;
            _filled += message.Length;
            _sentMessages++;
            if (wasEmpty)
            {
                if (t_handling == this)
                {
                    _signalDeferred = true;
                }
                else if (_pending.CurrentCount == 0)
                {
                    _pending.Release();
                }
            }
            return true;
        }
    }

    /// <summary>Waits until at most <paramref name="limit"/> bytes are queued (the writer has caught up).</summary>
    public async ValueTask WaitForRoomAsync(int limit, CancellationToken cancellationToken)
    {
        while (true)
        {
            lock (_gate)
            {
                if (_closed || _filled <= limit)
                {
                    return;
                }
            }
            await _drained.WaitAsync(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes queued messages until <paramref name="cancellationToken"/> is cancelled or the peer goes away.</summary>
    public async Task WriteLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await _pending.WaitAsync(cancellationToken).ConfigureAwait(false);
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or System.IO.IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // shutting down, or the peer went away: the read loop sees the end of the stream
        }
        finally
        {
            Close();
        }
    }

    /// <summary>
    /// Writes what is queued now, and whatever is queued while it writes, unless another flush is already doing so
    /// (then that one drains it). The read loop calls this after each batch, so an answer leaves without a thread hop.
    /// </summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_flushing || _filled == 0)
            {
                return;
            }
            _flushing = true;
        }
        try
        {
            while (true)
            {
                int count;
                lock (_gate)
                {
                    count = _filled;
                    if (count == 0)
                    {
                        _flushing = false;
                        return;
                    }
                    (_filling, _writing) = (_writing, _filling);
                    _filled = 0;
                }
                await _connection.WriteAsync(_writing.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
                if (_drained.CurrentCount == 0)
                {
                    try
                    {
                        _drained.Release();
                    }
                    catch (SemaphoreFullException)
                    {
                        // a racing release already signalled the waiter
                    }
                }
            }
        }
        catch
        {
            lock (_gate)
            {
                _flushing = false;
            }
            throw;
        }
    }

    /// <summary>
    /// Reads and frames messages, calling <paramref name="handler"/> for each, until the peer closes, a message is
    /// malformed (length below 8), or <paramref name="cancellationToken"/> is cancelled. After each read the handler has
    /// seen every complete message, then <paramref name="afterBatch"/> runs (where a caller applies backpressure).
    /// Returns why it stopped.
    /// </summary>
    public async Task<string> ReadLoopAsync(OfMessageHandler handler, Func<CancellationToken, ValueTask>? afterBatch, CancellationToken cancellationToken)
    {
        var filled = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var read = await _connection.ReadAsync(_input.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return "closed by peer";
                }
                filled += read;
                var consumed = HandleBatch(handler, filled, out var malformed);
                if (malformed)
                {
                    return "malformed message header (length below 8)";
                }
                if (consumed > 0)
                {
                    _input.AsSpan(consumed, filled - consumed).CopyTo(_input);
                    filled -= consumed;
                }
                if (afterBatch is not null)
                {
                    await afterBatch(cancellationToken).ConfigureAwait(false);
                }
                SignalDeferred();
            }
            return "cancelled";
        }
        catch (OperationCanceledException)
        {
            return "cancelled";
        }
        catch (Exception e) when (e is System.IO.IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException)
        {
            return e.Message;
        }
    }

    /// <summary>Runs the handler on every complete message in the input; what it sends waits for the batch's end.</summary>
    private int HandleBatch(OfMessageHandler handler, int filled, out bool malformed)
    {
        malformed = false;
        var consumed = 0;
        var outer = t_handling;
        t_handling = this;
        try
        {
            while (true)
            {
                var length = OfMessage.FrameLength(_input.AsSpan(consumed, filled - consumed));
                if (length < 0)
                {
                    malformed = true;
                    return consumed;
                }
                if (length == 0 || length > filled - consumed)
                {
                    return consumed;
                }
                OfMessage.TryCreate(_input.AsSpan(consumed, length), out var message);
                handler(message);
                consumed += length;
            }
        }
        finally
        {
            t_handling = outer;
        }
    }

    /// <summary>After a batch (and its flush, if the caller flushes): wake the write loop only for what is still queued.</summary>
    private void SignalDeferred()
    {
        lock (_gate)
        {
            if (!_signalDeferred)
            {
                return;
            }
            _signalDeferred = false;
            if (_filled == 0 || _pending.CurrentCount > 0)
            {
                return;
            }
            _pending.Release();
        }
    }

    /// <summary>
    /// Accepts connections until <paramref name="cancellationToken"/> is cancelled, serving each on its own task; then
    /// closes the listener and gives the connections a few seconds to finish.
    /// </summary>
    public static async Task AcceptLoopAsync(ITcpListener listener, Func<ITcpConnection, Task> serve, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentNullException.ThrowIfNull(serve);
        var tasks = new System.Collections.Generic.List<Task>();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                ITcpConnection connection;
                try
                {
                    connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                catch (System.Net.Sockets.SocketException)
                {
                    continue; // e.g. the peer reset before accept completed
                }
                tasks.RemoveAll(t => t.IsCompleted);
                tasks.Add(Task.Run(() => serve(connection), CancellationToken.None));
            }
        }
        finally
        {
            listener.Dispose();
            try
            {
                await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // a connection did not stop in time; its socket is closed with the process
            }
        }
    }

    private void Close()
    {
        lock (_gate)
        {
            _closed = true;
            _filled = 0;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Close();
        try
        {
            _connection.ShutdownSend();
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            // already closed
        }
        await _connection.DisposeAsync().ConfigureAwait(false);
    }
}
