using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Dns;

public enum TsigStatus
{
    /// <summary>Signed with a known key, MAC and time good.</summary>
    Ok,
    /// <summary>The TSIG record is malformed, or its MAC length breaks RFC 8945 5.2.2.1 (FORMERR).</summary>
    FormErr,
    BadKey,
    BadSig,
    /// <summary>MAC good, but the time signed is outside the fudge (the response is signed, RFC 8945 5.2.3).</summary>
    BadTime,
}

/// <summary>What a signed request tells its response: the key, the request's MAC, ID and time (RFC 8945).</summary>
public sealed class TsigRequest
{
    public TsigKey? Key { get; set; }
    public byte[] Mac { get; set; } = [];
    public ushort OriginalId { get; set; }
    public long TimeSigned { get; set; }
    public ushort Fudge { get; set; }
}

/// <summary>
/// TSIG (RFC 8945) verification of requests and signing of responses, including the MAC chaining of multi-message
/// responses (section 5.3.1: each message's MAC covers the previous MAC, the message and the timers).
/// </summary>
public static class TsigSigner
{
    /// <summary>The fudge we sign with and accept at most (RFC 8945 10 recommends 300 s).</summary>
    public const ushort DefaultFudge = 300;

    /// <summary>Most octets the TSIG record we append can take, for reserving room in a response.</summary>
    public static int Reserve(TsigKey key) => key.Name.Wire.Length + 10 + key.AlgorithmName.Wire.Length + 16 + key.MacSize + 6;

    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>
    /// Verifies the TSIG record at <paramref name="tsigAt"/> (the last record of <paramref name="message"/>) against
    /// <paramref name="keys"/> at time <paramref name="now"/> (seconds since 1970), in RFC 8945 5.2's order: key, MAC,
    /// time. <paramref name="request"/> gets what the response needs even when the status is an error.
    /// </summary>
    public static TsigStatus Verify(ReadOnlySpan<byte> message, int tsigAt, TsigKeyring keys, long now, out TsigRequest request)
    {
        request = new TsigRequest();
        Span<byte> name = stackalloc byte[DnsName.MaxLength];
        if (message.Length < 12 || !DnsName.TryRead(message, tsigAt, name, out var nameLength, out var at) || at + 10 > message.Length)
        {
            return TsigStatus.FormErr;
        }
        var @class = BinaryPrimitives.ReadUInt16BigEndian(message[(at + 2)..]);
        var ttl = BinaryPrimitives.ReadUInt32BigEndian(message[(at + 4)..]);
        int rdLength = BinaryPrimitives.ReadUInt16BigEndian(message[(at + 8)..]);
        if (@class != DnsClass.ANY || ttl != 0 || at + 10 + rdLength != message.Length)
        {
            return TsigStatus.FormErr;
        }
        var rdata = message.Slice(at + 10, rdLength);
        if (!DnsName.IsValidWire(rdata, out var algorithmLength) || algorithmLength + 10 > rdata.Length)
        {
            return TsigStatus.FormErr;
        }
        var algorithm = rdata[..algorithmLength];
        var p = algorithmLength;
        var timeSigned = ((long)BinaryPrimitives.ReadUInt16BigEndian(rdata[p..]) << 32) | BinaryPrimitives.ReadUInt32BigEndian(rdata[(p + 2)..]);
        var fudge = BinaryPrimitives.ReadUInt16BigEndian(rdata[(p + 6)..]);
        int macSize = BinaryPrimitives.ReadUInt16BigEndian(rdata[(p + 8)..]);
        p += 10;
        if (p + macSize + 6 > rdata.Length)
        {
            return TsigStatus.FormErr;
        }
        var mac = rdata.Slice(p, macSize);
        p += macSize;
        var originalId = BinaryPrimitives.ReadUInt16BigEndian(rdata[p..]);
        int otherLength = BinaryPrimitives.ReadUInt16BigEndian(rdata[(p + 4)..]);
        if (p + 6 + otherLength != rdata.Length)
        {
            return TsigStatus.FormErr;
        }
        request.OriginalId = originalId;
        request.TimeSigned = timeSigned;
        request.Fudge = fudge;
        Span<char> nameKey = stackalloc char[DnsName.MaxLength];
        var keyLength = DnsName.WriteKey(name[..nameLength], nameKey);
        var key = keys.Find(nameKey[..keyLength]);
        Span<byte> lowerAlgorithm = stackalloc byte[DnsName.MaxLength];
        Lower(algorithm, lowerAlgorithm);
        if (key is null || !lowerAlgorithm[..algorithmLength].SequenceEqual(key.AlgorithmName.Wire))
        {
            return TsigStatus.BadKey;
        }
        request.Key = key;
        // RFC 8945 5.2.2.1: a MAC longer than the hash or shorter than max(10, half the hash) is a format error.
        if (macSize > key.MacSize || macSize < Math.Max(10, key.MacSize / 2))
        {
            return TsigStatus.FormErr;
        }
        var hmac = key.CreateHmac();
        Span<byte> header = stackalloc byte[12];
        message[..12].CopyTo(header);
        BinaryPrimitives.WriteUInt16BigEndian(header, originalId);
        BinaryPrimitives.WriteUInt16BigEndian(header[10..], (ushort)(BinaryPrimitives.ReadUInt16BigEndian(header[10..]) - 1));
        hmac.Append(header);
        hmac.Append(message[12..tsigAt]);
        AppendVariables(hmac, key, rdata.Slice(algorithmLength, 8), rdata.Slice(p + 2, 4 + otherLength));
        Span<byte> expected = stackalloc byte[64];
        hmac.Finish(expected);
        if (!FixedTimeEquals(expected[..macSize], mac))
        {
            return TsigStatus.BadSig;
        }
        request.Mac = mac.ToArray();
        return Math.Abs(now - timeSigned) > fudge ? TsigStatus.BadTime : TsigStatus.Ok;
    }

