using System;
using System.Buffers;
using System.Buffers.Text;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.Http;

/// <summary>
/// What a connection has to send, in order: bytes copied into its own buffer (status lines, fields, small bodies)
/// interleaved with prepared bodies sent from where they lie (a file's bytes in the image), so pipelined responses
/// go out in one write where they fit and large bodies are never copied. Fixed capacity, allocated once per connection.
/// </summary>
public sealed class ResponseOutput : IDisposable
{
    private struct Piece
    {
        public ReadOnlyMemory<byte> External;
        public int Start;
        public int Length;
    }

    /// <summary>Bodies up to this size are copied next to their head (one write for both).</summary>
    public const int CopyThreshold = 8192;

    private readonly byte[] _buffer;
    private readonly Piece[] _pieces = new Piece[48];
    private int _length;
    private int _pieceCount;
    private int _pieceStart;

    public ResponseOutput(int size = 32 * 1024)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(size);
    }

    /// <summary>Bytes and pieces free: a response head plus the parts of a multipart body fit when this holds.</summary>
    public bool HasRoom(int bytes, int pieces) => _buffer.Length - _length >= bytes && _pieces.Length - _pieceCount >= pieces + 1;

    public bool IsEmpty => _pieceCount == 0 && _length == _pieceStart;

    public int FreeBytes => _buffer.Length - _length;

    public void Append(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    public void AppendAscii(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            _buffer[_length + i] = (byte)text[i];
        }
        _length += text.Length;
    }

    public void AppendDecimal(long value)
    {
        Utf8Formatter.TryFormat(value, _buffer.AsSpan(_length), out var written);
        _length += written;
    }

    /// <summary>A body: copied when small and there is room, else queued to be sent from where it is.</summary>
    public void AppendBody(ReadOnlyMemory<byte> body)
    {
        if (body.Length <= CopyThreshold && body.Length <= FreeBytes - 1024)
        {
            Append(body.Span);
            return;
        }
        CloseBufferPiece();
        _pieces[_pieceCount++] = new Piece { External = body };
    }

    private void CloseBufferPiece()
    {
        if (_length > _pieceStart)
        {
            _pieces[_pieceCount++] = new Piece { Start = _pieceStart, Length = _length - _pieceStart };
            _pieceStart = _length;
        }
    }

    /// <summary>Sends everything queued, in order, and empties the output.</summary>
    public async ValueTask FlushAsync(ITcpConnection connection, CancellationToken cancellationToken)
    {
        CloseBufferPiece();
        for (var i = 0; i < _pieceCount; i++)
        {
            var piece = _pieces[i];
            var bytes = piece.External.IsEmpty ? _buffer.AsMemory(piece.Start, piece.Length) : piece.External;
            _pieces[i] = default;
            await connection.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        _pieceCount = 0;
        _length = 0;
        _pieceStart = 0;
    }

    public void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);
}
