using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>Decodes an OpenFlow 1.3 message into its representation and encodes that again (the golden-byte check).</summary>
public static class Codec13
{
    /// <summary>True when we have a representation for the message (type, and multipart type); false for the others.</summary>
    public static bool Known(byte[] bytes)
    {
        var type = (Of13Type)bytes[1];
        if (type is Of13Type.MultipartRequest or Of13Type.MultipartReply)
        {
            var sub = (Of13MultipartType)(bytes[8] << 8 | bytes[9]);
            return sub is Of13MultipartType.Description or Of13MultipartType.Flow or Of13MultipartType.Aggregate or Of13MultipartType.PortDescription;
        }
        return type <= Of13Type.PortMod && type != Of13Type.GroupMod || type is Of13Type.BarrierRequest or Of13Type.BarrierReply;
    }

    public static byte[] ReEncode(byte[] bytes)
    {
        Assert.True(OfMessage.TryCreate(bytes, out var message), "no message");
        Assert.Equal(OfVersion.OpenFlow13, message.Version);
        var output = new byte[OfMessage.MaxLength];
        var xid = message.Xid;
        bool ok;
        int n;
        switch ((Of13Type)message.Type)
        {
            case Of13Type.Hello:
                Assert.True(OfHello.TryParse(message, out var hello));
                ok = (hello.VersionBitmap == 0 ? new OfSimpleMessage(message.Type, message.Body, message.Version).TryWrite(output, xid, out n) : hello.TryWrite(output, xid, out n));
                break;
            case Of13Type.EchoRequest or Of13Type.EchoReply or Of13Type.FeaturesRequest or Of13Type.GetConfigRequest or Of13Type.BarrierRequest or Of13Type.BarrierReply or Of13Type.Experimenter:
                ok = OfSimpleMessage.Parse(message).TryWrite(output, xid, out n);
                break;
            case Of13Type.Error:
                Assert.True(OfErrorMessage.TryParse(message, out var error));
                ok = error.TryWrite(output, xid, out n);
                break;
            case Of13Type.FeaturesReply:
                Assert.True(Of13FeaturesReply.TryParse(message, out var features));
                ok = features.TryWrite(output, xid, out n);
                break;
            case Of13Type.GetConfigReply or Of13Type.SetConfig:
                Assert.True(OfSwitchConfig.TryParse(message, out var config));
                ok = config.TryWrite(output, message.Type, xid, out n);
                break;
            case Of13Type.PacketIn:
                Assert.True(Of13PacketIn.TryParse(message, out var packetIn));
                ok = packetIn.TryWrite(output, xid, out n);
                break;
            case Of13Type.PacketOut:
                Assert.True(Of13PacketOut.TryParse(message, out var packetOut));
                Assert.Equal(-1, Of13Action.Validate(packetOut.Actions));
                ok = packetOut.TryWrite(output, xid, out n);
                break;
            case Of13Type.FlowMod:
                Assert.True(Of13FlowMod.TryParse(message, out var flowMod));
                Assert.Equal(-1, Of13Instruction.Validate(flowMod.Instructions));
                ok = flowMod.TryWrite(output, xid, out n);
                break;
            case Of13Type.FlowRemoved:
                Assert.True(Of13FlowRemoved.TryParse(message, out var removed));
                ok = removed.TryWrite(output, xid, out n);
                break;
            case Of13Type.PortStatus:
                Assert.True(Of13PortStatus.TryParse(message, out var status));
                ok = status.TryWrite(output, xid, out n);
                break;
            case Of13Type.PortMod:
                Assert.True(Of13PortMod.TryParse(message, out var portMod));
                ok = portMod.TryWrite(output, xid, out n);
                break;
            case Of13Type.MultipartRequest or Of13Type.MultipartReply:
                Assert.True(Of13Multipart.TryParse(message, out var multipart));
                var body = ReEncodeBody(multipart);
                ok = new Of13Multipart(multipart.Reply, multipart.MultipartType, multipart.Flags, body).TryWrite(output, xid, out n);
                break;
            default:
                Assert.Fail($"no codec for OpenFlow 1.3 message type {(Of13Type)message.Type}");
                return [];
        }
        Assert.True(ok, $"{(Of13Type)message.Type} does not encode again");
        return output[..n];
    }

    private static byte[] ReEncodeBody(Of13Multipart multipart)
    {
        var body = multipart.Body;
        var output = new byte[OfMessage.MaxLength];
        var length = 0;
        switch (multipart.MultipartType)
        {
            case Of13MultipartType.Description or Of13MultipartType.PortDescription when !multipart.Reply:
                Assert.Equal(0, body.Length);
                break;
            case Of13MultipartType.Description:
                Assert.True(OfDescriptionStats.TryRead(body, out var description));
                description.TryWrite(output, out length);
                break;
            case Of13MultipartType.Flow or Of13MultipartType.Aggregate when !multipart.Reply:
                Assert.True(Of13FlowStatsRequest.TryRead(body, out var request));
                request.TryWrite(output, out length);
                break;
            case Of13MultipartType.Flow:
                while (length < body.Length)
                {
                    Assert.True(Of13FlowStats.TryRead(body[length..], out var flow, out var consumed));
                    Assert.Equal(-1, Of13Instruction.Validate(flow.Instructions));
                    Assert.True(flow.TryWrite(output.AsSpan(length), out var written));
                    Assert.Equal(consumed, written);
                    length += written;
                }
                break;
            case Of13MultipartType.Aggregate:
                Assert.True(OfAggregateStats.TryRead(body, out var aggregate));
                aggregate.TryWrite(output, out length);
                break;
            case Of13MultipartType.PortDescription:
                while (length < body.Length)
                {
                    Assert.True(Of13PortDescription.TryRead(body[length..], out var port));
                    port.TryWrite(output.AsSpan(length), out var written);
                    length += written;
                }
                break;
            default:
                Assert.Fail($"no codec for multipart type {multipart.MultipartType}");
                break;
        }
        return output[..length];
    }

    public static void AssertRoundTrip(byte[] bytes, string source)
    {
        var again = ReEncode(bytes);
        Assert.True(Convert.ToHexString(bytes) == Convert.ToHexString(again), $"OpenFlow 1.3 {(Of13Type)bytes[1]} from {source} does not re-encode to the same bytes:\n {Convert.ToHexString(bytes)}\n {Convert.ToHexString(again)}");
    }

    /// <summary>The captured messages of a capture file ('>' or '<', then hex), in order.</summary>
    public static List<(char Direction, byte[] Bytes)> ReadCapture(string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "OpenFlow", "Captures", name);
        var messages = new List<(char, byte[])>();
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length > 2 && line[0] is '>' or '<')
            {
                messages.Add((line[0], Convert.FromHexString(line[2..].Trim())));
            }
        }
        return messages;
    }
}
