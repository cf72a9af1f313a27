using System.Net;
using System.Net.Sockets;

namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// The published DNS appliance's transfer arguments through the generated command line: --tsig-key and
/// --allow-transfer (dig -y verifies every signed message of the AXFR), and --notify (a NOTIFY reaches a listener).
/// </summary>
public sealed class DnsTransferApplianceTests
{
    private const string Key = "e2e-key";
    private const string Secret = "q5Kp3BPoO9kC0bDXrjd1zX3M4tYV0D2mk0mmC8yTfKA=";
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(30);

    private static string Dig(int port, params string[] arguments)
    {
        var result = Processes.Run("dig", ["@127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "+time=3", "+tries=2", .. arguments], ClientTimeout);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.StandardOutput;
    }

    [Fact]
    public void Axfr_is_refused_without_the_key_and_dig_verifies_the_signed_transfer()
    {
        using var server = ApplianceProcess.Start("dns", "listening on", "--tsig-key", $"{Key}:hmac-sha256:{Secret}", "--allow-transfer", "key:" + Key);
        Assert.Contains("Transfer failed", Dig(server.Port, "example.org", "AXFR"));
        var signed = Dig(server.Port, "-y", $"hmac-sha256:{Key}:{Secret}", "example.org", "AXFR");
        Assert.DoesNotContain("failure", signed, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("XFR size:", signed);
        Assert.Contains("host1.example.org.", signed);
        Assert.Matches(@"e2e-key\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\.", signed);
        var query = Dig(server.Port, "-y", $"hmac-sha256:{Key}:{Secret}", "www.example.org", "A");
        Assert.Contains("status: NOERROR", query);
        Assert.DoesNotContain("failure", query, StringComparison.OrdinalIgnoreCase);
        var wrong = Processes.Run("dig", ["@127.0.0.1", "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "+time=3", "+tries=1",
            "-y", $"hmac-sha256:{Key}:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "www.example.org", "A"], ClientTimeout);
        Assert.Contains("status: NOTAUTH", wrong.StandardOutput + wrong.StandardError); // BADSIG
    }

    [Fact]
    public void Notify_reaches_the_secondaries_given_at_run_time()
    {
        using var listener = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)listener.Client.LocalEndPoint!).Port;
        using var server = ApplianceProcess.Start("dns", "listening on", "--notify", $"127.0.0.1:{port}");
        listener.Client.ReceiveTimeout = 15_000;
        IPEndPoint? from = null;
        var notify = listener.Receive(ref from);
        Assert.Equal(4, (notify[2] >> 3) & 0xF); // opcode NOTIFY
        Assert.Contains("example", System.Text.Encoding.ASCII.GetString(notify));
        var ack = notify[..12].ToArray();
        ack[2] |= 0x80; // QR
        Array.Clear(ack, 4, 8); // header only
        listener.Send(ack, ack.Length, from);
        server.WaitFor("acknowledged");
    }
}
