using System;
using System.Collections.Frozen;
using System.Collections.Generic;
using System.Text;

namespace Unikernel.Protocols.Http;

/// <summary>Status lines and the small plain-text error responses, prepared once.</summary>
public static class HttpStatus
{
    private static readonly FrozenDictionary<int, string> Reasons = new Dictionary<int, string>
    {
        [100] = "Continue",
        [200] = "OK",
        [204] = "No Content",
        [206] = "Partial Content",
        [301] = "Moved Permanently",
        [304] = "Not Modified",
        [400] = "Bad Request",
        [404] = "Not Found",
        [405] = "Method Not Allowed",
        [408] = "Request Timeout",
        [411] = "Length Required",
        [412] = "Precondition Failed",
        [413] = "Content Too Large",
        [414] = "URI Too Long",
        [416] = "Range Not Satisfiable",
        [417] = "Expectation Failed",
        [431] = "Request Header Fields Too Large",
        [500] = "Internal Server Error",
        [501] = "Not Implemented",
        [503] = "Service Unavailable",
        [505] = "HTTP Version Not Supported",
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<int, byte[]> Lines = Build(code => "HTTP/1.1 " + code + " " + Reasons[code] + "\r\n");

    private static readonly FrozenDictionary<int, byte[]> Errors = Build(code =>
    {
        var body = code + " " + Reasons[code] + "\n";
        return "HTTP/1.1 " + code + " " + Reasons[code] + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + body.Length + "\r\n";
    });

    private static readonly FrozenDictionary<int, byte[]> ErrorBodies = Build(code => code + " " + Reasons[code] + "\n");

    private static FrozenDictionary<int, byte[]> Build(Func<int, string> text)
    {
        var table = new Dictionary<int, byte[]>();
        foreach (var code in Reasons.Keys)
        {
            table[code] = Encoding.ASCII.GetBytes(text(code));
        }
        return table.ToFrozenDictionary();
    }

    public static string Reason(int status) => Reasons.TryGetValue(status, out var reason) ? reason : "Unknown";

    /// <summary>"HTTP/1.1 NNN Reason\r\n".</summary>
    public static ReadOnlySpan<byte> StatusLine(int status) => Lines.TryGetValue(status, out var line) ? line : Lines[500];

    /// <summary>The status line, Content-Type and Content-Length of a plain-text error response.</summary>
    internal static ReadOnlySpan<byte> ErrorHead(int status) => Errors.TryGetValue(status, out var head) ? head : Errors[500];

    internal static ReadOnlySpan<byte> ErrorBody(int status) => ErrorBodies.TryGetValue(status, out var body) ? body : ErrorBodies[500];
}
