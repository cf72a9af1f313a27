using Unikernel.Devices.Testing;

namespace Unikernel.Devices.Tests.Network;

public class VirtualSwitchTests
{
    private static byte[] Frame(byte[] destination, ReadOnlySpan<byte> source, byte marker)
    {
        var frame = new byte[60];
        destination.CopyTo(frame, 0);
        source.CopyTo(frame.AsSpan(6));
        frame[12] = 0x08;
        frame[14] = marker;
        return frame;
    }

    private static readonly byte[] Broadcast = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

    private static List<byte> Drain(INetworkInterface port)
    {
        var markers = new List<byte>();
        var batch = new DatagramBatch(64, 1514);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        while (port.Receive(batch, timeout.Token) > 0)
        {
            for (var i = 0; i < batch.Count; i++)
            {
                markers.Add(batch.Datagram(i)[14]);
            }
        }
        return markers;
    }

    [Fact]
    public void Floods_broadcasts_and_learns_unicast_destinations()
    {
        using var network = new VirtualSwitch();
        var a = network.AddPort();
        var b = network.AddPort();
        var c = network.AddPort();
        Assert.Equal([0x02, 0, 0, 0, 0, 2], b.MacAddress.ToArray());
        var batch = new DatagramBatch(1, 1514);
        batch.TryAdd(Frame(Broadcast, b.MacAddress, 1), default);
        b.Send(batch);
        Assert.Equal([1], Drain(a));
        Assert.Equal([1], Drain(c));
        batch.Count = 0;
        batch.TryAdd(Frame(b.MacAddress.ToArray(), a.MacAddress, 2), default);
        a.Send(batch);
        Assert.Equal([2], Drain(b));
        Assert.Empty(Drain(c));
    }

    [Fact]
    public void Loss_and_reordering_are_deterministic_for_a_seed()
    {
        static List<byte> Run()
        {
            using var network = new VirtualSwitch(seed: 5) { LossRate = 0.2, ReorderRate = 0.2 };
            var a = network.AddPort();
            var b = network.AddPort();
            var batch = new DatagramBatch(100, 1514);
            for (var i = 0; i < 100; i++)
            {
                batch.TryAdd(Frame(Broadcast, a.MacAddress, (byte)i), default);
            }
            Assert.Equal(100, a.Send(batch));
            Assert.True(network.FramesLost > 0);
            Assert.True(network.FramesReordered > 0);
            return Drain(b);
        }
        var first = Run();
        Assert.Equal(first, Run());
        Assert.InRange(first.Count, 60, 95);
        Assert.NotEqual([.. first.Order()], first);
    }

    [Fact]
    public void Receive_returns_zero_when_cancelled_or_disposed()
    {
        using var network = new VirtualSwitch();
        var port = network.AddPort();
        var batch = new DatagramBatch(4, 1514);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        Assert.Equal(0, port.Receive(batch, cancel.Token));
        port.Dispose();
        Assert.Equal(0, port.Receive(batch, CancellationToken.None));
    }

    [Fact]
    public void Drops_frames_over_the_mtu_and_an_unplugged_port_throws_interface_gone()
    {
        using var network = new VirtualSwitch(mtu: 1000);
        var a = network.AddPort();
        var b = network.AddPort();
        var batch = new DatagramBatch(2, 2000);
        var big = new byte[14 + 1001];
        Broadcast.CopyTo(big, 0);
        batch.TryAdd(Frame(Broadcast, a.MacAddress, 1), default);
        batch.TryAdd(big, default);
        network.AddPort(); // a third port so broadcasts have somewhere to go besides b
        Assert.Equal(2, a.Send(batch));
        Assert.Equal([1], Drain(b));
        Assert.Equal(1, network.FramesOversized);

        var receive = new DatagramBatch(4, 1514);
        var receiving = Task.Run(() => b.Receive(receive, CancellationToken.None));
        Thread.Sleep(50);
        network.Unplug(b);
        var error = Assert.Throws<AggregateException>(() => receiving.Wait(TimeSpan.FromSeconds(5)));
        Assert.IsType<NetworkInterfaceGoneException>(error.InnerException);
        Assert.Throws<NetworkInterfaceGoneException>(() => b.Send(batch));
        Assert.Equal(2, a.Send(batch)); // the others carry on
        using var other = new VirtualSwitch();
        Assert.Throws<ArgumentException>(() => network.Unplug(other.AddPort()));
    }
}
