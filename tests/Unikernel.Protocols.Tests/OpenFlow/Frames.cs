using System.Buffers.Binary;
using Unikernel.Devices;
using Unikernel.Protocols.Net;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>Test frames: IPv4/UDP with valid checksums, built with our own wire-format writers.</summary>
public static class Frames
{
    public static byte[] Udp(ulong source, ulong destination, uint sourceIp, uint destinationIp, ushort sourcePort, ushort destinationPort, int payloadLength = 32, byte fill = 0x5a)
    {
        var payload = new byte[payloadLength];
        payload.AsSpan().Fill(fill);
        var frame = new byte[14 + 20 + 8 + payloadLength];
        new EthernetRepr(new MacAddress(destination), new MacAddress(source), EtherType.IPv4).TryWrite(frame, out _);
        var udp = new UdpRepr(sourcePort, destinationPort, payload);
        Assert.True(udp.TryWrite(frame.AsSpan(34), sourceIp, destinationIp, out var udpLength));
        var ip = frame.AsSpan(14, 20);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + udpLength));
        ip[8] = 64;
        ip[9] = 17;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], sourceIp);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], destinationIp);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Finish(InternetChecksum.Add(0, ip)));
        return frame;
    }

    /// <summary>True when the IPv4 header checksum and the UDP checksum of <paramref name="frame"/> are right.</summary>
    public static bool ChecksumsValid(ReadOnlySpan<byte> frame)
    {
        var ip = frame[14..];
        var headerLength = (ip[0] & 0xf) * 4;
        if (InternetChecksum.Finish(InternetChecksum.Add(0, ip[..headerLength])) != 0)
        {
            return false;
        }
        var source = BinaryPrimitives.ReadUInt32BigEndian(ip[12..]);
        var destination = BinaryPrimitives.ReadUInt32BigEndian(ip[16..]);
        return UdpPacket.TryCreate(ip[headerLength..], out var udp) && udp.IsChecksumValid(source, destination);
    }

    public static void Send(INetworkInterface port, byte[] frame)
    {
        var batch = new DatagramBatch(1, 2048);
        Assert.True(batch.TryAdd(frame, default));
        Assert.Equal(1, port.Send(batch));
    }

    /// <summary>Asserts that the first frame to arrive at <paramref name="host"/> within <paramref name="timeout"/> is <paramref name="frame"/>, byte for byte.</summary>
    public static void Expect(INetworkInterface host, byte[] frame, string what, TimeSpan timeout)
    {
        var received = Receive(host, timeout);
        Assert.True(received.Count >= 1, $"{what}: nothing arrived");
        Assert.Equal(Convert.ToHexString(frame), Convert.ToHexString(received[0]));
    }

    /// <summary>Asserts that nothing arrives at <paramref name="host"/> for 200 ms.</summary>
    public static void ExpectNothing(INetworkInterface host) => Assert.Empty(Receive(host, TimeSpan.FromMilliseconds(200)));

    /// <summary>Frames that arrive within <paramref name="timeout"/> (real time, bounded).</summary>
    public static List<byte[]> Receive(INetworkInterface port, TimeSpan timeout, int atLeast = 1)
    {
        var frames = new List<byte[]>();
        var batch = new DatagramBatch(64, 2048);
        using var cts = new CancellationTokenSource(timeout);
        while (frames.Count < atLeast && !cts.IsCancellationRequested)
        {
            var n = port.Receive(batch, cts.Token);
            for (var i = 0; i < n; i++)
            {
                frames.Add(batch.Datagram(i).ToArray());
            }
        }
        return frames;
    }
}
