using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>
/// Hostile input never throws, loops or grows memory: the parsers on mutated messages, and the controller and the switch
/// on streams of random messages after which they still answer an echo (fixed seeds, bounded counts and time).
/// </summary>
public class FuzzTests
{
    private const int Count = 20_000;

    /// <summary>Valid messages of every type, as the mutation corpus.</summary>
    private static List<byte[]> Corpus()
    {
        var corpus = new List<byte[]>();
        var buffer = new byte[OfMessage.MaxLength];
        var actions = new byte[64];
        OfAction.TryWriteList([OfAction.SetVlanVid(3), OfAction.SetNwDst(1), OfAction.Output(2)], actions, out var actionsLength);
        var list = actions[..actionsLength];
        var frame = Frames.Udp(0x02000000000a, 0x02000000000b, 1, 2, 3, 4);
        void Add(bool ok, int n)
        {
            Assert.True(ok);
            corpus.Add(buffer[..n]);
        }
        Add(new OfSimpleMessage(OfType.Hello).TryWrite(buffer, 1, out var n), n);
        Add(new OfSimpleMessage(OfType.EchoRequest, "x"u8).TryWrite(buffer, 2, out n), n);
        Add(new OfSimpleMessage(OfType.FeaturesRequest).TryWrite(buffer, 3, out n), n);
        Add(new OfSwitchConfig(0, 128).TryWrite(buffer, OfType.SetConfig, 4, out n), n);
        Add(new OfFlowMod { Match = OfMatch.Any, Command = OfFlowModCommand.Add, Priority = 1, BufferId = OfBuffer.None, OutPort = OfPort.None, Actions = list }.TryWrite(buffer, 5, out n), n);
        Add(new OfFlowMod { Match = OfMatch.Any, Command = OfFlowModCommand.Delete, BufferId = OfBuffer.None, OutPort = 2 }.TryWrite(buffer, 6, out n), n);
        Add(new OfPacketOut { BufferId = OfBuffer.None, InPort = 1, Actions = list, Data = frame }.TryWrite(buffer, 7, out n), n);
        Add(new OfPacketIn { BufferId = 1, TotalLength = (ushort)frame.Length, InPort = 1, Data = frame }.TryWrite(buffer, 8, out n), n);
        Add(new OfPortStatus(OfPortReason.Modify, new OfPhysicalPort(1, 1, "p", OfPortConfig.PortDown, 0)).TryWrite(buffer, 9, out n), n);
        Add(new OfPortMod(1, 0, 0, 0, 0).TryWrite(buffer, 10, out n), n);
        Add(new OfFlowRemoved(OfMatch.Any, 0, 0, 0, 0, 0, 0, 0, 0).TryWrite(buffer, 11, out n), n);
        var body = new byte[OfFlowStatsRequest.Size];
        new OfFlowStatsRequest(OfMatch.Any, 0xff, OfPort.None).TryWrite(body, out _);
        Add(new OfStatsMessage(OfType.StatsRequest, OfStatsType.Flow, 0, body).TryWrite(buffer, 12, out n), n);
        Add(new OfStatsMessage(OfType.StatsRequest, OfStatsType.Aggregate, 0, body).TryWrite(buffer, 13, out n), n);
        Add(new OfStatsMessage(OfType.StatsRequest, OfStatsType.Port, 0, new byte[8]).TryWrite(buffer, 14, out n), n);
        Add(new OfStatsMessage(OfType.StatsRequest, OfStatsType.Description, 0, []).TryWrite(buffer, 15, out n), n);
        Add(new OfSimpleMessage(OfType.BarrierRequest).TryWrite(buffer, 16, out n), n);
        return corpus;
    }

    /// <summary>A mutated message whose header is valid (version 1, length matching), so it reaches the handlers.</summary>
    private static byte[] Mutate(Random random, List<byte[]> corpus)
    {
        var message = (byte[])corpus[random.Next(corpus.Count)].Clone();
        switch (random.Next(4))
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
            default:
                message = new byte[random.Next(8, 200)];
                random.NextBytes(message);
                message[1] = (byte)random.Next(0, 24);
                break;
        }
        if (message.Length < 8)
        {
            Array.Resize(ref message, 8);
        }
        message[0] = OfVersion.OpenFlow10;
        if (message[1] == (byte)OfType.Hello)
        {
            message[1] = (byte)OfType.EchoReply;
        }
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)message.Length);
        return message;
    }

    [Fact]
    public void Parsers_accept_or_refuse_mutated_messages_without_throwing()
    {
        var random = new Random(20261201);
        var corpus = Corpus();
        var watch = Stopwatch.StartNew();
        var accepted = 0;
        for (var i = 0; i < Count && watch.Elapsed < TimeSpan.FromSeconds(20); i++)
        {
            var message = Mutate(random, corpus);
            Assert.True(OfMessage.TryCreate(message, out var view));
            accepted += WireFormatTests.Parses(view) ? 1 : 0;
            OfMatch.TryExtract(message, 1, out _);
            var buffer = new byte[message.Length + 4];
            message.CopyTo(buffer, 0);
            FrameRewriter.Apply(OfAction.SetNwSrc(1), buffer, message.Length);
            FrameRewriter.Apply(OfAction.SetVlanVid(1), buffer, message.Length);
        }
        Assert.InRange(accepted, Count / 10, Count); // most mutations still reach a parser that accepts them
    }

    /// <summary>A raw peer over the loopback stack's TCP.</summary>
    private static async Task<OfPeer> Connect(LoopbackStack stack, int port)
    {
        var connection = await stack.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), CancellationToken.None);
        return new OfPeer(new ConnectionStream(connection));
    }

    private static void Blast(OfPeer peer, int seed)
    {
        var random = new Random(seed);
        var corpus = Corpus();
        for (var i = 0; i < 3000; i++)
        {
            peer.Send(Mutate(random, corpus));
        }
        peer.Send(new byte[] { 1, (byte)OfType.EchoRequest, 0, 8, 0xfe, 0xed, 0xfa, 0xce });
        var echo = peer.ReadUntil(OfType.EchoReply, TimeSpan.FromSeconds(30), 0xfeedface);
        Assert.Equal(8, echo.Length);
    }

    [Fact]
    public async Task The_controller_survives_random_messages_from_a_switch()
    {
        var stack = new LoopbackStack();
        var controller = new LearningController(stack.Tcp, new LearningControllerOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 6653), MaxMacsPerSwitch = 64 });
        using var stop = new CancellationTokenSource();
        var running = controller.RunAsync(stop.Token);
        using (var peer = await Connect(stack, 6653))
        {
            peer.Send(new byte[] { 1, 0, 0, 8, 0, 0, 0, 1 });
            peer.ReadUntil(OfType.Hello, TimeSpan.FromSeconds(10));
            Blast(peer, 7);
            Assert.Equal(1, controller.ActiveSwitches);
        }
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task The_switch_survives_random_messages_from_a_controller()
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
            peer.Send(new byte[] { 1, 0, 0, 8, 0, 0, 0, 1 });
            Blast(peer, 11);
            Assert.InRange(sw.Flows.Count, 0, 100);
        }
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(20));
    }
}

/// <summary>A <see cref="Stream"/> over an <see cref="ITcpConnection"/>, for test peers.</summary>
public sealed class ConnectionStream(ITcpConnection connection) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => connection.ReadAsync(buffer, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => connection.WriteAsync(buffer.AsMemory(offset, count), CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public override void Write(ReadOnlySpan<byte> buffer) => connection.WriteAsync(buffer.ToArray(), CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            connection.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        base.Dispose(disposing);
    }
}
