using System;
using System.IO;
using System.Text;

namespace Unikernel.Runtime;

/// <summary>
/// A whole text file as a string, read as UTF-8 (a leading byte-order mark is dropped; invalid bytes become U+FFFD).
/// Use it instead of <see cref="File.ReadAllText(string)"/>, whose StreamReader, FileStream strategies and
/// encoding detection (UTF-16 and UTF-32 byte-order marks) add about 25 KB to an image; appliances' files (zones, keys,
/// configuration) are UTF-8. Throws what <see cref="File.OpenHandle"/> throws.
/// </summary>
public static class TextFile
{
    public static string ReadAllText(string path)
    {
        var (buffer, length) = Read(path);
        ReadOnlySpan<byte> text = buffer.AsSpan(0, length);
        if (text.StartsWith("\uFEFF"u8) /* EF BB BF */)
        {
            text = text[3..];
        }
        return Encoding.UTF8.GetString(text);
    }

    /// <summary>A whole file's bytes; the same reading as <see cref="ReadAllText"/>, so an image needs one file reader.</summary>
    public static byte[] ReadAllBytes(string path)
    {
        var (buffer, length) = Read(path);
        if (length == buffer.Length)
        {
            return buffer;
        }
        // Not buffer[..length]: an array range pulls NativeAOT's type loader in (bench/README.md).
        return buffer.AsSpan(0, length).ToArray();
    }

    private static (byte[] Buffer, int Length) Read(string path)
    {
        // Read until end of file rather than trusting the size: files in /proc and /sys report 0 or 4096.
        using var handle = File.OpenHandle(path);
        var buffer = new byte[4096];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
            var read = RandomAccess.Read(handle, buffer.AsSpan(length), length);
            if (read == 0)
            {
                break;
            }
            length += read;
        }
        return (buffer, length);
    }
}
