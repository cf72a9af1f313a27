using System;
using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Unikernel.Devices;

namespace Unikernel.Runtime;

/// <summary>
/// Lines to standard output and standard error with one write(2) each, without System.Console: an appliance needs
/// neither terminal handling nor encoding detection, and leaving them out keeps the image small.
/// </summary>
public static class StdIo
{
    private const int StandardOutput = 1;
    private const int StandardError = 2;

    private static readonly Lock s_gate = new();

    /// <summary>For in-process tests of generated code: when set, standard-output lines go here instead of fd 1.</summary>
    public static Action<string>? OutputHook { get; set; }

    /// <summary>For in-process tests of generated code: when set, standard-error lines go here instead of fd 2.</summary>
    public static Action<string>? ErrorHook { get; set; }

    public static void WriteLine(string line)
    {
        if (OutputHook is { } hook)
        {
            hook(line);
            return;
        }
        Write(StandardOutput, line);
    }

    /// <summary>A line already in UTF-8 (e.g. a generated <c>"..."u8</c> text: half the image bytes of a string literal).</summary>
    public static void WriteLine(ReadOnlySpan<byte> utf8Line)
    {
        if (OutputHook is { } hook)
        {
            hook(Encoding.UTF8.GetString(utf8Line));
            return;
        }
        var rented = utf8Line.Length < 1024 ? null : ArrayPool<byte>.Shared.Rent(utf8Line.Length + 1);
        Span<byte> buffer = rented is null ? stackalloc byte[1024] : rented;
        utf8Line.CopyTo(buffer);
        buffer[utf8Line.Length] = (byte)'\n';
        WriteAll(StandardOutput, buffer[..(utf8Line.Length + 1)]);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public static void WriteErrorLine(string line)
    {
        if (ErrorHook is { } hook)
        {
            hook(line);
            return;
        }
        Write(StandardError, line);
    }

    private static void Write(int fd, string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var length = Encoding.UTF8.GetMaxByteCount(line.Length) + 1;
        var rented = length <= 1024 ? null : ArrayPool<byte>.Shared.Rent(length);
        Span<byte> buffer = rented is null ? stackalloc byte[1024] : rented;
        var count = Encoding.UTF8.GetBytes(line, buffer);
        buffer[count++] = (byte)'\n';
        WriteAll(fd, buffer[..count]);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>One line (newline included) with as few write(2)s as the descriptor takes.</summary>
    private static unsafe void WriteAll(int fd, ReadOnlySpan<byte> bytes)
    {
        var count = bytes.Length;
        lock (s_gate)
        {
            fixed (byte* start = bytes)
            {
                var offset = 0;
                var attempts = 0;
                while (offset < count && attempts++ < 10_000)
                {
                    var written = Interop.Write(fd, start + offset, (nuint)(count - offset));
                    if (written > 0)
                    {
                        offset += (int)written;
                        continue;
                    }
                    var errno = Marshal.GetLastPInvokeError();
                    if (written < 0 && (errno == Interop.EINTR || errno == Interop.EAGAIN))
                    {
                        continue;
                    }
                    break; // A closed or broken output is not the appliance's failure.
                }
            }
        }
    }
}
