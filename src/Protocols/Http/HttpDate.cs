using System;
using System.Threading;
using Unikernel.Devices;

namespace Unikernel.Protocols.Http;

/// <summary>IMF-fixdate (RFC 9110 5.6.7): formatting, parsing without allocation, and a per-second cached Date field.</summary>
public static class HttpDate
{
    public const int Length = 29; // "Sun, 06 Nov 1994 08:49:37 GMT"

    private static ReadOnlySpan<byte> Days => "SunMonTueWedThuFriSat"u8;

    private static ReadOnlySpan<byte> Months => "JanFebMarAprMayJunJulAugSepOctNovDec"u8;

    public static void Format(DateTimeOffset time, Span<byte> destination)
    {
        var utc = time.UtcDateTime;
        Days.Slice((int)utc.DayOfWeek * 3, 3).CopyTo(destination);
        destination[3] = (byte)',';
        destination[4] = (byte)' ';
        Two(utc.Day, destination[5..]);
        destination[7] = (byte)' ';
        Months.Slice((utc.Month - 1) * 3, 3).CopyTo(destination[8..]);
        destination[11] = (byte)' ';
        Two(utc.Year / 100, destination[12..]);
        Two(utc.Year % 100, destination[14..]);
        destination[16] = (byte)' ';
        Two(utc.Hour, destination[17..]);
        destination[19] = (byte)':';
        Two(utc.Minute, destination[20..]);
        destination[22] = (byte)':';
        Two(utc.Second, destination[23..]);
        " GMT"u8.CopyTo(destination[25..]);
    }

    private static void Two(int value, Span<byte> destination)
    {
        destination[0] = (byte)('0' + value / 10);
        destination[1] = (byte)('0' + value % 10);
    }

    /// <summary>Parses an IMF-fixdate; false for anything else (obsolete formats are ignored, as RFC 9110 allows for conditionals).</summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out DateTimeOffset time)
    {
        time = default;
        if (text.Length != Length || text[3] != ',' || text[4] != ' ' || text[7] != ' ' || text[11] != ' ' || text[16] != ' '
            || text[19] != ':' || text[22] != ':' || !text[25..].SequenceEqual(" GMT"u8))
        {
            return false;
        }
        var month = -1;
        for (var m = 0; m < 12; m++)
        {
            if (text.Slice(8, 3).SequenceEqual(Months.Slice(m * 3, 3)))
            {
                month = m + 1;
            }
        }
        if (month < 0
            || !Number(text.Slice(5, 2), out var day) || !Number(text.Slice(12, 4), out var year) || !Number(text.Slice(17, 2), out var hour)
            || !Number(text.Slice(20, 2), out var minute) || !Number(text.Slice(23, 2), out var second))
        {
            return false;
        }
        if (year < 1 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 60)
        {
            return false;
        }
        time = new DateTimeOffset(year, month, day, hour, minute, Math.Min(second, 59), TimeSpan.Zero);
        return true;
    }

    private static bool Number(ReadOnlySpan<byte> digits, out int value)
    {
        value = 0;
        foreach (var b in digits)
        {
            if (!char.IsAsciiDigit((char)b))
            {
                return false;
            }
            value = value * 10 + (b - '0');
        }
        return true;
    }
}

/// <summary>
/// The <c>Date: ...\r\n</c> field for responses, formatted once a second (RFC 9110 6.6.1 allows second resolution), so
/// the response path only copies bytes.
/// </summary>
public sealed class DateField(IWallClock clock)
{
    public const int Length = 6 + HttpDate.Length + 2;

    private sealed class Entry(long second, byte[] bytes)
    {
        public long Second { get; } = second;

        public byte[] Bytes { get; } = bytes;
    }

    private Entry? _current;

    public ReadOnlySpan<byte> Current
    {
        get
        {
            var now = clock.UtcNow;
            var second = now.ToUnixTimeSeconds();
            var entry = Volatile.Read(ref _current);
            if (entry is null || entry.Second != second)
            {
                var bytes = new byte[Length];
                "Date: "u8.CopyTo(bytes);
                HttpDate.Format(now, bytes.AsSpan(6));
                bytes[Length - 2] = (byte)'\r';
                bytes[Length - 1] = (byte)'\n';
                entry = new Entry(second, bytes);
                Volatile.Write(ref _current, entry);
            }
            return entry.Bytes;
        }
    }
}
