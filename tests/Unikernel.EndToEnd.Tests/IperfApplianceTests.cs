using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Xunit.Abstractions;

namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// examples/iperf published once per stack (shared by the tests of the run) and measured by the stock iperf3 client
/// (Debian package iperf3): over host sockets on loopback, and over our direct stack on a tap in a namespace the test
/// makes (kernel side 10.215.0.1/24, appliance 10.215.0.2). Each transfer lasts 2 s (-t 2) and each client run is
/// bounded by a process timeout; -J output is parsed for the bytes moved. The direct-stack tests need root,
/// /dev/net/tun and iproute2 and fail (never skip) without them.
/// </summary>
[Collection("Iperf")]
public sealed class IperfApplianceTests(ITestOutputHelper output)
{
    private const string Ready = "iperf: serving";
    private const string ApplianceAddress = "10.215.0.2";

    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(40);

    [Fact]
    public void The_socket_stack_appliance_is_measured_forward_reverse_and_with_three_streams()
    {
        RequireIperf3();
        using var iperf = ApplianceProcess.Start("iperf", Ready);
        var port = iperf.Port.ToString(CultureInfo.InvariantCulture);

        var forward = Measure(Processes.Run("iperf3", ["-c", "127.0.0.1", "-p", port, "-t", "2", "-J"], ClientTimeout), streams: 1);
        Assert.False(forward.Reverse);
        var reverse = Measure(Processes.Run("iperf3", ["-c", "127.0.0.1", "-p", port, "-t", "2", "-R", "-J"], ClientTimeout), streams: 1);
        Assert.True(reverse.Reverse);
        Measure(Processes.Run("iperf3", ["-c", "127.0.0.1", "-p", port, "-t", "2", "-P", "3", "-J"], ClientTimeout), streams: 3);
        // -n and -l as iperf3 sends them: the reverse test by bytes ends when the client has them all.
        var bytes = Measure(Processes.Run("iperf3", ["-c", "127.0.0.1", "-p", port, "-R", "-n", "4M", "-l", "1000", "-J"], ClientTimeout), streams: 1);
        Assert.True(bytes.Received >= 4 * 1024 * 1024, $"received {bytes.Received} bytes of a 4 MiB test");

        iperf.WaitFor(" bytes on ", 4);
        Assert.Contains("received ", iperf.Output(), StringComparison.Ordinal);
        Assert.Contains("sent ", iperf.Output(), StringComparison.Ordinal);
    }

