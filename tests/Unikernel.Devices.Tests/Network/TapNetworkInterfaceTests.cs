using System.Diagnostics;
using Unikernel.Devices.Unix;

namespace Unikernel.Devices.Tests.Network;

/// <summary>Needs root and /dev/net/tun (as CI has); fails, never skips, without them.</summary>
public class TapNetworkInterfaceTests
{
    private static int s_counter;

    [Fact]
    public void Rejects_names_that_do_not_fit_ifreq()
    {
        Assert.Throws<ArgumentException>(() => new TapNetworkInterface("a-name-longer-than-15"));
        Assert.ThrowsAny<ArgumentException>(() => new TapNetworkInterface(""));
    }

    [Fact]
    public void Creates_the_tap_and_it_vanishes_on_dispose()
    {
        Assert.True(Environment.IsPrivilegedProcess, "tap tests need root (CI runs them as root)");
        Assert.True(File.Exists(TapNetworkInterface.DevicePath), $"tap tests need {TapNetworkInterface.DevicePath}");
        var name = $"ukd{Environment.ProcessId % 0x100000:x}n{Interlocked.Increment(ref s_counter)}";
        byte[] mac;
        using (var tap = new TapNetworkInterface(name))
        {
            mac = tap.MacAddress.ToArray();
            Assert.Equal(6, tap.MacAddress.Length);
            Assert.Equal(0x02, tap.MacAddress[0] & 0x03);
            Assert.Equal(1500, tap.Mtu);
            Assert.Contains(name, Ip("link", "show", name), StringComparison.Ordinal);
            // Nothing to read (the netdev is down, outside any namespace: this test sends nothing): a cancelled receive returns 0.
            var batch = new DatagramBatch(4, 1514);
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(150));
            Assert.Equal(0, tap.Receive(batch, cancel.Token));
        }
        Assert.DoesNotContain(name, Ip("link", "show"), StringComparison.Ordinal);
        using var again = new TapNetworkInterface(name);
        Assert.Equal(mac, again.MacAddress.ToArray()); // stable for a name
        using var other = new TapNetworkInterface(name + "b");
        Assert.NotEqual(other.MacAddress.ToArray(), again.MacAddress.ToArray());
    }

    private static string Ip(params string[] arguments)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(10_000));
        return output;
    }
}
