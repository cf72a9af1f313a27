using Unikernel.Protocols.OpenFlow;

namespace Unikernel.Protocols.Tests.OpenFlow;

/// <summary>Decodes a message into its representation and encodes that again: the golden-byte check for captures.</summary>
public static class Codec
{
    /// <summary>The re-encoded bytes; fails when the message does not parse as its type says.</summary>
    public static byte[] ReEncode(byte[] bytes)
    {
        Assert.True(OfMessage.TryCreate(bytes, out var message), "no message");
        var output = new byte[OfMessage.MaxLength];
        var xid = message.Xid;
        bool ok;
        int n;
        switch (message.Type)
        {
            case OfType.Hello or OfType.EchoRequest or OfType.EchoReply or OfType.FeaturesRequest or OfType.GetConfigRequest or OfType.BarrierRequest or OfType.BarrierReply or OfType.Vendor:
                ok = OfSimpleMessage.Parse(message).TryWrite(output, xid, out n);
                break;
            case OfType.Error:
                Assert.True(OfErrorMessage.TryParse(message, out var error));
                ok = error.TryWrite(output, xid, out n);
                break;
            case OfType.FeaturesReply:
                Assert.True(OfFeaturesReply.TryParse(message, out var features));
                var ports = new OfPhysicalPort[features.PortCount];
                for (var i = 0; i < ports.Length; i++)
                {
                    ports[i] = features.Port(i);
                }
                ok = features.TryWrite(output, xid, ports, out n);
                break;
            case OfType.GetConfigReply or OfType.SetConfig:
                Assert.True(OfSwitchConfig.TryParse(message, out var config));
                ok = config.TryWrite(output, message.Type, xid, out n);
                break;
            case OfType.PacketIn:
                Assert.True(OfPacketIn.TryParse(message, out var packetIn));
                ok = packetIn.TryWrite(output, xid, out n);
                break;
            case OfType.PacketOut:
                Assert.True(OfPacketOut.TryParse(message, out var packetOut));
                Assert.Equal(-1, OfAction.Validate(packetOut.Actions));
                ok = packetOut.TryWrite(output, xid, out n);
                break;
            case OfType.FlowMod:
                Assert.True(OfFlowMod.TryParse(message, out var flowMod));
                Assert.Equal(-1, OfAction.Validate(flowMod.Actions));
                ok = flowMod.TryWrite(output, xid, out n);
                break;
            case OfType.FlowRemoved:
                Assert.True(OfFlowRemoved.TryParse(message, out var removed));
                ok = removed.TryWrite(output, xid, out n);
                break;
            case OfType.PortStatus:
                Assert.True(OfPortStatus.TryParse(message, out var status));
                ok = status.TryWrite(output, xid, out n);
                break;
            case OfType.PortMod:
                Assert.True(OfPortMod.TryParse(message, out var portMod));
                ok = portMod.TryWrite(output, xid, out n);
                break;
            case OfType.StatsRequest or OfType.StatsReply:
                Assert.True(OfStatsMessage.TryParse(message, out var stats));
                var body = ReEncodeStatsBody(stats);
                ok = new OfStatsMessage(stats.Type, stats.StatsType, stats.Flags, body).TryWrite(output, xid, out n);
                break;
            default:
                Assert.Fail($"no codec for message type {message.Type}");
                return [];
        }
        Assert.True(ok, $"{message.Type} does not encode again");
        return output[..n];
    }

    private static byte[] ReEncodeStatsBody(OfStatsMessage stats)
    {
        var body = stats.Body;
        var output = new byte[OfMessage.MaxLength];
        var length = 0;
        var request = stats.Type == OfType.StatsRequest;
        switch (stats.StatsType)
        {
            case OfStatsType.Description or OfStatsType.Table when request:
                Assert.Equal(0, body.Length);
                break;
            case OfStatsType.Description:
                Assert.True(OfDescriptionStats.TryRead(body, out var description));
                description.TryWrite(output, out length);
                break;
            case OfStatsType.Flow or OfStatsType.Aggregate when request:
                Assert.True(OfFlowStatsRequest.TryRead(body, out var flowRequest));
                flowRequest.TryWrite(output, out length);
                break;
            case OfStatsType.Flow:
                while (length < body.Length)
                {
                    Assert.True(OfFlowStats.TryRead(body[length..], out var flow, out var consumed));
                    Assert.Equal(-1, OfAction.Validate(flow.Actions));
                    Assert.True(flow.TryWrite(output.AsSpan(length), out var written));
                    Assert.Equal(consumed, written);
                    length += written;
                }
                break;
            case OfStatsType.Aggregate:
                Assert.True(OfAggregateStats.TryRead(body, out var aggregate));
                aggregate.TryWrite(output, out length);
                break;
            case OfStatsType.Table:
                while (length < body.Length)
                {
                    Assert.True(OfTableStats.TryRead(body[length..], out var table));
                    table.TryWrite(output.AsSpan(length), out var written);
                    length += written;
                }
                break;
            case OfStatsType.Port when request:
                Assert.True(OfPortStatsRequest.TryRead(body, out var portRequest));
                portRequest.TryWrite(output, out length);
                break;
            case OfStatsType.Port:
                while (length < body.Length)
                {
                    Assert.True(OfPortStats.TryRead(body[length..], out var port));
                    port.TryWrite(output.AsSpan(length), out var written);
                    length += written;
                }
                break;
            default:
                Assert.Fail($"no codec for stats type {stats.StatsType}");
                break;
        }
        return output[..length];
    }

    public static void AssertRoundTrip(byte[] bytes, string source)
    {
        var again = ReEncode(bytes);
        Assert.True(Convert.ToHexString(bytes) == Convert.ToHexString(again), $"{(OfType)bytes[1]} from {source} does not re-encode to the same bytes:\n {Convert.ToHexString(bytes)}\n {Convert.ToHexString(again)}");
    }
}
