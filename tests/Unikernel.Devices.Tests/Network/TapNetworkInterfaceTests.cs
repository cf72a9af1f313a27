using System.Diagnostics;
using Unikernel.Devices.Unix;

namespace Unikernel.Devices.Tests.Network;

/// <summary>Needs root, /dev/net/tun and iproute2 (as CI has); fails, never skips, without them.</summary>
public class TapNetworkInterfaceTests
{
    private static int s_counter;

    [Fact]
    public void Rejects_names_that_do_not_fit_ifreq()
    {
        Assert.Throws<ArgumentException>(() => new TapNetworkInterface("a-name-longer-than-15"));
        Assert.ThrowsAny<ArgumentException>(() => new TapNetworkInterface(""));
    }

    /// <summary>
    /// The virtio-net header before a frame the kernel is to segment: flags NEEDS_CSUM, gso_type TCPV4, hdr_len (the
    /// Ethernet, IP and TCP headers), gso_size, csum_start (the TCP header) and csum_offset 16, little-endian.
    /// </summary>
    [Fact]
    public void Vnet_header_of_an_offloaded_tcp_frame_matches_golden_bytes()
    {
        // Ethernet II (IPv4), IPv4 with IHL 5 and protocol 6, TCP with data offset 8 (12 bytes of options), 3,000 bytes of data.
        var frame = new byte[14 + 20 + 32 + 3000];
        frame[12] = 0x08;
        frame[14] = 0x45;
        frame[14 + 9] = 6;
        frame[14 + 20 + 12] = 0x80;
        var header = new byte[TapNetworkInterface.VnetHeaderLength];
        Assert.True(TapNetworkInterface.TryWriteVnetHeader(header, frame, 1448));
        Assert.Equal("0101" + "4200" + "a805" + "2200" + "1000", Convert.ToHexString(header).ToLowerInvariant());

        // Any frame sent as it is: a zero header.
        header.AsSpan().Fill(0xFF);
        Assert.True(TapNetworkInterface.TryWriteVnetHeader(header, frame, 0));
        Assert.Equal(new byte[10], header);

        // Only TCP over IPv4 with whole headers can be segmented.
        frame[14 + 9] = 17;
        Assert.False(TapNetworkInterface.TryWriteVnetHeader(header, frame, 1448));
        frame[14 + 9] = 6;
        Assert.False(TapNetworkInterface.TryWriteVnetHeader(header, frame.AsSpan(0, 14 + 20 + 24), 1448));
        frame[12] = 0x86;
        Assert.False(TapNetworkInterface.TryWriteVnetHeader(header, frame, 1448));
    }

    [Fact]
    public void Received_vnet_headers_say_whether_to_trust_the_checksum_and_whether_the_frame_is_segmented()
    {
        static TapNetworkInterface.VnetReceive Read(string hex) => TapNetworkInterface.ReadVnetHeader(Convert.FromHexString(hex));

        // flags, gso_type, hdr_len, gso_size, csum_start, csum_offset (little-endian).
        Assert.Equal(TapNetworkInterface.VnetReceive.Plain, Read("00000000000000000000"));
        Assert.Equal(TapNetworkInterface.VnetReceive.ChecksumTrusted, Read("01000000000022001000")); // NEEDS_CSUM (TCP)
        Assert.Equal(TapNetworkInterface.VnetReceive.ChecksumTrusted, Read("01000000000022000600")); // NEEDS_CSUM (UDP)
        Assert.Equal(TapNetworkInterface.VnetReceive.ChecksumTrusted, Read("02000000000000000000")); // DATA_VALID
        Assert.Equal(TapNetworkInterface.VnetReceive.Segmented, Read("01014200a80522001000")); // GSO_TCPV4, 1448 per segment
        Assert.Equal(TapNetworkInterface.VnetReceive.Unsupported, Read("01814200a80522001000")); // TCPV4 | ECN: never offered
        Assert.Equal(TapNetworkInterface.VnetReceive.Unsupported, Read("01034200a80522000600")); // UDP fragmentation
        Assert.Equal(TapNetworkInterface.VnetReceive.Unsupported, Read("01044200a80536001000")); // TCPV6
        Assert.Equal(TapNetworkInterface.VnetReceive.Unsupported, Read("010100000000")); // short
    }

