using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace Unikernel.Runtime;

/// <summary>
/// A whole text file as a string, read as UTF-8 (a leading byte-order mark is dropped; invalid bytes become U+FFFD).
/// Use it instead of <see cref="File.ReadAllText(string)"/>, whose StreamReader, FileStream strategies and
/// encoding detection (UTF-16 and UTF-32 byte-order marks) add about 25 KB to an image; appliances' files (zones, keys,
/// configuration) are UTF-8. Throws what <see cref="File.OpenHandle"/> throws for a missing (FileNotFoundException) or
/// denied (UnauthorizedAccessException) file, else IOException.
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

    // open(2) and read(2) through libc rather than File.OpenHandle and RandomAccess: SafeFileHandle's opening (file
    // locks, preallocation, FileStream options and checks) is about 10 KB of an image that reads a few files at start.
    private static unsafe (byte[] Buffer, int Length) Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        int fd;
        while ((fd = Devices.Interop.Open(path, OpenReadOnly)) < 0 && Marshal.GetLastPInvokeError() == Devices.Interop.EINTR)
        {
        }
        if (fd < 0)
        {
            throw Error(Marshal.GetLastPInvokeError(), path);
        }
        try
        {
            // Read until end of file rather than trusting the size: files in /proc and /sys report 0 or 4096.
            var buffer = new byte[4096];
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }
                nint read;
                fixed (byte* free = &buffer[length])
                {
                    read = Devices.Interop.Read(fd, free, (nuint)(buffer.Length - length));
                }
                if (read < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Devices.Interop.EINTR)
                    {
                        continue;
                    }
                    throw Error(errno, path);
                }
                if (read == 0)
                {
                    return (buffer, length);
                }
                length += (int)read;
            }
        }
        finally
        {
            Devices.Interop.Close(fd);
        }
    }

    private const int OpenReadOnly = 0x80000; // O_RDONLY (0) | O_CLOEXEC (x86-64 and arm64 Linux)

    /// <summary>What File.OpenHandle throws for the same errno: a missing file, a denied one, else an I/O error.</summary>
    private static Exception Error(int errno, string path)
    {
        var message = $"'{path}': {Marshal.GetPInvokeErrorMessage(errno)}";
        return errno switch
        {
            Devices.Interop.ENOENT => new FileNotFoundException(message, path),
            Devices.Interop.ENOTDIR => new DirectoryNotFoundException(message),
            Devices.Interop.EACCES or Devices.Interop.EPERM => new UnauthorizedAccessException(message),
            _ => new IOException(message, errno),
        };
    }
}