    [Fact]
    public void Udp_is_refused_a_second_client_is_denied_and_the_appliance_goes_on()
    {
        RequireIperf3();
        using var iperf = ApplianceProcess.Start("iperf", Ready);
        var port = iperf.Port.ToString(CultureInfo.InvariantCulture);

        var udp = Processes.Run("iperf3", ["-c", "127.0.0.1", "-p", port, "-u", "-t", "1"], ClientTimeout);
        Assert.False(udp.TimedOut, udp.ToString());
        Assert.NotEqual(0, udp.ExitCode);
        Assert.Contains("not implemented", udp.StandardOutput + udp.StandardError, StringComparison.Ordinal);

        // A second client while a 4 s test runs gets iperf3's "busy".
        var first = Process.Start(new ProcessStartInfo("iperf3", ["-c", "127.0.0.1", "-p", port, "-t", "4"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        try
        {
            iperf.WaitFor("test started");
            var second = Processes.Run("iperf3", ["-c", "127.0.0.1", "-p", port, "-t", "1"], ClientTimeout);
            Assert.NotEqual(0, second.ExitCode);
            Assert.Contains("busy", second.StandardOutput + second.StandardError, StringComparison.Ordinal);
            Assert.True(first.WaitForExit(ClientTimeout), "the first client did not finish");
            Assert.Equal(0, first.ExitCode);
        }
        finally
        {
            if (!first.HasExited)
            {
                first.Kill();
                first.WaitForExit(5000);
            }
            first.Dispose();
        }
        // Hostile clients over real sockets: a cookie that is not one, a JSON length of 4 GiB, a close at once.
        Assert.Equal([0xFF], Exchange(iperf.Port, [.. Enumerable.Repeat((byte)'x', 37)], 1));
        var cookie = System.Text.Encoding.ASCII.GetBytes("abcdefghijklmnopqrstuvwxyz2345672345\0");
        Assert.Equal([9, 0xFE, 0, 0, 0, 114, 0, 0, 0, 90], Exchange(iperf.Port, [.. cookie, 0xFF, 0xFF, 0xFF, 0xFF], 10));
        Assert.Empty(Exchange(iperf.Port, [], 0));
        iperf.WaitFor("closed before sending its cookie"); // that test is over before the next client comes
        Measure(Processes.Run("iperf3", ["-c", "127.0.0.1", "-p", port, "-t", "2", "-J"], ClientTimeout), streams: 1);
        iperf.WaitFor("not an iperf3 cookie");
        iperf.WaitFor("a JSON message of 4294967295 bytes");
        iperf.WaitFor("busy, sent ACCESS_DENIED");
        iperf.WaitFor("refused: UDP tests are not supported");
    }

    [Fact]
    public void The_direct_stack_appliance_on_a_tap_is_measured_forward_reverse_and_with_three_streams()
    {
        RequireIperf3();
        using var link = TapNamespace.Create(output, "iperf3");
        using var iperf = link.StartExample("iperf", Ready,
            "--interface", link.TapName, "--ipv4", ApplianceAddress + "/24", "--address", ApplianceAddress);
        Assert.Contains($"on {ApplianceAddress}:5201 over the direct stack", iperf.Output, StringComparison.Ordinal);

        var forward = Measure(link.Exec(ClientTimeout, "iperf3", "-c", ApplianceAddress, "-t", "2", "-J"), streams: 1);
        var reverse = Measure(link.Exec(ClientTimeout, "iperf3", "-c", ApplianceAddress, "-t", "2", "-R", "-J"), streams: 1);
        Assert.True(reverse.Reverse);
        var parallel = Measure(link.Exec(ClientTimeout, "iperf3", "-c", ApplianceAddress, "-t", "2", "-P", "3", "-J"), streams: 3);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"direct stack over the tap: forward {forward.BitsPerSecond / 1e9:0.00} Gbit/s, reverse {reverse.BitsPerSecond / 1e9:0.00} Gbit/s, -P 3 {parallel.BitsPerSecond / 1e9:0.00} Gbit/s"));

        Assert.True(iperf.IsRunning, "the appliance exited:\n" + iperf.Output);
        var stopped = iperf.Stop();
        output.WriteLine(stopped);
        Assert.Contains("iperf: stopped: 3 test(s), 3 completed, 0 refused, 0 denied", stopped, StringComparison.Ordinal);
    }

    /// <summary>What the client's -J report says: the bytes the receiver counted, the direction, its rate.</summary>
    private sealed record Measured(long Received, bool Reverse, double BitsPerSecond);

    private Measured Measure(ProcessResult run, int streams)
    {
        output.WriteLine(run.StandardError);
        Assert.True(run.ExitCode == 0 && !run.TimedOut, "iperf3 failed:\n" + run);
        using var json = JsonDocument.Parse(run.StandardOutput);
        var root = json.RootElement;
        Assert.False(root.TryGetProperty("error", out var error), "iperf3 reported an error: " + error);
        var start = root.GetProperty("start");
        var end = root.GetProperty("end");
        Assert.Equal(streams, end.GetProperty("streams").GetArrayLength());
        var received = end.GetProperty("sum_received");
        var bytes = received.GetProperty("bytes").GetInt64();
        var sent = end.GetProperty("sum_sent").GetProperty("bytes").GetInt64();
        Assert.True(bytes > 0, "no bytes received:\n" + run.StandardOutput);
        Assert.True(sent >= bytes, $"sent {sent} < received {bytes}");
        var reverse = start.GetProperty("test_start").GetProperty("reverse").GetInt32() == 1;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"iperf3: {streams} stream(s){(reverse ? ", reverse" : "")}: {bytes} bytes received, {received.GetProperty("bits_per_second").GetDouble() / 1e9:0.000} Gbit/s"));
        return new Measured(bytes, reverse, received.GetProperty("bits_per_second").GetDouble());
    }

    /// <summary>Sends <paramref name="request"/> on a new loopback connection and reads (bounded) until the server closes it: the bytes, at most <paramref name="expected"/> + 16.</summary>
    private static byte[] Exchange(int port, byte[] request, int expected)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.ReceiveTimeout = 10_000;
        socket.Connect(System.Net.IPAddress.Loopback, port);
        socket.Send(request);
        if (expected == 0)
        {
            return [];
        }
        var received = new List<byte>();
        var buffer = new byte[64];
        while (received.Count < expected + 16)
        {
            var n = socket.Receive(buffer);
            if (n == 0)
            {
                break;
            }
            received.AddRange(buffer.AsSpan(0, n));
        }
        return [.. received];
    }

    private static void RequireIperf3()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/bin", "/bin"]);
        Assert.True(path.Any(d => File.Exists(Path.Combine(d, "iperf3"))), "the iperf3 tests need the iperf3 client (Debian package iperf3; scripts/setup.sh installs it)");
    }
}

[CollectionDefinition("Iperf", DisableParallelization = true)]
public sealed class IperfCollection;
