using System;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;

namespace Unikernel.Devices;

/// <summary>
/// A network stack: UDP and TCP over some network. Served by the host's sockets (the <c>socket</c> stack)
/// and by our own stack over a raw network interface (the <c>direct</c> stack); appliances see only this.
/// </summary>
public interface INetworkStack
{
    IUdp Udp { get; }
    ITcp Tcp { get; }
}

public interface IUdp
{
    /// <summary>Binds a socket to a local endpoint (port 0 picks a free port).</summary>
    IUdpSocket Bind(IPEndPoint localEndPoint);
}

/// <summary>A bound UDP socket that moves datagrams in batches (one system call for many datagrams where the backend allows).</summary>
public interface IUdpSocket : IDisposable
{
    IPEndPoint LocalEndPoint { get; }

    /// <summary>
    /// Blocks until at least one datagram arrives, then fills <paramref name="batch"/> from slot 0 with what is
    /// already queued (up to its capacity). Returns the count (also in <see cref="DatagramBatch.Count"/>);
    /// 0 when cancelled or disposed.
    /// </summary>
    int Receive(DatagramBatch batch, CancellationToken cancellationToken);

    /// <summary>Sends the first <see cref="DatagramBatch.Count"/> datagrams, each to its slot's peer. Returns how many were sent.</summary>
    int Send(DatagramBatch batch);
}

public interface ITcp
{
    ITcpListener Listen(IPEndPoint localEndPoint, int backlog = 128);

    ValueTask<ITcpConnection> ConnectAsync(IPEndPoint remoteEndPoint, CancellationToken cancellationToken);
}

public interface ITcpListener : IDisposable
{
    IPEndPoint LocalEndPoint { get; }

    /// <summary>Waits for the next connection; throws <see cref="OperationCanceledException"/> when cancelled.</summary>
    ValueTask<ITcpConnection> AcceptAsync(CancellationToken cancellationToken);
}

public interface ITcpConnection : IAsyncDisposable
{
    IPEndPoint RemoteEndPoint { get; }

    /// <summary>Reads some bytes; 0 at the end of the stream.</summary>
    ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Writes all of <paramref name="data"/>.</summary>
    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Half-closes the sending side (FIN).</summary>
    void ShutdownSend();
}

/// <summary>
/// The network interface is gone for good (a tap whose netdev was deleted: <c>EBADFD</c>/<c>EIO</c>/<c>ENXIO</c>; a
/// VM NIC that vanished); retrying the same handle cannot help. The direct stack logs it and ends the appliance.
/// </summary>
public sealed class NetworkInterfaceGoneException : System.IO.IOException
{
    public NetworkInterfaceGoneException(string message) : base(message)
    {
    }

    public NetworkInterfaceGoneException(string message, Exception innerException) : base(message, innerException)
    {
    }

    public NetworkInterfaceGoneException()
    {
    }
}

/// <summary>
/// A raw Ethernet interface: a tap device on unix, virtio-net in a VM, a virtual switch port in tests.
/// The direct stack is built over it.
/// </summary>
public interface INetworkInterface : IDisposable
{
    /// <summary>The interface's MAC address (6 bytes).</summary>
    ReadOnlySpan<byte> MacAddress { get; }

    /// <summary>Largest Ethernet payload (IP packet) the link carries, usually 1500.</summary>
    int Mtu { get; }

    /// <summary>Blocks until at least one frame arrives, fills the batch from slot 0; 0 when cancelled or disposed.</summary>
    int Receive(DatagramBatch frames, CancellationToken cancellationToken);

    /// <summary>Sends the first <see cref="DatagramBatch.Count"/> frames; returns how many were sent.</summary>
    int Send(DatagramBatch frames);

    /// <summary>
    /// TCP segmentation offload: the largest IPv4 packet (bytes, at most 65,535) of one frame that carries a TCP/IPv4
    /// segment longer than the MTU, which the device cuts into segments of <see cref="DatagramBatch.SegmentSize"/>
    /// payload bytes (the TCP checksum field holding the pseudo-header sum, as for a partial checksum); 0 (the
    /// default) when the device sends every frame as it is.
    /// </summary>
    int SegmentOffload => 0;

    /// <summary>
    /// Asks the device for receive offload: from then on it may hand over a TCP/IPv4 packet of up to
    /// <see cref="SegmentOffload"/> bytes in one frame, and frames whose TCP or UDP checksum it checked or the sender
    /// left partial (<see cref="DatagramBatch.IsChecksumTrusted"/>), so receive slots must hold such packets. Only a
    /// consumer that ends them (a TCP/IP stack, not a switch that forwards frames) may ask; call it before receiving.
    /// False (the default) when the device has none: frames stay whole, MTU-sized and checksummed.
    /// </summary>
    bool TryEnableReceiveOffload() => false;
}

/// <summary>
/// An opaque peer address stored inline (the bytes of a Linux <c>sockaddr_in</c>/<c>sockaddr_in6</c>), so a server can
/// answer a datagram by copying its peer without allocating.
/// </summary>
[InlineArray(Size)]
public struct DatagramPeer
{
    public const int Size = 28;
    private byte _first;

    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;

