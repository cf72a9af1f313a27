using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Dns;

/// <summary>
/// Writes a DNS message into a caller-provided buffer with name compression (RFC 1035 4.1.4). Never allocates;
/// every <c>TryWrite…</c> returns false (and leaves the position unchanged) when the data does not fit, so callers can
/// truncate cleanly. The compression table is caller-provided storage (e.g. <c>stackalloc ushort[128]</c>).
/// </summary>
public ref struct DnsMessageWriter
{
    public const int HeaderLength = 12;

    private readonly Span<byte> _buffer;
    private readonly Span<ushort> _table;
    private int _tableCount;
    private int _position;

    public DnsMessageWriter(Span<byte> buffer, Span<ushort> compressionTable)
    {
        _buffer = buffer;
        _table = compressionTable;
        _tableCount = 0;
        _position = 0;
    }

    public readonly int Position => _position;

    public readonly int Capacity => _buffer.Length;

    public readonly Span<byte> Written => _buffer[.._position];

    /// <summary>Moves back to <paramref name="position"/> (dropping what was written after it and its compression entries).</summary>
    public void Rewind(int position)
    {
        _position = position;
        while (_tableCount > 0 && _table[_tableCount - 1] >= position)
        {
            _tableCount--;
        }
    }

    public bool TryWriteHeader(ushort id, ushort flags, ushort qdCount, ushort anCount, ushort nsCount, ushort arCount)
    {
        if (_buffer.Length < HeaderLength)
        {
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(_buffer, id);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[2..], flags);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[4..], qdCount);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[6..], anCount);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[8..], nsCount);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[10..], arCount);
        if (_position < HeaderLength)
        {
            _position = HeaderLength;
        }
        return true;
    }

    /// <summary>Patches a 16-bit header field (offset 0 id, 2 flags, 4..10 counts).</summary>
    public readonly void SetHeaderField(int offset, ushort value) => BinaryPrimitives.WriteUInt16BigEndian(_buffer[offset..], value);

    public readonly ushort GetHeaderField(int offset) => BinaryPrimitives.ReadUInt16BigEndian(_buffer[offset..]);

    /// <summary>Writes an uncompressed wire name, replacing its longest already-written suffix by a pointer when <paramref name="compress"/>.</summary>
    public bool TryWriteName(ReadOnlySpan<byte> name, bool compress = true)
    {
        var start = _position;
        var tableStart = _tableCount;
        var i = 0;
        while (name[i] != 0)
        {
            var suffix = name[i..];
            if (compress)
            {
                var match = FindSuffix(suffix, tableStart); // only names written completely before this one
                if (match >= 0)
                {
                    if (_position + 2 > _buffer.Length)
                    {
                        Fail(start, tableStart);
                        return false;
                    }
                    BinaryPrimitives.WriteUInt16BigEndian(_buffer[_position..], (ushort)(0xC000 | match));
                    _position += 2;
                    return true;
                }
            }
            int label = name[i];
            if (_position + label + 1 > _buffer.Length)
            {
                Fail(start, tableStart);
                return false;
            }
            if (_position < 0x3FFF && _tableCount < _table.Length)
            {
                _table[_tableCount++] = (ushort)_position;
            }
            name.Slice(i, label + 1).CopyTo(_buffer[_position..]);
            _position += label + 1;
            i += label + 1;
        }
        if (_position + 1 > _buffer.Length)
        {
            Fail(start, tableStart);
            return false;
        }
        _buffer[_position++] = 0;
        return true;
    }

    private void Fail(int start, int tableStart)
    {
        _position = start;
        _tableCount = tableStart;
    }

    private readonly int FindSuffix(ReadOnlySpan<byte> suffix, int entries)
    {
        for (var t = 0; t < entries; t++)
        {
            if (NameAtEquals(_table[t], suffix))
            {
                return _table[t];
            }
        }
        return -1;
    }

    private readonly bool NameAtEquals(int offset, ReadOnlySpan<byte> name)
    {
        var i = 0;
        var hops = 0;
        while (true)
        {
            int label = _buffer[offset];
            if ((label & 0xC0) == 0xC0)
            {
                if (++hops > 64)
                {
                    return false;
                }
                offset = ((label & 0x3F) << 8) | _buffer[offset + 1];
                continue;
            }
            if (label != name[i])
            {
                return false;
            }
            if (label == 0)
            {
                return true;
            }
            for (var k = 1; k <= label; k++)
            {
                var a = _buffer[offset + k];
                var b = name[i + k];
                if (a != b && Lower(a) != Lower(b))
                {
                    return false;
                }
            }
            offset += label + 1;
            i += label + 1;
        }
    }

    private static int Lower(byte b) => b is >= (byte)'A' and <= (byte)'Z' ? b + 32 : b;

    public bool TryWriteQuestion(ReadOnlySpan<byte> name, ushort type, ushort @class)
    {
        var start = _position;
        var tableStart = _tableCount;
        if (!TryWriteName(name) || _position + 4 > _buffer.Length)
        {
            Fail(start, tableStart);
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[_position..], type);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[(_position + 2)..], @class);
        _position += 4;
        return true;
    }

    /// <summary>
    /// Writes a resource record whose RDATA is given in uncompressed wire form; names inside the RDATA of the RFC 1035
    /// types (NS, CNAME, PTR, MX, SOA) are compressed, others are copied as they are (RFC 3597 section 4).
    /// </summary>
    public bool TryWriteRecord(ReadOnlySpan<byte> owner, ushort type, ushort @class, uint ttl, ReadOnlySpan<byte> rdata)
    {
        var start = _position;
        var tableStart = _tableCount;
        if (!TryWriteName(owner) || _position + 10 > _buffer.Length)
        {
            Fail(start, tableStart);
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[_position..], type);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[(_position + 2)..], @class);
        BinaryPrimitives.WriteUInt32BigEndian(_buffer[(_position + 4)..], ttl);
        var lengthAt = _position + 8;
        _position += 10;
        var rdataStart = _position;
        bool ok;
        switch (type)
        {
            case DnsType.NS:
            case DnsType.CNAME:
            case DnsType.PTR:
                ok = TryWriteName(rdata);
                break;
            case DnsType.MX:
                ok = TryWriteRaw(rdata[..2]) && TryWriteName(rdata[2..]);
                break;
            case DnsType.SOA:
                DnsName.IsValidWire(rdata, out var mname);
                DnsName.IsValidWire(rdata[mname..], out var rname);
                ok = TryWriteName(rdata[..mname]) && TryWriteName(rdata.Slice(mname, rname)) && TryWriteRaw(rdata[(mname + rname)..]);
                break;
            default:
                ok = TryWriteRaw(rdata);
                break;
        }
        if (!ok)
        {
            Fail(start, tableStart);
            return false;
        }
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[lengthAt..], (ushort)(_position - rdataStart));
        return true;
    }

    /// <summary>The EDNS(0) OPT pseudo-record (RFC 6891) with no options.</summary>
    public bool TryWriteOpt(ushort udpPayloadSize, byte extendedRcode, byte version, ushort flags) =>
        TryWriteOpt(udpPayloadSize, extendedRcode, version, flags, []);

    /// <summary>The EDNS(0) OPT pseudo-record (RFC 6891) with <paramref name="options"/> (encoded) as its RDATA.</summary>
    public bool TryWriteOpt(ushort udpPayloadSize, byte extendedRcode, byte version, ushort flags, scoped ReadOnlySpan<byte> options)
    {
        if (_position + 11 + options.Length > _buffer.Length)
        {
            return false;
        }
        var b = _buffer[_position..];
        b[0] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(b[1..], DnsType.OPT);
        BinaryPrimitives.WriteUInt16BigEndian(b[3..], udpPayloadSize);
        b[5] = extendedRcode;
        b[6] = version;
        BinaryPrimitives.WriteUInt16BigEndian(b[7..], flags);
        BinaryPrimitives.WriteUInt16BigEndian(b[9..], (ushort)options.Length);
        options.CopyTo(b[11..]);
        _position += 11 + options.Length;
        return true;
    }

    public bool TryWriteRaw(ReadOnlySpan<byte> bytes)
    {
        if (_position + bytes.Length > _buffer.Length)
        {
            return false;
        }
        bytes.CopyTo(_buffer[_position..]);
        _position += bytes.Length;
        return true;
    }
}
