using System.Net;
using Unikernel.Protocols.Net;

namespace Unikernel.Protocols.Tests.Net;

/// <summary>The settings an appliance configures (c.Tcp / kind: tcp): the constructor the generated code calls, and their effect on the engine.</summary>
public sealed class TcpSettingsTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(10);

    private static TcpSettings Make(int sendBuffer = 262144, int receiveBuffer = 262144, int maxConnections = 16384, int timeWaitSeconds = 60, int maxTimeWait = 4096,
        int keepAliveIdleSeconds = 0, int keepAliveIntervalSeconds = 75, int keepAliveProbes = 9, string congestionControl = "cubic", string nagle = "auto") =>
        new(sendBuffer, receiveBuffer, maxConnections, timeWaitSeconds, maxTimeWait, keepAliveIdleSeconds, keepAliveIntervalSeconds, keepAliveProbes, congestionControl, nagle);

    [Fact]
    public void The_configured_constructor_with_the_catalogue_defaults_equals_the_defaults()
    {
        var configured = Make();
        var defaults = new TcpSettings();
        Assert.Equal(defaults.SendBufferSize, configured.SendBufferSize);
        Assert.Equal(defaults.ReceiveBufferSize, configured.ReceiveBufferSize);
        Assert.Equal(defaults.MaxConnections, configured.MaxConnections);
        Assert.Equal(defaults.Msl, configured.Msl);
        Assert.Equal(defaults.MaxTimeWait, configured.MaxTimeWait);
        Assert.Equal(defaults.KeepAliveIdle, configured.KeepAliveIdle);
        Assert.Equal(defaults.KeepAliveInterval, configured.KeepAliveInterval);
        Assert.Equal(defaults.KeepAliveProbes, configured.KeepAliveProbes);
        Assert.Equal(defaults.CongestionControl, configured.CongestionControl);
        Assert.Equal(defaults.NoDelay, configured.NoDelay);
    }

    [Fact]
    public void Values_map_to_the_engine_settings()
    {
        var settings = Make(sendBuffer: 1 << 20, receiveBuffer: 65536, maxConnections: 10, timeWaitSeconds: 5, maxTimeWait: 2,
            keepAliveIdleSeconds: 30, keepAliveIntervalSeconds: 3, keepAliveProbes: 4, congestionControl: "NewReno", nagle: "off");
        Assert.Equal(1 << 20, settings.SendBufferSize);
        Assert.Equal(65536, settings.ReceiveBufferSize);
        Assert.Equal(10, settings.MaxConnections);
        Assert.Equal(TimeSpan.FromSeconds(2.5), settings.Msl);
        Assert.Equal(2, settings.MaxTimeWait);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.KeepAliveIdle);
        Assert.Equal(TimeSpan.FromSeconds(3), settings.KeepAliveInterval);
        Assert.Equal(4, settings.KeepAliveProbes);
        Assert.Equal(TcpCongestionControl.NewReno, settings.CongestionControl);
        Assert.True(settings.NoDelay);
        Assert.False(Make(nagle: "on").NoDelay);
    }

    [Theory]
    [InlineData(-1, 262144, 1, "cubic", "auto")]
    [InlineData(262144, 100, 1, "cubic", "auto")]
    [InlineData(262144, 262144, 0, "cubic", "auto")]
    [InlineData(262144, 262144, 1, "bbr", "auto")]
    [InlineData(262144, 262144, 1, "cubic", "sometimes")]
    public void Bad_values_are_refused_at_run_time_too(int sendBuffer, int receiveBuffer, int probes, string congestion, string nagle) =>
        Assert.ThrowsAny<ArgumentException>(() => Make(sendBuffer: sendBuffer, receiveBuffer: receiveBuffer, keepAliveProbes: probes, congestionControl: congestion, nagle: nagle));

    [Fact]
    public void Nagle_setting_applies_to_accepted_and_connected_connections()
    {
        foreach (var (nagle, connected, accepted) in new[] { ("auto", false, true), ("on", false, false), ("off", true, true) })
        {
            var net = new TcpTestNet(1);
            var client = net.Add(IPv4Address.Parse("10.0.0.1"), Make(nagle: nagle), seed: 11);
            var server = net.Add(IPv4Address.Parse("10.0.0.2"), Make(nagle: nagle), seed: 22);
            var listener = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 80));
            var c = net.Connect(client, server.EndPoint(80));
            var s = net.Accept(server, listener);
            Assert.Equal(connected, c.NoDelay);
            Assert.Equal(accepted, s.NoDelay);
        }
    }

    [Fact]
    public void Configured_buffers_bound_the_window_and_time_wait_lasts_the_configured_time()
    {
        var net = new TcpTestNet(1);
        var client = net.Add(IPv4Address.Parse("10.0.0.1"), Make(timeWaitSeconds: 4), seed: 11);
        var server = net.Add(IPv4Address.Parse("10.0.0.2"), Make(receiveBuffer: 16384), seed: 22);
        var listener = server.Engine.Listen(new IPEndPoint(IPAddress.Any, 80));
        var c = net.Connect(client, server.EndPoint(80));
        var s = net.Accept(server, listener);
        Assert.Equal(0, c.SendShift); // a 16 KiB window needs no scaling
        var data = TcpTestNet.RandomBytes(100_000, 3);
        Assert.Equal(data, net.Transfer(client, c, server, s, data, Budget));
        lock (client.Gate)
        {
            c.CloseLocked();
        }
        net.Run(() => s.State == TcpState.CloseWait, Budget);
        lock (server.Gate)
        {
            s.CloseLocked();
        }
        net.Run(() => c.State == TcpState.TimeWait, Budget);
        net.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(TcpState.TimeWait, c.State);
        net.Advance(TimeSpan.FromSeconds(1.5));
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(0, client.Engine.TimeWaitCount);
    }
}