    [Fact]
    public void Creates_the_tap_and_it_vanishes_on_dispose()
    {
        var name = NewName();
        byte[] mac;
        using (var tap = new TapNetworkInterface(name))
        {
            mac = tap.MacAddress.ToArray();
            Assert.Equal(6, tap.MacAddress.Length);
            Assert.Equal(0x02, tap.MacAddress[0] & 0x03);
            Assert.Equal(1500, tap.Mtu);
            Assert.Contains(name, Ip("link", "show", name).Check().Output, StringComparison.Ordinal);
            // Nothing to read (the netdev is down, outside any namespace: this test sends nothing): a cancelled receive returns 0.
            var batch = new DatagramBatch(4, 1514);
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(150));
            Assert.Equal(0, tap.Receive(batch, cancel.Token));
        }
        var gone = Ip("link", "show", name);
        Assert.True(gone.ExitCode != 0 && gone.Output.Contains("does not exist", StringComparison.Ordinal), $"the tap is still there: {gone}");
        Assert.DoesNotContain(name + ":", Ip("-o", "link", "show").Check().Output, StringComparison.Ordinal);
        using var again = new TapNetworkInterface(name);
        Assert.Equal(mac, again.MacAddress.ToArray()); // stable for a name
        using var other = new TapNetworkInterface(name + "b");
        Assert.NotEqual(other.MacAddress.ToArray(), again.MacAddress.ToArray());
    }

    [Fact]
    public void The_mtu_is_the_netdevs()
    {
        var name = NewName();
        using var tap = new TapNetworkInterface(name);
        Ip("link", "set", name, "mtu", "9000").Check();
        Assert.Equal(9000, tap.Mtu);
        Ip("link", "set", name, "mtu", "1280").Check();
        Assert.Equal(1280, tap.Mtu);
    }

    [Fact]
    public void A_deleted_netdev_makes_receive_and_send_throw_interface_gone_while_a_down_one_only_drops()
    {
        var name = NewName();
        using var tap = new TapNetworkInterface(name);
        var frames = new DatagramBatch(2, 1514);
        var frame = new byte[60];
        frame.AsSpan(0, 6).Fill(0xFF);
        tap.MacAddress.CopyTo(frame.AsSpan(6));
        frame[12] = 0x08;
        frame[13] = 0x06;
        Assert.True(frames.TryAdd(frame, default));
        Assert.True(frames.TryAdd(frame, default));
        Assert.Equal(0, tap.Send(frames)); // down: EIO, both frames lost, nothing thrown
        Ip("link", "set", name, "up").Check();
        Assert.Equal(2, tap.Send(frames));

        Ip("link", "del", name).Check();
        var receive = new DatagramBatch(4, 1514);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var error = Assert.Throws<NetworkInterfaceGoneException>(() => tap.Receive(receive, cancel.Token));
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
        Assert.Throws<NetworkInterfaceGoneException>(() => tap.Send(frames));
    }

    private static string NewName()
    {
        Assert.True(Environment.IsPrivilegedProcess, "tap tests need root (CI runs them as root)");
        Assert.True(File.Exists(TapNetworkInterface.DevicePath), $"tap tests need {TapNetworkInterface.DevicePath}");
        Assert.True(File.Exists("/usr/sbin/ip") || File.Exists("/sbin/ip") || File.Exists("/usr/bin/ip") || File.Exists("/bin/ip"), "tap tests need 'ip' (Debian package iproute2)");
        return $"ukd{Environment.ProcessId % 0x100000:x}n{Interlocked.Increment(ref s_counter)}";
    }

    private static IpResult Ip(params string[] arguments)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(10_000))
        {
            process.Kill();
            Assert.Fail($"ip {string.Join(' ', arguments)} did not finish within 10 s");
        }
        return new IpResult("ip " + string.Join(' ', arguments), process.ExitCode, stdout.Result + stderr.Result);
    }

    private sealed record IpResult(string Command, int ExitCode, string Output)
    {
        public IpResult Check()
        {
            Assert.True(ExitCode == 0, $"'{Command}' failed ({ExitCode}): {Output}");
            return this;
        }
    }
}
