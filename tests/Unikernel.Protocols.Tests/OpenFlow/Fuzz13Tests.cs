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