    public static DatagramPeer FromEndPoint(IPEndPoint endPoint)
    {
        var peer = default(DatagramPeer);
        Span<byte> bytes = peer;
        if (endPoint.AddressFamily == AddressFamily.InterNetwork)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes, AfInet);
            BinaryPrimitives.WriteUInt16BigEndian(bytes[2..], (ushort)endPoint.Port);
            endPoint.Address.TryWriteBytes(bytes.Slice(4, 4), out _);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes, AfInet6);
            BinaryPrimitives.WriteUInt16BigEndian(bytes[2..], (ushort)endPoint.Port);
            endPoint.Address.TryWriteBytes(bytes.Slice(8, 16), out _);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes[24..], (uint)endPoint.Address.ScopeId);
        }
        return peer;
    }

    /// <summary>An IPv4 peer from its address (network byte order in <paramref name="address"/>) and port.</summary>
    public static DatagramPeer FromIPv4(ReadOnlySpan<byte> address, ushort port)
    {
        var peer = default(DatagramPeer);
        Span<byte> bytes = peer;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, AfInet);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[2..], port);
        address[..4].CopyTo(bytes.Slice(4, 4));
        return peer;
    }

    public readonly bool IsIPv4 => BinaryPrimitives.ReadUInt16LittleEndian(this) == AfInet;

    public readonly ushort Port => BinaryPrimitives.ReadUInt16BigEndian(((ReadOnlySpan<byte>)this)[2..]);

    /// <summary>The address of an IPv4 peer as a number (first octet most significant).</summary>
    public readonly uint IPv4Address => BinaryPrimitives.ReadUInt32BigEndian(((ReadOnlySpan<byte>)this).Slice(4, 4));

    /// <summary>Allocates: for logs and tests, not for the packet path.</summary>
    public readonly IPEndPoint ToEndPoint()
    {
        ReadOnlySpan<byte> bytes = this;
        var family = BinaryPrimitives.ReadUInt16LittleEndian(bytes);
        if (family == AfInet)
        {
            return new IPEndPoint(new IPAddress(bytes.Slice(4, 4)), Port);
        }
        if (family == AfInet6)
        {
            return new IPEndPoint(new IPAddress(bytes.Slice(8, 16), BinaryPrimitives.ReadUInt32LittleEndian(bytes[24..])), Port);
        }
        return new IPEndPoint(IPAddress.None, 0);
    }

    public override readonly string ToString() => ToEndPoint().ToString();
}

/// <summary>
/// A fixed set of datagram (or frame) slots over one pinned buffer. Invariants: <c>0 ≤ Count ≤ Capacity</c> and
/// <c>0 ≤ Length(i) ≤ SlotSize</c>; the memory is pinned for the batch's lifetime so backends can hand it to the kernel.
/// </summary>
public sealed class DatagramBatch
{
    private readonly byte[] _buffer;
    private readonly int[] _lengths;
    private readonly ushort[] _segmentSizes;
    private readonly bool[] _checksumTrusted;
    private readonly DatagramPeer[] _peers;
    private int _count;

    public DatagramBatch(int capacity, int slotSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(slotSize, 1);
        Capacity = capacity;
        SlotSize = slotSize;
        _buffer = GC.AllocateArray<byte>(checked(capacity * slotSize), pinned: true);
        _lengths = new int[capacity];
        _segmentSizes = new ushort[capacity];
        _checksumTrusted = new bool[capacity];
        _peers = GC.AllocateArray<DatagramPeer>(capacity, pinned: true);
    }

    public int Capacity { get; }

    public int SlotSize { get; }

    public int Count
    {
        get => _count;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, Capacity);
            _count = value;
        }
    }

    /// <summary>The whole slot, for writing a datagram into it.</summary>
    public Span<byte> Slot(int index) => _buffer.AsSpan(index * SlotSize, SlotSize);

    /// <summary>The slot as memory (for asynchronous backends).</summary>
    public Memory<byte> SlotMemory(int index) => _buffer.AsMemory(index * SlotSize, SlotSize);

    /// <summary>The datagram in slot <paramref name="index"/>.</summary>
    public Span<byte> Datagram(int index) => _buffer.AsSpan(index * SlotSize, _lengths[index]);

    public int Length(int index) => _lengths[index];

    /// <summary>Sets the length of the datagram in slot <paramref name="index"/> (and its <see cref="SegmentSize"/> to 0).</summary>
    public void SetLength(int index, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, SlotSize);
        _lengths[index] = length;
        _segmentSizes[index] = 0;
        _checksumTrusted[index] = false;
    }

    /// <summary>
    /// For a received frame: the device vouches for its TCP or UDP checksum (checked already, or never computed
    /// because the sender is the host itself: the field holds only the pseudo-header sum), so it must not be verified.
    /// False (what <see cref="SetLength"/> and <see cref="TryAdd"/> leave) for a frame to be checked as usual.
    /// </summary>
    public bool IsChecksumTrusted(int index) => _checksumTrusted[index];

    public void SetChecksumTrusted(int index, bool trusted) => _checksumTrusted[index] = trusted;

    /// <summary>
    /// For a frame sent to a device with <see cref="INetworkInterface.SegmentOffload"/>: the TCP payload bytes of each
    /// segment the device cuts the frame into; 0 (what <see cref="SetLength"/> and <see cref="TryAdd"/> leave) for a
    /// frame sent as it is.
    /// </summary>
    public int SegmentSize(int index) => _segmentSizes[index];

    public void SetSegmentSize(int index, int segmentSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(segmentSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(segmentSize, ushort.MaxValue);
        _segmentSizes[index] = (ushort)segmentSize;
    }

    public ref DatagramPeer Peer(int index) => ref _peers[index];

    /// <summary>Adds a datagram at the end; false when the batch is full or it does not fit a slot.</summary>
    public bool TryAdd(ReadOnlySpan<byte> datagram, in DatagramPeer peer)
    {
        if (_count == Capacity || datagram.Length > SlotSize)
        {
            return false;
        }
        datagram.CopyTo(Slot(_count));
        _lengths[_count] = datagram.Length;
        _segmentSizes[_count] = 0;
        _checksumTrusted[_count] = false;
        _peers[_count] = peer;
        _count++;
        return true;
    }
}
