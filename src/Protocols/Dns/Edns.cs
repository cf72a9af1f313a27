using System;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Dns;

/// <summary>EDNS(0) (RFC 6891): OPT record flags and options.</summary>
public static class Edns
{
    /// <summary>The DO bit in the OPT record's flags (RFC 3225).</summary>
    public const ushort DnssecOk = 0x8000;

    public const ushort CookieOption = 10;

    /// <summary>
    /// True when OPT RDATA is a sequence of {code, length, data} options that exactly fills it, and a COOKIE option
    /// holds a client cookie of 8 octets, optionally with a server cookie of 8 to 32 (RFC 7873 section 4).
    /// </summary>
    public static bool OptionsAreWellFormed(ReadOnlySpan<byte> rdata)
    {
        var at = 0;
        while (at < rdata.Length)
        {
            if (at + 4 > rdata.Length)
            {
                return false;
            }
            var code = BinaryPrimitives.ReadUInt16BigEndian(rdata[at..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(rdata[(at + 2)..]);
            if (at + 4 + length > rdata.Length)
            {
                return false;
            }
            if (code == CookieOption && length != 8 && length is < 16 or > 40)
            {
                return false;
            }
            at += 4 + length;
        }
        return true;
    }
}
