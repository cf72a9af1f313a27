using System;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Unikernel.Devices;

namespace Unikernel.Protocols.Net;

/// <summary>
/// TCP on the direct stack's IPv4 seam: registers for protocol 6, drives the engine's timers from the stack's timer
/// loop, and gives the engine what it needs (<see cref="ITcpHost"/>). Only unicast datagrams reach TCP (RFC 1122
/// §4.2.3.10: a segment to a broadcast or multicast address is dropped).
/// </summary>
internal sealed class TcpLayer : ITcp, IIPv4Handler, IStackTimer, ITcpHost, IDisposable
{
    private readonly IIPv4 _ip;
    private readonly TcpEngine _engine;

    public TcpLayer(IIPv4 ip, IRandom random, TcpSettings settings)
    {
        _ip = ip;
        _engine = new TcpEngine(this, random, settings, ip.Counters.Tcp);
        ip.Register(IPProtocol.Tcp, this);
        ip.AddTimer(this);
    }

    internal TcpEngine Engine => _engine;

    public ITcpListener Listen(IPEndPoint localEndPoint, int backlog = 128) => _engine.Listen(localEndPoint, backlog);

    public ValueTask<ITcpConnection> ConnectAsync(IPEndPoint remoteEndPoint, CancellationToken cancellationToken) =>
        _engine.ConnectAsync(remoteEndPoint, cancellationToken);

    public void ReceiveLocked(in IPv4Datagram datagram)
    {
        if (!datagram.IsUnicast)
        {
            _ip.Counters.Tcp.DropsNotUnicast++;
            return;
        }
        _engine.Handle(datagram.Source, datagram.Destination, datagram.Payload, datagram.IsChecksumTrusted);
    }

    public void PollLocked(long now) => _engine.Poll(now);

    public long NextDeadline => _engine.NextDeadline;

    public void Dispose() => _engine.CloseAll();

    // ---- ITcpHost ----

    public Lock Gate => _ip.Gate;

    public long Now => _ip.Now;

    public uint LocalAddress => _ip.Settings.IsConfigured ? _ip.Settings.Address : 0;

    public int Mtu => _ip.MaxUnfragmentedPayload + IPv4Repr.HeaderLength;

    public bool SendTcp(uint destination, ReadOnlySpan<byte> segment) =>
        _ip.SendLocked(destination, IPProtocol.Tcp, segment, dontFragment: true) is IPv4SendResult.Sent or IPv4SendResult.Queued;

    /// <summary>The payload that fits the link's offloaded packet whatever the TCP header (up to 60 bytes).</summary>
    public int SegmentOffload => _ip.SegmentOffload > TcpPacket.MinHeaderLength + TcpPacket.MaxOptionsLength
        ? _ip.SegmentOffload - TcpPacket.MinHeaderLength - TcpPacket.MaxOptionsLength
        : 0;

    public bool SendSegmentedTcp(uint destination, ReadOnlySpan<byte> segment, int segmentSize) =>
        _ip.SendSegmentedLocked(destination, segment, segmentSize) == IPv4SendResult.Sent;

    /// <summary>The lock is re-entrant: a nested scope flushes what was queued and leaves the caller holding the lock.</summary>
    public void Flush()
    {
        using (_ip.Enter())
        {
        }
    }

    public void WakeTimer(long deadline) => _ip.WakeTimerLocked(deadline);
}
