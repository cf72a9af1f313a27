namespace Unikernel.EndToEnd.Tests;

/// <summary>
/// The published DNS appliance (NativeAOT, host sockets) on loopback, queried by real clients: dig and kdig over UDP
/// and TCP, with the compiled-in zone and with zone files given at run time.
/// </summary>
public sealed class DnsApplianceTests
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(20);

    [Fact]
    public void Publish_reports_no_trim_or_AOT_warnings()
    {
        var dns = Appliances.Publish("dns");
        dns.AssertSucceeded();
        var warnings = dns.Publish.StandardOutput.Split('\n').Where(line => line.Contains("warning", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.True(warnings.Count == 0, "publish printed warnings:\n" + string.Join('\n', warnings));
    }

    [Theory]
    [InlineData("dig", "")]
    [InlineData("dig", "+tcp")]
    [InlineData("kdig", "")]
    [InlineData("kdig", "+tcp")]
    public void Answers_real_clients_over_udp_and_tcp(string client, string transport)
    {
        using var server = RunningAppliance.Start();
        var answer = Query(client, server.Port, "www.example.org", "A", transport);
        Assert.Contains("status: NOERROR", answer);
        Assert.Contains(" aa", FlagsLine(answer));
        Assert.Contains("web.example.org.", answer);
        Assert.Contains("192.0.2.80", answer);
    }

    [Fact]
    public void Names_outside_the_zone_are_refused_and_missing_names_are_nxdomain_with_soa()
    {
        using var server = RunningAppliance.Start();
        Assert.Contains("status: REFUSED", Query("dig", server.Port, "www.example.com", "A", ""));
        var missing = Query("dig", server.Port, "nope.example.org", "A", "");
        Assert.Contains("status: NXDOMAIN", missing);
        Assert.Contains("AUTHORITY: 1", missing);
        Assert.Contains("SOA", missing);
    }

    [Fact]
    public void Serves_zone_files_given_at_run_time()
    {
        var directory = Directory.CreateTempSubdirectory("unikernel-zones-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "test.internal.zone"), """
                $TTL 300
                @   IN SOA ns.test.internal. admin.test.internal. ( 1 3600 600 86400 300 )
                    IN NS  ns
                ns  IN A   192.0.2.53
                app IN A   192.0.2.10
                """);
            using var server = RunningAppliance.Start("--zones", directory);
            var answer = Query("dig", server.Port, "app.test.internal", "A", "");
            Assert.Contains("status: NOERROR", answer);
            Assert.Contains("192.0.2.10", answer);
            // The compiled-in zone is replaced, not merged.
            Assert.Contains("status: REFUSED", Query("dig", server.Port, "www.example.org", "A", ""));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_bad_zone_is_reported_and_not_loaded_while_the_good_ones_are_served()
    {
        var directory = Directory.CreateTempSubdirectory("unikernel-zones-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "good.internal.zone"), "$TTL 300\n@ IN SOA ns admin 1 2 3 4 5\n IN NS ns\nns IN A 192.0.2.1\n");
            File.WriteAllText(Path.Combine(directory, "bad.internal.zone"), "$TTL 300\n@ IN SOA ns admin 1 2 3 4 5\nwww IN A 999.1.1.1\n");
            using var server = RunningAppliance.Start("--zones", directory);
            Assert.Contains("status: NOERROR", Query("dig", server.Port, "ns.good.internal", "A", ""));
            Assert.Contains("status: REFUSED", Query("dig", server.Port, "www.bad.internal", "A", ""));
            var log = server.Output();
            Assert.Contains("bad.internal.zone", log);
            Assert.Contains(":3:", log); // the line of the bad record
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Sighup_reloads_zones_without_a_restart_and_a_bad_zone_keeps_the_previous_version()
    {
        var directory = Directory.CreateTempSubdirectory("unikernel-zones-").FullName;
        try
        {
            var path = Path.Combine(directory, "test.internal.zone");
            string Zone(int serial, string address) => $"$TTL 300\n@ IN SOA ns.test.internal. admin.test.internal. ( {serial} 3600 600 86400 300 )\n  IN NS ns\nns IN A 192.0.2.53\napp IN A {address}\n";
            File.WriteAllText(path, Zone(1, "192.0.2.10"));
            using var server = RunningAppliance.Start("--zones", directory);
            Assert.Contains("192.0.2.10", Query("dig", server.Port, "app.test.internal", "A", ""));
            File.WriteAllText(path, Zone(2, "192.0.2.11"));
            var kill = Processes.Run("kill", ["-HUP", server.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)], ClientTimeout);
            Assert.True(kill.ExitCode == 0, kill.ToString());
            server.WaitFor("dns: reloaded:");
            Assert.Contains("192.0.2.11", Query("dig", server.Port, "app.test.internal", "A", "+tcp"));
            // A broken new version: the error at file:line:column, and the previous version keeps serving.
            File.WriteAllText(path, Zone(3, "192.0.2.300"));
            kill = Processes.Run("kill", ["-HUP", server.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)], ClientTimeout);
            Assert.True(kill.ExitCode == 0, kill.ToString());
            server.WaitFor("dns: reloaded:", 2);
            Assert.Contains("test.internal.zone:5:10: '192.0.2.300' is not an IPv4 address", server.Output());
            Assert.Contains("keeping the previous version", server.Output());
            Assert.Contains("192.0.2.11", Query("dig", server.Port, "app.test.internal", "A", ""));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void The_crash_reproducer_of_issue_12_is_rejected_at_load_and_the_server_keeps_answering()
    {
        var directory = Directory.CreateTempSubdirectory("unikernel-zones-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "test.zone"), "$TTL 300\n@ IN SOA ns h 1 2 3 4 5\n  IN NS ns\nns IN A 192.0.2.53\nr MX \\# 0\n");
            using var server = RunningAppliance.Start("--zones", directory);
            Assert.Contains("test.zone:5:6: generic RDATA", server.Output());
            // The issue's query (r.test MX over UDP, hex 12340000000100000000000001720174047465737400000f0001) no longer
            // reaches a malformed record: the zone is not loaded, so it is refused, and the server is still there.
            Assert.Contains("status: REFUSED", Query("dig", server.Port, "r.test", "MX", ""));
            Assert.Contains("status: REFUSED", Query("dig", server.Port, "r.test", "MX", "+tcp"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string Query(string client, int port, string name, string type, string transport)
    {
        // dig counts tries, kdig counts retries.
        var arguments = new List<string> { "@127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), name, type, "+time=2", client == "kdig" ? "+retry=1" : "+tries=2" };
        if (transport.Length > 0)
        {
            arguments.Add(transport);
        }
        var result = Processes.Run(client, arguments, ClientTimeout);
        Assert.True(result.ExitCode == 0, $"{client} failed (is the Debian package installed? scripts/setup.sh installs it):\n{result}");
        return result.StandardOutput;
    }

    private static string FlagsLine(string answer) =>
        answer.Split('\n').FirstOrDefault(line => line.Contains("flags:", StringComparison.OrdinalIgnoreCase)) ?? "";

    /// <summary>The published image listening on a free loopback port, ready when it logs its endpoints; killed on dispose.</summary>
    private static class RunningAppliance
    {
        public static ApplianceProcess Start(params string[] extra) => ApplianceProcess.Start("dns", "listening on", extra);
    }
}
