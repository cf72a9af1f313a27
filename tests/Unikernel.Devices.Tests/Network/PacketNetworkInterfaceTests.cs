using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Unikernel.Devices.Vm;

namespace Unikernel.Devices.Tests.Network;

/// <summary>
/// The VM targets' NIC device on a real Linux peer: one end of a veth pair in a namespace made here (the other end
/// holds 10.206.x.1), driven through the AF_PACKET TPACKET_V2 rings. Linux answers our ARP requests. Needs root;
/// fails, never skips, without it.
/// </summary>
public sealed partial class PacketNetworkInterfaceTests
{
    private static int s_counter;

    [Fact]
    public void Rejects_bad_and_missing_interface_names_clearly()
    {
        Assert.Throws<ArgumentException>(() => new PacketNetworkInterface(""));
        Assert.Throws<ArgumentException>(() => new PacketNetworkInterface("a-name-longer-than-15"));
        Assert.True(Environment.IsPrivilegedProcess, "AF_PACKET tests need root (CI runs them as root)");
        var missing = Assert.Throws<IOException>(() => new PacketNetworkInterface("ukpk-none0"));
        Assert.Contains("no network interface 'ukpk-none0'", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Brings_the_link_up_reads_mac_and_mtu_trades_arp_frames_in_batches_and_finishes_offloaded_checksums()
    {
        Assert.True(Environment.IsPrivilegedProcess, "AF_PACKET tests need root (CI runs them as root)");
        var n = Interlocked.Increment(ref s_counter);
        var ns = $"ukpk{Environment.ProcessId}x{n}";
        var subnet = $"10.206.{n % 250}";
        Ip("netns", "add", ns);
        try
        {
            Ip("-n", ns, "link", "add", "ukpa", "type", "veth", "peer", "name", "ukpb");
            Ip("-n", ns, "addr", "add", $"{subnet}.1/24", "dev", "ukpa");
            Ip("-n", ns, "link", "set", "ukpa", "up");
            Ip("-n", ns, "link", "set", "ukpb", "mtu", "1400"); // left down: the device must bring it up
            var linkBefore = Ip("-n", ns, "-o", "link", "show", "ukpb");
            Assert.DoesNotContain(",UP", linkBefore, StringComparison.Ordinal);
            var mac = linkBefore.Split(' ')[Array.IndexOf(linkBefore.Split(' '), "link/ether") + 1];

            var result = InNamespace(ns, () =>
            {
                using var nic = new PacketNetworkInterface("ukpb");
                var ours = nic.MacAddress.ToArray();
                var mtu = nic.Mtu;
                const int requests = 16;
                var tx = new DatagramBatch(requests, 1514);
                for (var i = 0; i < requests; i++)
                {
                    Assert.True(tx.TryAdd(ArpRequest(ours, Address($"{subnet}.{2 + i}"), Address($"{subnet}.1")), default));
                }
                var sent = nic.Send(tx);
                var rx = new DatagramBatch(8, 1600);
                var replies = new HashSet<uint>();
                int looped = 0, receives = 0;
                var deadline = Stopwatch.StartNew();
                while (replies.Count < requests && deadline.Elapsed < TimeSpan.FromSeconds(10))
                {
                    using var slice = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
                    var count = nic.Receive(rx, slice.Token);
                    receives++;
                    for (var i = 0; i < count; i++)
                    {
                        var frame = rx.Datagram(i);
                        if (frame[6..12].SequenceEqual(ours))
                        {
                            looped++; // one of our own frames came back: the ring must not show those
                        }
                        else if (frame.Length >= 42 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == 0x0806
                            && BinaryPrimitives.ReadUInt16BigEndian(frame[20..]) == 2 && frame[32..38].SequenceEqual(ours))
                        {
                            replies.Add(BinaryPrimitives.ReadUInt32BigEndian(frame[38..]));
                        }
                    }
                }
                // UDP from Linux over the veth: checksum offload leaves it unfinished (TP_STATUS_CSUMNOTREADY); the
                // device must deliver it complete. A static neighbour entry: this test answers no ARP.
                Ip("-n", ns, "neigh", "replace", $"{subnet}.2", "lladdr", string.Join(':', ours.Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture))), "dev", "ukpa", "nud", "permanent");
                using (var udp = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp))
                {
                    udp.SendTo("checksum, please"u8, new System.Net.IPEndPoint(System.Net.IPAddress.Parse($"{subnet}.2"), 9999));
                }
                var checksumValid = false;
                for (var attempt = 0; attempt < 20 && !checksumValid; attempt++)
                {
                    using var slice = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
                    var count = nic.Receive(rx, slice.Token);
                    for (var i = 0; i < count; i++)
                    {
                        var frame = rx.Datagram(i);
                        if (frame.Length >= 42 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == 0x0800 && frame[23] == 17
                            && BinaryPrimitives.ReadUInt16BigEndian(frame[36..]) == 9999)
                        {
                            var segment = frame[34..(14 + BinaryPrimitives.ReadUInt16BigEndian(frame[16..]))];
                            var sum = Protocols.Net.InternetChecksum.Add(Protocols.Net.InternetChecksum.PseudoHeader(
                                BinaryPrimitives.ReadUInt32BigEndian(frame[26..]), BinaryPrimitives.ReadUInt32BigEndian(frame[30..]), 17, segment.Length), segment);
                            checksumValid = Protocols.Net.InternetChecksum.Finish(sum) == 0;
                        }
                    }
                }
                var completed = nic.ChecksumsCompleted;
                using var cancelled = new CancellationTokenSource();
                cancelled.Cancel();
                var afterCancel = nic.Receive(rx, cancelled.Token);
                nic.Dispose();
                var afterDispose = nic.Receive(rx, CancellationToken.None) + nic.Send(tx);
                return (ours, mtu, sent, replies.Count, looped, receives, afterCancel, afterDispose, checksumValid, completed);
            });

            Assert.Equal(mac, string.Join(':', result.ours.Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture))));
            Assert.Equal(1400, result.mtu);
            Assert.Equal(16, result.sent);
            Assert.Equal(16, result.Item4); // Linux answered every request (to each sender address)
            Assert.Equal(0, result.looped);
            Assert.Equal(0, result.afterCancel);
            Assert.Equal(0, result.afterDispose);
            Assert.True(result.checksumValid, "the UDP datagram from Linux did not arrive with a valid checksum");
            Assert.True(result.completed > 0, "the veth gave no frame with an unfinished checksum (expected with checksum offload)");
            Assert.Contains(",UP", Ip("-n", ns, "-o", "link", "show", "ukpb"), StringComparison.Ordinal);
        }
        finally
        {
            Ip("netns", "delete", ns);
            Assert.False(File.Exists($"/var/run/netns/{ns}"), $"namespace {ns} is left over");
        }
    }

    private static byte[] Address(string text) => System.Net.IPAddress.Parse(text).GetAddressBytes();

    private static byte[] ArpRequest(byte[] mac, byte[] sender, byte[] target)
    {
        var frame = new byte[42];
        frame.AsSpan(0, 6).Fill(0xff);
        mac.CopyTo(frame, 6);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x0806);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14), 1);      // Ethernet
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), 0x0800); // IPv4
        frame[18] = 6;
        frame[19] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(20), 1);      // request
        mac.CopyTo(frame, 22);
        sender.CopyTo(frame, 28);
        target.CopyTo(frame, 38);
        return frame;
    }

    private static T InNamespace<T>(string ns, Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{ns}");
                if (setns((int)handle.DangerousGetHandle(), 0x40000000 /* CLONE_NEWNET */) != 0)
                {
                    throw new InvalidOperationException($"setns failed: errno {Marshal.GetLastPInvokeError()}");
                }
                result = action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(60)), "the test thread in the namespace did not finish");
        if (failure is not null)
        {
            throw new InvalidOperationException("inside the namespace: " + failure.Message, failure);
        }
        return result;
    }

    private static string Ip(params string[] arguments)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start ip (Debian package iproute2)");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        Assert.True(process.WaitForExit(10_000), $"ip {string.Join(' ', arguments)} did not finish");
        Assert.True(process.ExitCode == 0, $"ip {string.Join(' ', arguments)} failed: {stderr.Result}");
        return stdout.Result;
    }

    [LibraryImport("libc.so.6", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}
