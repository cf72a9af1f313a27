using System;
using System.Threading;
using Unikernel.Devices.Vm;

namespace Unikernel.Devices.Unix;

/// <summary>
/// The unix target's raw Ethernet interface, chosen at run time by <c>--interface-kind</c>: <c>tap</c> (the default)
/// attaches to a tap device (<see cref="TapNetworkInterface"/>: one <c>readv</c> or <c>writev</c> per frame, a sent
/// TCP frame of up to 64 KiB that the kernel segments; <c>tap-no-offload</c>: the same without segmentation offload,
/// one <c>read</c> or <c>write</c> per MTU-sized frame, for comparison), <c>packet</c>
/// to an existing interface such as one end of a veth pair through an <c>AF_PACKET</c> socket with memory-mapped
/// TPACKET_V2 rings (<see cref="PacketNetworkInterface"/>, as on the VM targets: one <c>poll</c> per received batch of
/// frames and one <c>sendto</c> per sent batch). With <c>packet</c> the interface keeps its own MAC address; give it no
/// IP address on the host side (the kernel would answer ARP and ICMP for it beside us).
/// </summary>
[SystemCalls("read", "write", "readv", "writev", "poll", Reason = "--interface-kind tap: frames from and to the tap device")]
[SystemCalls("poll", "sendto", Reason = "--interface-kind packet: the packet rings: wait for frames, kick the transmit ring")]
public sealed class TapOrPacketNetworkInterface : INetworkInterface
{
    private readonly INetworkInterface _inner;

    public TapOrPacketNetworkInterface(string interfaceName, string interfaceKind)
    {
        ArgumentNullException.ThrowIfNull(interfaceKind);
        _inner = interfaceKind switch
        {
            "" or "tap" => new TapNetworkInterface(interfaceName, segmentOffload: true),
            "tap-no-offload" => new TapNetworkInterface(interfaceName, segmentOffload: false),
            "packet" => new PacketNetworkInterface(interfaceName),
            _ => throw new ArgumentException($"--interface-kind '{interfaceKind}': give tap (a tap device), tap-no-offload (a tap without segmentation offload) or packet (an AF_PACKET socket on an existing interface, e.g. a veth)", nameof(interfaceKind)),
        };
        Kind = interfaceKind.Length == 0 ? "tap" : interfaceKind;
    }

    /// <summary>tap, tap-no-offload or packet.</summary>
    public string Kind { get; }

    /// <summary>The device underneath (a <see cref="TapNetworkInterface"/> or a <see cref="PacketNetworkInterface"/>).</summary>
    public INetworkInterface Inner => _inner;

    public ReadOnlySpan<byte> MacAddress => _inner.MacAddress;

    public int Mtu => _inner.Mtu;

    public int SegmentOffload => _inner.SegmentOffload;

    public bool TryEnableReceiveOffload() => _inner.TryEnableReceiveOffload();

    public int Receive(DatagramBatch frames, CancellationToken cancellationToken) => _inner.Receive(frames, cancellationToken);

    public int Send(DatagramBatch frames) => _inner.Send(frames);

    public void Dispose() => _inner.Dispose();
}
