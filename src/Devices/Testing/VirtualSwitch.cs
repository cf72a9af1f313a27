using System;
using System.Buffers;
using System.Collections.Generic;
using System.Threading;

namespace Unikernel.Devices.Testing;

/// <summary>
/// An in-memory Ethernet switch for tests. Ports are <see cref="INetworkInterface"/>s; the switch learns source MAC
/// addresses, forwards unicast frames to the learned port (flooding unknown ones) and broadcasts/multicasts to every
/// other port. Optional seeded loss and reordering make lossy links reproducible. Frames longer than the MTU plus the
/// Ethernet header are dropped (counted), as a real link would, and <see cref="Unplug"/> makes a port behave like a
/// deleted tap.
/// </summary>
public sealed class VirtualSwitch : IDisposable
{
    /// <summary>Frames a port holds before it drops new ones (like a full NIC ring).</summary>
    public const int PortQueueCapacity = 4096;

    private readonly Lock _gate = new();
    private readonly List<Port> _ports = [];
    private readonly Dictionary<ulong, Port> _learned = [];
    private readonly Random _random;
    private readonly int _mtu;
    private bool _disposed;

    public VirtualSwitch(int seed = 1, int mtu = 1500)
    {
        _random = new Random(seed);
        _mtu = mtu;
    }

    /// <summary>Probability (0..1) that a frame is lost.</summary>
    public double LossRate { get; set; }

    /// <summary>Probability (0..1) that a frame overtakes the frame queued just before it at the destination port.</summary>
    public double ReorderRate { get; set; }

    public long FramesForwarded { get; private set; }

    public long FramesLost { get; private set; }

    public long FramesReordered { get; private set; }

    /// <summary>Frames dropped because they were longer than 14 + the MTU.</summary>
    public long FramesOversized { get; private set; }

    /// <summary>When set, sees every frame sent into the switch (under the switch's lock; must not call back into it).</summary>
    public Action<ReadOnlyMemory<byte>>? Tap { get; set; }

