using System.Text;
using Unikernel.Protocols.Iperf;

namespace Unikernel.Protocols.Tests.Iperf;

/// <summary>The client's parameters (as iperf3 3.12 sends them for each option) against what the server supports.</summary>
public sealed class ParametersTests
{
    // What every 3.12 client sends; the options' members follow (a member given twice counts once, the first).
    private const string Base = "\"tcp\":true,\"pacing_timer\":1000,\"client_version\":\"3.12\"";

    private static JsonValue Json(string members)
    {
        Assert.True(JsonReader.TryParse(Encoding.UTF8.GetBytes("{" + Base + members + "}"), out var json, out var error), error);
        return json;
    }

    private static IperfParameters Accept(string members)
    {
        Assert.True(IperfParameters.TryParse(Json(members), IperfLimits.Default, out var parameters, out var refusal), refusal.Reason);
        return parameters;
    }

    private static IperfRefusal Refuse(string members, IperfLimits? limits = null)
    {
        Assert.False(IperfParameters.TryParse(Json(members), limits ?? IperfLimits.Default, out _, out var refusal));
        Assert.NotEmpty(refusal.Reason);
        return refusal;
    }

    [Fact]
    public void Defaults_and_the_supported_options()
    {
        var plain = Accept(",\"omit\":0,\"time\":10,\"num\":0,\"blockcount\":0,\"parallel\":1,\"len\":131072");
        Assert.False(plain.Reverse);
        Assert.Equal(1, plain.Streams);
        Assert.Equal(10, plain.Duration);
        Assert.Equal(131072, plain.BlockLength);
        Assert.Equal("3.12", plain.ClientVersion);

        // -R -P 3 -n 10M -l 1000 -O 1 --get-server-output -N -C reno -T title --extra-data x
        var all = Accept(",\"reverse\":true,\"parallel\":3,\"num\":10485760,\"len\":1000,\"omit\":1,\"get_server_output\":1,\"nodelay\":true,\"congestion\":\"reno\",\"title\":\"t\",\"extra_data\":\"x\"");
        Assert.True(all.Reverse);
        Assert.Equal(3, all.Streams);
        Assert.Equal(10485760, all.Bytes);
        Assert.Equal(1000, all.BlockLength);
        Assert.Equal(1, all.Omit);
        Assert.True(all.GetServerOutput);

        // -b on a forward test paces the client, not us; -k.
        Assert.Equal(7, Accept(",\"bandwidth\":1000000,\"blockcount\":7").Blocks);
    }

    [Theory]
    [InlineData(",\"udp\":true", IperfError.Unimplemented)]
    [InlineData(",\"sctp\":true", IperfError.Unimplemented)]
    [InlineData(",\"bidirectional\":true", IperfError.Unimplemented)]
    [InlineData(",\"window\":65536", IperfError.Unimplemented)]
    [InlineData(",\"MSS\":1000", IperfError.Unimplemented)]
    [InlineData(",\"TOS\":16", IperfError.Unimplemented)]
    [InlineData(",\"reverse\":true,\"bandwidth\":1000000", IperfError.Unimplemented)]
    [InlineData(",\"reverse\":true,\"fqrate\":1000000", IperfError.Unimplemented)]
    [InlineData(",\"parallel\":129", IperfError.NumStreams)]
    [InlineData(",\"parallel\":0", IperfError.NumStreams)]
    [InlineData(",\"parallel\":\"2\"", IperfError.NumStreams)]
    [InlineData(",\"parallel\":1.5", IperfError.NumStreams)]
    [InlineData(",\"time\":3601", IperfError.Duration)]
    [InlineData(",\"time\":-1", IperfError.Duration)]
    [InlineData(",\"len\":0", IperfError.BlockSize)]
    [InlineData(",\"len\":1048577", IperfError.BlockSize)]
    [InlineData(",\"omit\":601", IperfError.Omit)]
    [InlineData(",\"num\":-5", IperfError.ReceiveParameters)]
    public void Refuses_what_it_does_not_do(string members, IperfError error)
    {
        Assert.Equal(error, Refuse(members).Error);
    }

    [Fact]
    public void The_limits_are_the_servers()
    {
        var limits = IperfLimits.Default with { MaxStreams = 4, MaxDuration = 5 };
        Assert.Equal(IperfError.NumStreams, Refuse(",\"parallel\":5", limits).Error);
        Assert.Equal(IperfError.Duration, Refuse(",\"time\":6", limits).Error);
        Assert.True(JsonReader.TryParse("[1]"u8, out var array, out _));
        Assert.False(IperfParameters.TryParse(array, limits, out _, out var refusal));
        Assert.Equal(IperfError.ReceiveParameters, refusal.Error);
    }

    [Fact]
    public void Cookies_are_36_printable_characters_and_a_nul()
    {
        var cookie = Encoding.ASCII.GetBytes("abcdefghijklmnopqrstuvwxyz2345672345\0");
        Assert.True(IperfWire.IsWellFormedCookie(cookie));
        Assert.False(IperfWire.IsWellFormedCookie(cookie.AsSpan(0, 36)));
        cookie[36] = (byte)'x';
        Assert.False(IperfWire.IsWellFormedCookie(cookie));
        cookie[36] = 0;
        cookie[3] = (byte)' ';
        Assert.False(IperfWire.IsWellFormedCookie(cookie));
        Span<byte> error = stackalloc byte[9];
        Assert.Equal(9, IperfWire.WriteServerError(error, IperfError.Unimplemented, 90));
        Assert.Equal(new byte[] { 0xFE, 0, 0, 0, 13, 0, 0, 0, 90 }, error.ToArray());
    }
}
