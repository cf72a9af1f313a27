using System.Buffers.Binary;
using System.Net.Sockets;
using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>A raw OpenFlow peer over a stream socket, for tests: sends bytes we encoded, returns whole messages it receives.</summary>
public sealed class OfPeer(Stream stream) : IDisposable
{
    private readonly byte[] _header = new byte[OfMessage.HeaderLength];

    /// <summary>Every message received, in order (the golden bytes a test checks).</summary>
    public List<byte[]> Received { get; } = [];

    public static OfPeer Accept(Socket listener, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var socket = listener.AcceptAsync(cts.Token).AsTask().GetAwaiter().GetResult();
        return new OfPeer(new NetworkStream(socket, ownsSocket: true));
    }

    public void Send(ReadOnlySpan<byte> message) => stream.Write(message);

    public delegate bool Writer(Span<byte> destination, uint xid, out int written);

    /// <summary>Encodes with <paramref name="write"/> and sends; returns the bytes.</summary>
    public byte[] Send(Writer write, uint xid)
    {
        var buffer = new byte[OfMessage.MaxLength];
        Assert.True(write(buffer, xid, out var n), "the message does not encode");
        Send(buffer.AsSpan(0, n));
        return buffer[..n];
    }

    /// <summary>The next message, or null when none arrives in time or the peer closed.</summary>
    public byte[]? Read(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            if (!Fill(_header, cts.Token))
            {
                return null;
            }
            int length = BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(2));
            Assert.True(length >= OfMessage.HeaderLength, "a message with a length below 8");
            var message = new byte[length];
            _header.CopyTo(message, 0);
            if (!Fill(message.AsMemory(OfMessage.HeaderLength), cts.Token))
            {
                return null;
            }
            Received.Add(message);
            return message;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Reads until a message of <paramref name="type"/> (and <paramref name="xid"/> when given) arrives; others are kept in <see cref="Received"/>.</summary>
    public byte[] ReadUntil(OfType type, TimeSpan timeout, uint? xid = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var message = Read(deadline - DateTime.UtcNow);
            if (message is null)
            {
                break;
            }
            if ((OfType)message[1] == type && (xid is null || BinaryPrimitives.ReadUInt32BigEndian(message.AsSpan(4)) == xid))
            {
                return message;
            }
        }
        Assert.Fail($"no {type} message within {timeout.TotalSeconds} s; received: {string.Join(", ", Received.Select(m => (OfType)m[1]))}");
        return null!;
    }

    private bool Fill(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var n = stream.ReadAsync(buffer[filled..], cancellationToken).AsTask().GetAwaiter().GetResult();
            if (n == 0)
            {
                return false;
            }
            filled += n;
        }
        return true;
    }

    public void Dispose() => stream.Dispose();
}