    /// <summary>Adds a port with MAC 02:00:00:00:00:NN (NN = the port number from 1) unless one is given.</summary>
    public INetworkInterface AddPort(byte[]? macAddress = null)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var mac = macAddress ?? [0x02, 0, 0, 0, (byte)((_ports.Count + 1) >> 8), (byte)(_ports.Count + 1)];
            if (mac.Length != 6)
            {
                throw new ArgumentException("a MAC address has 6 bytes", nameof(macAddress));
            }
            var port = new Port(this, mac, _mtu);
            _ports.Add(port);
            return port;
        }
    }

    /// <summary>
    /// Pulls a port's cable for good: its pending and future <see cref="INetworkInterface.Receive"/> and
    /// <see cref="INetworkInterface.Send"/> throw <see cref="NetworkInterfaceGoneException"/>, as a tap whose netdev was
    /// deleted does.
    /// </summary>
    public void Unplug(INetworkInterface port)
    {
        if (port is not Port ours || ours.Owner != this)
        {
            throw new ArgumentException("not a port of this switch", nameof(port));
        }
        lock (_gate)
        {
            _ports.Remove(ours);
            foreach (var (mac, learned) in new List<KeyValuePair<ulong, Port>>(_learned))
            {
                if (learned == ours)
                {
                    _learned.Remove(mac);
                }
            }
        }
        ours.Unplug();
    }

    public void Dispose()
    {
        Port[] ports;
        lock (_gate)
        {
            _disposed = true;
            ports = [.. _ports];
        }
        foreach (var port in ports)
        {
            port.Dispose();
        }
    }

    private int Forward(Port from, DatagramBatch frames)
    {
        lock (_gate)
        {
            if (_disposed || from.IsDisposed)
            {
                return 0;
            }
            for (var i = 0; i < frames.Count; i++)
            {
                var frame = frames.Datagram(i);
                if (frame.Length < 14)
                {
                    continue;
                }
                if (frame.Length > 14 + _mtu)
                {
                    FramesOversized++;
                    continue;
                }
                var destination = ReadMac(frame);
                _learned[ReadMac(frame[6..])] = from;
                Tap?.Invoke(frame.ToArray());
                if (LossRate > 0 && _random.NextDouble() < LossRate)
                {
                    FramesLost++;
                    continue;
                }
                var reorder = ReorderRate > 0 && _random.NextDouble() < ReorderRate;
                if ((destination >> 40 & 1) == 0 && _learned.TryGetValue(destination, out var target))
                {
                    if (target != from)
                    {
                        Deliver(target, frame, reorder);
                    }
                    continue;
                }
                foreach (var port in _ports)
                {
                    if (port != from)
                    {
                        Deliver(port, frame, reorder);
                    }
                }
            }
            return frames.Count;
        }
    }

    private void Deliver(Port port, ReadOnlySpan<byte> frame, bool reorder)
    {
        if (port.Enqueue(frame, reorder))
        {
            FramesForwarded++;
            FramesReordered += reorder ? 1 : 0;
        }
    }

    private static ulong ReadMac(ReadOnlySpan<byte> bytes) =>
        ((ulong)bytes[0] << 40) | ((ulong)bytes[1] << 32) | ((ulong)bytes[2] << 24) | ((ulong)bytes[3] << 16) | ((ulong)bytes[4] << 8) | bytes[5];

    private sealed class Port(VirtualSwitch owner, byte[] mac, int mtu) : INetworkInterface
    {
        private readonly object _gate = new();
        private readonly LinkedList<(byte[] Buffer, int Length)> _queue = new();
        private bool _disposed;
        private bool _unplugged;

        public VirtualSwitch Owner => owner;

        public ReadOnlySpan<byte> MacAddress => mac;

        public int Mtu => mtu;

        public bool IsDisposed => _disposed;

        public bool Enqueue(ReadOnlySpan<byte> frame, bool reorder)
        {
            lock (_gate)
            {
                if (_disposed || _unplugged || _queue.Count >= PortQueueCapacity)
                {
                    return false;
                }
                var buffer = ArrayPool<byte>.Shared.Rent(frame.Length);
                frame.CopyTo(buffer);
                if (reorder && _queue.Last is { } last)
                {
                    _queue.AddBefore(last, (buffer, frame.Length));
                }
                else
                {
                    _queue.AddLast((buffer, frame.Length));
                }
                Monitor.PulseAll(_gate);
                return true;
            }
        }

        public int Receive(DatagramBatch frames, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                while (_queue.Count == 0)
                {
                    ThrowIfUnplugged();
                    if (_disposed || cancellationToken.IsCancellationRequested)
                    {
                        frames.Count = 0;
                        return 0;
                    }
                    Monitor.Wait(_gate, 50);
                }
                var n = 0;
                while (n < frames.Capacity && _queue.First is { } first)
                {
                    var (buffer, length) = first.Value;
                    _queue.RemoveFirst();
                    var copy = Math.Min(length, frames.SlotSize);
                    buffer.AsSpan(0, copy).CopyTo(frames.Slot(n));
                    frames.SetLength(n, copy);
                    ArrayPool<byte>.Shared.Return(buffer);
                    n++;
                }
                frames.Count = n;
                return n;
            }
        }

        public int Send(DatagramBatch frames)
        {
            lock (_gate)
            {
                ThrowIfUnplugged();
            }
            return owner.Forward(this, frames);
        }

        public void Unplug()
        {
            lock (_gate)
            {
                _unplugged = true;
                ClearLocked();
            }
        }

        private void ThrowIfUnplugged()
        {
            if (_unplugged)
            {
                throw new NetworkInterfaceGoneException("the virtual switch port was unplugged");
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _disposed = true;
                ClearLocked();
            }
        }

        /// <summary>Drops what is queued and wakes receivers (to see that the port is disposed or unplugged).</summary>
        private void ClearLocked()
        {
            foreach (var (buffer, _) in _queue)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            _queue.Clear();
            Monitor.PulseAll(_gate);
        }
    }
}
