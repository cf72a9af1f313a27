using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>
/// The OpenFlow 1.3 decoders on mutated messages (the corpus: what Open vSwitch sent and received in the capture) never
/// throw, and the controller speaking 1.3 survives a stream of them and still answers an echo (fixed seeds, bounded).
/// </summary>
public class Fuzz13Tests
{
    private const int Count = 20_000;

    private static List<byte[]> Corpus() => Codec13.ReadCapture("ovs-3.1-openflow13.txt").Select(m => m.Bytes).Where(m => m[1] != (byte)Of13Type.Hello).ToList();

    private static byte[] Mutate(Random random, List<byte[]> corpus)
    {
        var message = (byte[])corpus[random.Next(corpus.Count)].Clone();
        switch (random.Next(5))
        {
            case 0 when message.Length > 8:
                for (var flips = random.Next(1, 6); flips > 0; flips--)
                {
                    message[random.Next(8, message.Length)] ^= (byte)(1 << random.Next(8));
                }
                break;
            case 1:
                message = message[..random.Next(8, message.Length + 1)];
                break;
            case 2:
                Array.Resize(ref message, message.Length + random.Next(1, 64));
                random.NextBytes(message.AsSpan(message.Length - 8));
                break;
            case 3 when message.Length > 16:
                // A length field inside (match, instruction, action, OXM) set to something random.
                var at = random.Next(8, message.Length - 2);
                BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(at), (ushort)random.Next(0, 600));
                break;
            default:
                message = new byte[random.Next(8, 200)];
                random.NextBytes(message);
                message[1] = (byte)random.Next(1, 30);
                break;
        }
        message[0] = OfVersion.OpenFlow13;
        if (message[1] == (byte)Of13Type.Hello)
        {
            message[1] = (byte)Of13Type.EchoReply;
        }
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)message.Length);
        return message;
    }

    /// <summary>Every 1.3 parser on the message, walking every match, instruction and action it yields.</summary>
    internal static bool Parses(OfMessage view)
    {
        var accepted = false;
        static void Walk(Of13Match match)
        {
            var reader = match.Reader();
            while (reader.TryRead(out var oxm))
            {
                _ = oxm.ValueAsNumber + oxm.MaskAsNumber;
            }
            Assert.False(reader.Malformed); // TryRead checked every TLV
        }
        // The switch's compiled match: refuses with a code or compiles into something a packet can be tested against.
        static void Compile(Of13Match match)
        {
            if (Of13CompiledMatch.TryCompile(match, out var compiled, out var error))
            {
                var packet = new Of13PacketFields();
                packet.Extract(Frames.Udp(1, 2, 3, 4, 5, 6), 1, 0);
                _ = compiled.Covers(packet) | compiled.Includes(compiled) | compiled.Overlaps(Of13CompiledMatch.Any);
                Assert.True(compiled.SameAs(compiled));
            }
            else
            {
                Assert.InRange(error, 1, 11);
            }
        }
        static void Instructions(ReadOnlySpan<byte> list)
        {
            if (Of13Instruction.Validate(list) >= 0)
            {
                return;
            }
            while (!list.IsEmpty)
            {
                Assert.True(Of13Instruction.TryRead(list, out var instruction, out var n, out _));
                Assert.Equal(-1, Of13Action.Validate(instruction.Actions));
                list = list[n..];
            }
        }
        if (Of13PacketIn.TryParse(view, out var packetIn))
        {
            accepted = true;
            Walk(packetIn.Match);
            _ = packetIn.InPort;
        }
        if (Of13FlowMod.TryParse(view, out var flowMod))
        {
            accepted = true;
            Walk(flowMod.Match);
            Instructions(flowMod.Instructions);
            Compile(flowMod.Match);
        }
        if (Of13FlowRemoved.TryParse(view, out var removed))
        {
            accepted = true;
            Walk(removed.Match);
        }
        if (Of13PacketOut.TryParse(view, out var packetOut))
        {
            accepted = true;
            Of13Action.Validate(packetOut.Actions);
        }
        accepted |= Of13FeaturesReply.TryParse(view, out _);
        accepted |= Of13Role.TryParse(view, out _);
        accepted |= Of13PortStatus.TryParse(view, out _);
        accepted |= Of13PortMod.TryParse(view, out _);
        accepted |= OfErrorMessage.TryParse(view, out _);
        accepted |= OfSwitchConfig.TryParse(view, out _);
        if (Of13Multipart.TryParse(view, out var multipart))
        {
            accepted = true;
            var body = multipart.Body;
            if (multipart.MultipartType == Of13MultipartType.Flow && multipart.Reply)
            {
                while (Of13FlowStats.TryRead(body, out var flow, out var n))
                {
                    Walk(flow.Match);
                    Instructions(flow.Instructions);
                    body = body[n..];
                }
            }
            else if (multipart.MultipartType is Of13MultipartType.Flow or Of13MultipartType.Aggregate && Of13FlowStatsRequest.TryRead(body, out var request))
            {
                Walk(request.Match);
                Compile(request.Match);
            }
            else if (multipart.MultipartType == Of13MultipartType.Aggregate)
            {
                OfAggregateStats.TryRead(body, out _);
            }
            else if (multipart.MultipartType == Of13MultipartType.Table)
            {
                while (Of13TableStats.TryRead(body, out _))
                {
                    body = body[Of13TableStats.Size..];
                }
            }
            else if (multipart.MultipartType == Of13MultipartType.PortStats)
            {
                Of13PortStats.TryReadRequest(body, out _);
                while (Of13PortStats.TryRead(body, out _))
                {
                    body = body[Of13PortStats.Size..];
                }
            }
            else if (multipart.MultipartType == Of13MultipartType.PortDescription)
            {
                while (Of13PortDescription.TryRead(body, out _))
                {
                    body = body[Of13PortDescription.Size..];
                }
            }
        }
        return accepted;
    }

    [Fact]
    public void Parsers_accept_or_refuse_mutated_1_3_messages_without_throwing()
    {
        var random = new Random(20261202);
        var corpus = Corpus();
        Assert.True(corpus.Count > 30);
        var watch = Stopwatch.StartNew();
        var accepted = 0;
        var mutated = 0;
        for (var i = 0; i < Count && watch.Elapsed < TimeSpan.FromSeconds(20); i++, mutated++)
        {
            var message = Mutate(random, corpus);
            Assert.True(OfMessage.TryCreate(message, out var view));
            accepted += Parses(view) ? 1 : 0;
            // Re-encoding what parsed never fails and stays within what was read.
            if (Of13FlowMod.TryParse(view, out var flowMod))
            {
                var output = new byte[message.Length + 8];
                Assert.True(flowMod.TryWrite(output, view.Xid, out var n));
                Assert.True(n <= message.Length);
            }
        }
        Assert.InRange(accepted, mutated / 10, mutated);
    }

    [Fact]
    public void Packet_field_extraction_takes_any_frame()
    {
        var random = new Random(1313);
        var packet = new Of13PacketFields();
        var seeds = new[]
        {
            Frames.Udp(0x020000000001, 0x020000000002, 0x0a000001, 0x0a000002, 1000, 2000, 40),
            Convert.FromHexString("333300000001020000000001" + "86dd" + "6000000000203aff" + "fe800000000000000000000000000001" + "ff0200000000000000000001ff000002" + "8700000000000000" + "fe800000000000000000000000000002" + "0101020000000001"),
            Convert.FromHexString("ffffffffffff020000000001" + "8100" + "0005" + "0806" + "0001080006040001020000000001" + "0a000001" + "000000000000" + "0a000002"),
        };
        for (var i = 0; i < Count; i++)
        {
            var frame = (byte[])seeds[random.Next(seeds.Length)].Clone();
            frame = frame[..random.Next(0, frame.Length + 1)];
            for (var flips = random.Next(0, 4); flips > 0 && frame.Length > 0; flips--)
            {
                frame[random.Next(frame.Length)] ^= (byte)(1 << random.Next(8));
            }
            packet.Extract(frame, 1, 0);
            Assert.True(packet.Has(OxmField.InPort));
            Assert.Equal(frame.Length >= 14, packet.Has(OxmField.EthType));
        }
    }

    [Fact]
    public async Task The_switch_speaking_1_3_survives_random_messages_from_a_controller()
    {
        var stack = new LoopbackStack();
        using var listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Loopback, 6653));
        using var link = new VirtualSwitch();
        var ports = new[] { link.AddPort(), link.AddPort() };
        var clock = new VirtualClock { AutoAdvance = false };
        var sw = new SoftwareSwitch(ports, stack.Tcp, clock, clock, new SoftwareSwitchOptions { Controller = new IPEndPoint(IPAddress.Loopback, 6653), MaxFlows = 100 });
        using var stop = new CancellationTokenSource();
        var running = sw.RunAsync(stop.Token);
        var connection = await listener.AcceptAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        using (var peer = new OfPeer(new ConnectionStream(connection)))
        {
            peer.ReadUntil(OfType.Hello, TimeSpan.FromSeconds(10));
            peer.Send(Convert.FromHexString("04000010000000010001000800000010"));
            var random = new Random(1313);
            var corpus = Corpus();
            for (var i = 0; i < 3000; i++)
            {
                peer.Send(Mutate(random, corpus));
            }
            peer.Send(new byte[] { 4, (byte)OfType.EchoRequest, 0, 8, 0xfe, 0xed, 0xfa, 0xce });
            var echo = peer.ReadUntil(OfType.EchoReply, TimeSpan.FromSeconds(30), 0xfeedface);
            Assert.Equal(OfVersion.OpenFlow13, echo[0]);
            Assert.InRange(sw.Flows13.Count, 0, 100);
            Assert.Equal(0, sw.Flows.Count);
        }
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task The_controller_speaking_1_3_survives_random_messages_from_a_switch()
    {
        var stack = new LoopbackStack();
        var controller = new LearningController(stack.Tcp, new LearningControllerOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 6653), MaxMacsPerSwitch = 64 });
        using var stop = new CancellationTokenSource();
        var running = controller.RunAsync(stop.Token);
        var connection = await stack.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Loopback, 6653), CancellationToken.None);
        using (var peer = new OfPeer(new ConnectionStream(connection)))
        {
            peer.Send(Convert.FromHexString("04000010000000010001000800000010"));
            peer.ReadUntil(OfType.Hello, TimeSpan.FromSeconds(10));
            var random = new Random(13);
            var corpus = Corpus();
            for (var i = 0; i < 3000; i++)
            {
                peer.Send(Mutate(random, corpus));
            }
            peer.Send(new byte[] { 4, (byte)OfType.EchoRequest, 0, 8, 0xfe, 0xed, 0xfa, 0xce });
            var echo = peer.ReadUntil(OfType.EchoReply, TimeSpan.FromSeconds(30), 0xfeedface);
            Assert.Equal(OfVersion.OpenFlow13, echo[0]);
            Assert.Equal(1, controller.ActiveSwitches);
        }
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(20));
    }
}