    /// <summary>
    /// Appends a TSIG record signed with <paramref name="key"/> to the message of <paramref name="length"/> octets in
    /// <paramref name="buffer"/> and increments its ARCOUNT. The MAC covers <paramref name="priorMac"/> (the request's
    /// MAC, or the previous message's in a multi-message response; empty for a request), the message, and the TSIG
    /// variables, or only the timers when <paramref name="timersOnly"/> (the second and later messages of a response,
    /// RFC 8945 5.3.1). The new MAC goes to <paramref name="mac"/> (at least <see cref="TsigKey.MacSize"/> octets).
    /// Returns the new length, or -1 when the record does not fit.
    /// </summary>
    public static int Sign(Span<byte> buffer, int length, TsigKey key, ReadOnlySpan<byte> priorMac, bool timersOnly, long timeSigned, ushort originalId,
        int error, ReadOnlySpan<byte> other, Span<byte> mac, ushort fudge = DefaultFudge)
    {
        var algorithm = key.AlgorithmName.Wire;
        var owner = key.Name.Wire;
        var rdLength = algorithm.Length + 10 + key.MacSize + 6 + other.Length;
        if (length + owner.Length + 10 + rdLength > buffer.Length)
        {
            return -1;
        }
        Span<byte> timers = stackalloc byte[8];
        BinaryPrimitives.WriteUInt16BigEndian(timers, (ushort)(timeSigned >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(timers[2..], (uint)timeSigned);
        BinaryPrimitives.WriteUInt16BigEndian(timers[6..], fudge);
        Span<byte> tail = stackalloc byte[4 + 64];
        BinaryPrimitives.WriteUInt16BigEndian(tail, (ushort)error);
        BinaryPrimitives.WriteUInt16BigEndian(tail[2..], (ushort)other.Length);
        var hmac = key.CreateHmac();
        if (priorMac.Length > 0)
        {
            Span<byte> macLength = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(macLength, (ushort)priorMac.Length);
            hmac.Append(macLength);
            hmac.Append(priorMac);
        }
        hmac.Append(buffer[..length]);
        if (timersOnly)
        {
            hmac.Append(timers);
        }
        else
        {
            hmac.Append(owner);
            ReadOnlySpan<byte> classTtl = [0x00, 0xFF, 0, 0, 0, 0];
            hmac.Append(classTtl);
            hmac.Append(algorithm);
            hmac.Append(timers);
            hmac.Append(tail[..4]);
            hmac.Append(other);
        }
        hmac.Finish(mac);
        var w = buffer[length..];
        owner.CopyTo(w);
        var q = owner.Length;
        BinaryPrimitives.WriteUInt16BigEndian(w[q..], DnsType.TSIG);
        BinaryPrimitives.WriteUInt16BigEndian(w[(q + 2)..], DnsClass.ANY);
        BinaryPrimitives.WriteUInt32BigEndian(w[(q + 4)..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(w[(q + 8)..], (ushort)rdLength);
        q += 10;
        algorithm.CopyTo(w[q..]);
        q += algorithm.Length;
        timers.CopyTo(w[q..]);
        q += 8;
        BinaryPrimitives.WriteUInt16BigEndian(w[q..], (ushort)key.MacSize);
        q += 2;
        mac[..key.MacSize].CopyTo(w[q..]);
        q += key.MacSize;
        BinaryPrimitives.WriteUInt16BigEndian(w[q..], originalId);
        tail[..4].CopyTo(w[(q + 2)..]);
        other.CopyTo(w[(q + 6)..]);
        q += 6 + other.Length;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[10..], (ushort)(BinaryPrimitives.ReadUInt16BigEndian(buffer[10..]) + 1));
        return length + q;
    }

    /// <summary>Signs a response to <paramref name="request"/> (its MAC first; error 0, BADTIME with our time as other data).</summary>
    public static int SignResponse(Span<byte> buffer, int length, TsigRequest request, int error, long now, Span<byte> mac)
    {
        Span<byte> other = stackalloc byte[6];
        var otherLength = 0;
        if (error == Tsig.BadTime)
        {
            BinaryPrimitives.WriteUInt16BigEndian(other, (ushort)(now >> 32));
            BinaryPrimitives.WriteUInt32BigEndian(other[2..], (uint)now);
            otherLength = 6;
        }
        // BADTIME: the time signed is the request's (RFC 8945 5.2.3), so the client can compute the MAC it expects.
        var time = error == Tsig.BadTime ? request.TimeSigned : now;
        return Sign(buffer, length, request.Key!, request.Mac, timersOnly: false, time, request.OriginalId, error, other[..otherLength], mac);
    }

    private static void AppendVariables(TsigHmac hmac, TsigKey key, ReadOnlySpan<byte> timers, ReadOnlySpan<byte> errorAndOther)
    {
        hmac.Append(key.Name.Wire);
        ReadOnlySpan<byte> classTtl = [0x00, 0xFF, 0, 0, 0, 0];
        hmac.Append(classTtl);
        hmac.Append(key.AlgorithmName.Wire);
        hmac.Append(timers);
        hmac.Append(errorAndOther);
    }

    private static void Lower(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        for (var i = 0; i < source.Length; i++)
        {
            var b = source[i];
            destination[i] = b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b | 0x20) : b;
        }
    }

    private static bool FixedTimeEquals(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != b.Length)
        {
            return false;
        }
        var diff = 0;
        for (var i = 0; i < a.Length; i++)
        {
            diff |= a[i] ^ b[i];
        }
        return diff == 0;
    }
}
