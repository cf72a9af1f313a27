using System;
using System.Buffers;
using System.Buffers.Binary;

namespace Unikernel.Protocols.Dns;

public sealed partial class DnsResponder
{
    /// <summary>
    /// TSIG keys (RFC 8945) for signed queries: a query signed with one of them is verified and its answer signed;
    /// null: every signed query is answered NOTAUTH/BADKEY. Zone transfers use them too (see <see cref="ZoneTransfers"/>).
    /// </summary>
    public TsigKeyring? Keys { get; init; }

    /// <summary>Clock for TSIG (seconds since 1970); tests set it.</summary>
    internal Func<long> Clock { get; init; } = TsigSigner.Now;

    /// <summary>
    /// A query signed with a TSIG record at <paramref name="tsigAt"/>: verified; errors answered as RFC 8945 5.2 says
    /// (BADKEY and BADSIG unsigned, BADTIME signed); a good one answered as the unsigned query would be, then signed.
    /// </summary>
    private int SignedAnswer(ReadOnlySpan<byte> query, Span<byte> response, bool tcp, int tsigAt, int ednsPayload, bool dnssecOk)
    {
        var now = Clock();
        var status = TsigSigner.Verify(query, tsigAt, Keys!, now, out var request);
        Span<byte> mac = stackalloc byte[64];
        switch (status)
        {
            case TsigStatus.FormErr:
                return Error(query, response, DnsRcode.FormErr, 0);
            case TsigStatus.BadKey:
                return Tsig.ErrorResponse(query, response, tsigAt, ednsPayload, dnssecOk, Tsig.BadKey);
            case TsigStatus.BadSig:
                return Tsig.ErrorResponse(query, response, tsigAt, ednsPayload, dnssecOk, Tsig.BadSig);
            case TsigStatus.BadTime:
            {
                var length = Tsig.Header(query, response, DnsRcode.NotAuth);
                var signed = TsigSigner.SignResponse(response, length, request, Tsig.BadTime, now, mac);
                return signed > 0 ? signed : length;
            }
        }
        // Answer the query without its TSIG record, in less room, then sign the answer.
        var reserve = TsigSigner.Reserve(request.Key!);
        if (response.Length < 12 + reserve + 12)
        {
            return Error(query, response, DnsRcode.ServFail, 0);
        }
        var stripped = ArrayPool<byte>.Shared.Rent(tsigAt);
        try
        {
            query[..tsigAt].CopyTo(stripped);
            BinaryPrimitives.WriteUInt16BigEndian(stripped.AsSpan(10), (ushort)(BinaryPrimitives.ReadUInt16BigEndian(query[10..]) - 1));
            var length = Respond(stripped.AsSpan(0, tsigAt), response[..^reserve], tcp);
            if (length == 0)
            {
                return 0;
            }
            var signed = TsigSigner.SignResponse(response, length, request, 0, now, mac);
            return signed > 0 ? signed : length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(stripped);
        }
    }
}
