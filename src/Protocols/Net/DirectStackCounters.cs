using System;

namespace Unikernel.Protocols.Net;

/// <summary>Counters of the direct stack (written under its lock; read them for diagnostics and tests).</summary>
public sealed class DirectStackCounters
{
    /// <summary>TCP's counters: segments, retransmissions, RSTs, out-of-order, drops by reason.</summary>
    public TcpCounters Tcp { get; } = new();

    public long FramesReceived { get; internal set; }

    /// <summary>Batches of frames read from the interface by a socket's own receiving thread (run to completion) rather than the receive thread.</summary>
    public long SocketPumps { get; internal set; }
    public long FramesSent { get; internal set; }

    /// <summary>Frames handed to the interface for it to segment (TCP segmentation offload; each counts once in <see cref="FramesSent"/>).</summary>
    public long OffloadFramesSent { get; internal set; }

    /// <summary>Frames received longer than the MTU (receive offload: one TCP/IPv4 packet the sender did not segment).</summary>
    public long OffloadFramesReceived { get; internal set; }

    /// <summary>Frames received whose TCP or UDP checksum the device vouched for, so it was not verified.</summary>
    public long ChecksumTrustedFramesReceived { get; internal set; }
    public long TransmitDrops { get; internal set; }
    public long Malformed { get; internal set; }
    public long BadChecksum { get; internal set; }
    public long NotForUs { get; internal set; }

    /// <summary>Frames and packets from a source that may not send (a group MAC; 0.0.0.0, broadcast, multicast, loopback or our own IPv4 address).</summary>
    public long InvalidSource { get; internal set; }
    public long UnknownProtocol { get; internal set; }
    public long PacketsReceived { get; internal set; }
    public long PacketsSent { get; internal set; }
    public long NoRoute { get; internal set; }
    public long SendErrors { get; internal set; }
    public long ArpRequestsSent { get; internal set; }
    public long ArpRepliesSent { get; internal set; }
    public long ArpFailures { get; internal set; }
    public long ArpQueueDrops { get; internal set; }

    /// <summary>Resolutions that could not start because every neighbour entry was protected.</summary>
    public long ArpTableFull { get; internal set; }

    /// <summary>ARP packets from another MAC claiming our address (RFC 5227).</summary>
    public long ArpConflicts { get; internal set; }
    public long FragmentsReceived { get; internal set; }
    public long FragmentsSent { get; internal set; }
    public long Reassembled { get; internal set; }
    public long ReassemblyTimeouts { get; internal set; }
    public long ReassemblyOverlaps { get; internal set; }
    public long ReassemblyDrops { get; internal set; }

    /// <summary>Incomplete datagrams evicted (the oldest, or the sender's own over its share) to make room for new fragments.</summary>
    public long ReassemblyEvictions { get; internal set; }
    public long EchoRepliesSent { get; internal set; }
    public long EchoRepliesReceived { get; internal set; }
    public long UnreachablesSent { get; internal set; }
    public long UnreachablesRateLimited { get; internal set; }
    public long UnreachablesReceived { get; internal set; }
    public long TimeExceededSent { get; internal set; }
    public long TimeExceededReceived { get; internal set; }
    public long UdpDelivered { get; internal set; }
    public long UdpNoPort { get; internal set; }
    public long UdpQueueDrops { get; internal set; }
    public long DhcpMessagesSent { get; internal set; }
    public long Errors { get; internal set; }
    public Exception? LastError { get; internal set; }
}
