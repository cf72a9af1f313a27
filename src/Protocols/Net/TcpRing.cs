using System;

namespace Unikernel.Protocols.Net;

/// <summary>
/// A byte ring that grows on demand (4 KiB, doubling) up to a fixed maximum, so an idle connection holds little memory
/// while a busy one gets its whole configured buffer. Bytes past <see cref="Count"/> may be written (out-of-order data
/// waiting for a hole to fill); they become readable with <see cref="Commit"/>.
/// </summary>
internal sealed class TcpRing
{
    private const int InitialSize = 4096;

    private byte[] _buffer = [];
    private int _head;
    private int _count;

    public TcpRing(int maximum)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maximum, 1);
        Maximum = maximum;
    }

    public int Maximum { get; }

    public int Count => _count;

    public int Free => Maximum - _count;

    /// <summary>Bytes currently allocated (for memory accounting in tests and benchmarks).</summary>
    public int Allocated => _buffer.Length;

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> bytes past the head; false when it would pass the maximum.</summary>
    public bool WriteAt(int offset, ReadOnlySpan<byte> data)
    {
        if (offset < 0 || (long)offset + data.Length > Maximum)
        {
            return false;
        }
        Ensure(offset + data.Length);
        var start = (_head + offset) % _buffer.Length;
        var first = Math.Min(data.Length, _buffer.Length - start);
        data[..first].CopyTo(_buffer.AsSpan(start));
        data[first..].CopyTo(_buffer);
        return true;
    }

    /// <summary>Appends at the end of the readable bytes; returns how many fitted.</summary>
    public int Append(ReadOnlySpan<byte> data)
    {
        var n = Math.Min(data.Length, Free);
        WriteAt(_count, data[..n]);
        _count += n;
        return n;
    }

    /// <summary>Makes <paramref name="n"/> bytes already written past the end readable.</summary>
    public void Commit(int n) => _count = Math.Min(Maximum, _count + n);

    /// <summary>Copies bytes from <paramref name="offset"/> past the head (they must be readable).</summary>
    public void ReadAt(int offset, Span<byte> destination)
    {
        if (destination.IsEmpty)
        {
            return;
        }
        var start = (_head + offset) % _buffer.Length;
        var first = Math.Min(destination.Length, _buffer.Length - start);
        _buffer.AsSpan(start, first).CopyTo(destination);
        _buffer.AsSpan(0, destination.Length - first).CopyTo(destination[first..]);
    }

    /// <summary>Drops <paramref name="n"/> bytes from the head.</summary>
    public void Discard(int n)
    {
        n = Math.Min(n, _count);
        if (n == 0)
        {
            return;
        }
        _head = (_head + n) % _buffer.Length;
        _count -= n;
    }

    /// <summary>Frees the memory (the connection is finished with this direction).</summary>
    public void Release()
    {
        _buffer = [];
        _head = 0;
        _count = 0;
    }

    private void Ensure(int needed)
    {
        if (needed <= _buffer.Length)
        {
            return;
        }
        var size = Math.Max(InitialSize, _buffer.Length);
        while (size < needed)
        {
            size *= 2;
        }
        size = Math.Min(size, Maximum);
        var grown = new byte[size];
        if (_buffer.Length > 0)
        {
            // Keep every byte (readable and out-of-order ones) in place relative to the head.
            var tail = _buffer.Length - _head;
            _buffer.AsSpan(_head).CopyTo(grown);
            _buffer.AsSpan(0, _head).CopyTo(grown.AsSpan(tail));
        }
        _buffer = grown;
        _head = 0;
    }
}
