using System;
using System.Collections.Generic;
using System.Threading;

namespace Unikernel.Protocols.Net;

/// <summary>
/// ICMP over the IPv4 seam (RFC 792, 1122 §3.2.2): answers echo requests to our address, counts the errors it
/// receives, and sends errors for the other layers through a token bucket (10 at once, one more every 100 ms).
/// </summary>
internal sealed class IcmpLayer : IIPv4Handler, IIcmpErrors
{
    private const long Second = 1_000_000_000L;
    private const int ErrorBurst = 10;
    private const long ErrorInterval = Second / 10;
    private const int MaxRememberedEchoReplies = 4096;

    private readonly IIPv4 _ip;
    private readonly HashSet<uint> _echoReplies = [];
    private long _errorTokens = ErrorBurst;
    private long _errorsRefilledAt;

    public IcmpLayer(IIPv4 ip)
    {
        _ip = ip;
        ip.Register(IPProtocol.Icmp, this);
    }

    private DirectStackCounters Counters => _ip.Counters;

    public void ReceiveLocked(in IPv4Datagram datagram)
    {
        if (!IcmpPacket.TryCreate(datagram.Payload, out var packet))
        {
            Counters.Malformed++;
            return;
        }
        if (!IcmpRepr.TryParse(packet, out var icmp))
        {
            Counters.BadChecksum++;
            return;
        }
        switch (icmp.Type)
        {
            case IcmpType.EchoRequest when datagram.IsUnicast:
                var buffer = _ip.PayloadBufferLocked;
                IcmpRepr.Echo(false, icmp.Identifier, icmp.SequenceNumber, icmp.Data).TryWrite(buffer, out var written);
                _ip.SendLocked(datagram.Source, IPProtocol.Icmp, buffer[..written]);
                Counters.EchoRepliesSent++;
                break;
            case IcmpType.EchoReply:
                Counters.EchoRepliesReceived++;
                lock (_echoReplies)
                {
                    if (_echoReplies.Count < MaxRememberedEchoReplies)
                    {
                        _echoReplies.Add(((uint)icmp.Identifier << 16) | icmp.SequenceNumber);
                    }
                    Monitor.PulseAll(_echoReplies);
                }
                break;
            case IcmpType.DestinationUnreachable:
                Counters.UnreachablesReceived++;
                break;
            case IcmpType.TimeExceeded:
                Counters.TimeExceededReceived++;
                break;
        }
    }

    /// <summary>An ICMP error quoting the header and first 8 bytes of the datagram (RFC 792), rate-limited.</summary>
    public void SendErrorLocked(byte type, byte code, in IPv4Datagram original)
    {
        var destination = original.Source;
        if (destination == 0 || _ip.Settings.IsBroadcast(destination) || IPv4Address.IsMulticast(destination))
        {
            return;
        }
        var now = _ip.Now;
        var refill = (now - _errorsRefilledAt) / ErrorInterval;
        if (refill > 0)
        {
            _errorTokens = Math.Min(ErrorBurst, _errorTokens + refill);
            _errorsRefilledAt = now;
        }
        if (_errorTokens == 0)
        {
            Counters.UnreachablesRateLimited++;
            return;
        }
        _errorTokens--;
        var header = original.Header;
        var payload = original.Payload;
        var buffer = _ip.PayloadBufferLocked;
        var quoted = buffer.Slice(IcmpPacket.HeaderLength, header.Length + Math.Min(8, payload.Length));
        header.CopyTo(quoted);
        payload[..Math.Min(8, payload.Length)].CopyTo(quoted[header.Length..]);
        new IcmpRepr(type, code, 0, 0, quoted).TryWrite(buffer, out var written);
        _ip.SendLocked(destination, IPProtocol.Icmp, buffer[..written]);
        if (type == IcmpType.DestinationUnreachable)
        {
            Counters.UnreachablesSent++;
        }
        else
        {
            Counters.TimeExceededSent++;
        }
    }

    /// <summary>Sends an echo request with <paramref name="dataLength"/> bytes of data (0, 1, 2, … as the data).</summary>
    public void SendEchoRequestLocked(uint destination, ushort identifier, ushort sequence, int dataLength)
    {
        var buffer = _ip.PayloadBufferLocked;
        var data = buffer.Slice(IcmpPacket.HeaderLength, dataLength);
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)i;
        }
        IcmpRepr.Echo(true, identifier, sequence, data).TryWrite(buffer, out var written);
        _ip.SendLocked(destination, IPProtocol.Icmp, buffer[..written]);
    }

    /// <summary>Waits (real time, bounded; not under the stack's lock) for the echo reply with this identifier and sequence number.</summary>
    public bool WaitForEchoReply(ushort identifier, ushort sequence, TimeSpan timeout)
    {
        var key = ((uint)identifier << 16) | sequence;
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_echoReplies)
        {
            while (!_echoReplies.Contains(key))
            {
                var left = deadline - Environment.TickCount64;
                if (left <= 0)
                {
                    return false;
                }
                Monitor.Wait(_echoReplies, (int)Math.Min(left, 100));
            }
            return true;
        }
    }
}
