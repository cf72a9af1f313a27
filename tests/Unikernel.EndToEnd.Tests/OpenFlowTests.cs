using System.Diagnostics;
using System.Runtime.InteropServices;
using Unikernel.OpenFlow.Testing;
using Xunit.Abstractions;

namespace Unikernel.EndToEnd.Tests;

/// <summary>Open vSwitch tests share its tools: one at a time.</summary>
[CollectionDefinition("openflow", DisableParallelization = true)]
public sealed class OpenFlowCollection;

/// <summary>
/// The OpenFlow appliances, published with NativeAOT, against real Open vSwitch programs in namespaces the tests make:
/// our controller drives ovs-vswitchd (userspace datapath) between two hosts, and ovs-testcontroller drives our switch
/// whose ports are tap devices into two hosts.
/// </summary>
[Collection("openflow")]
public sealed partial class OpenFlowTests(ITestOutputHelper output)
{
    private const string ServerCode =
        "import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind((sys.argv[1],5001))\ns.listen(1)\ns.settimeout(30)\nc,_=s.accept()\nc.settimeout(30)\nn=0\nwhile True:\n d=c.recv(65536)\n if not d: break\n n+=len(d)\nprint(n)\n";

    private const string ClientCode =
        "import socket,sys,time\nfor i in range(100):\n try:\n  c=socket.create_connection((sys.argv[1],5001),timeout=5)\n  break\n except OSError:\n  time.sleep(0.1)\nc.sendall(b'x'*int(sys.argv[2]))\nc.close()\n";

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    private static string Mac(OvsLab lab, string ns) => lab.Exec(ns, "cat", "/sys/class/net/eth0/address").Check().Output.Trim();

    /// <summary>A TCP transfer of <paramref name="bytes"/> from host 1 to host 2 (at <paramref name="serverAddress"/>); returns what the server counted.</summary>
    private static long Transfer(OvsLab lab, string serverAddress, int bytes)
    {
        var python = OvsLab.Find("python3")!;
        var server = Task.Run(() => lab.Exec(lab.HostNamespace(2), python, "-c", ServerCode, serverAddress));
        lab.Exec(lab.HostNamespace(1), python, "-c", ClientCode, serverAddress, bytes.ToString(System.Globalization.CultureInfo.InvariantCulture)).Check();
        var result = server.Result.Check();
        return long.Parse(result.Output.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void Stop(Process process)
    {
        Kill(process.Id, 15); // SIGTERM: the appliance prints its counters on the way out
        Assert.True(process.WaitForExit(15_000), "the appliance did not stop on SIGTERM");
        process.WaitForExit(); // drain its output into the lab's log
    }

    [Fact]
    public void Our_controller_drives_open_vswitch_between_two_hosts() => OurControllerDrivesOpenVswitch(direct: false);

    /// <summary>
    /// The controller published with our direct stack (-p:UnikernelNet=direct): it owns a tap in the switch namespace
    /// with a static address (10.216.0.2), and ovs-vswitchd reaches it through the kernel side of that tap (10.216.0.1),
    /// so the OpenFlow channel runs on our TCP, ARP and IPv4 end to end.
    /// </summary>
    [Fact]
    public void Our_controller_on_the_direct_stack_drives_open_vswitch_over_a_tap() => OurControllerDrivesOpenVswitch(direct: true);

    private void OurControllerDrivesOpenVswitch(bool direct)
    {
        var controller = direct ? Appliances.Publish("openflow-controller", "unix", "direct") : Appliances.Publish("openflow-controller");
        controller.AssertSucceeded();
        OvsLab.Require([.. OvsLab.OvsTools, ("ping", "iputils-ping"), ("python3", "python3")]);
        Assert.True(!direct || File.Exists("/dev/net/tun"), "direct-stack tests need /dev/net/tun (the tun module)");
        using var lab = OvsLab.Create();
        try
        {
            var address = direct ? "10.216.0.2" : "127.0.0.1";
            string[] stack = direct ? ["--interface", lab.AddTap("10.216.0.1"), "--ipv4", address + "/24"] : [];
            var process = lab.Start(lab.SwitchNamespace, controller.ImagePath, [.. stack, "--address", address, "--port", "6653", "--idle-timeout", "4", "--hard-timeout", "60"]);
            lab.WaitFor(() => lab.Log.Contains($"listening on tcp {address}:6653", StringComparison.Ordinal) || process.HasExited, "the controller to listen");
            Assert.False(process.HasExited, "the controller exited");
            lab.StartOvs();
            lab.AddBridge($"tcp:{address}:6653");
            lab.AddHost(1, "10.0.0.1/24", addToBridge: true);
            lab.AddHost(2, "10.0.0.2/24", addToBridge: true);
            lab.WaitFor(() => lab.Log.Contains($"connected from {(direct ? "10.216.0.1" : "127.0.0.1")}:", StringComparison.Ordinal), "ovs-vswitchd to connect to our controller");
            var mac1 = Mac(lab, lab.HostNamespace(1));
            var mac2 = Mac(lab, lab.HostNamespace(2));

            lab.Exec(lab.HostNamespace(1), "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.0.2").Check();
            Assert.Equal(1 << 20, Transfer(lab, "10.0.0.2", 1 << 20));

            var flows = lab.Ofctl("dump-flows", lab.BridgeManagement).Check().Output;
            output.WriteLine(flows);
            // The default priority (32768) is not printed; idle_age sits between the timeouts and the match.
            Assert.Matches($"idle_timeout=4, hard_timeout=60, .*in_port=1,dl_src={mac1},dl_dst={mac2} actions=output:2", flows);
            Assert.Matches($"idle_timeout=4, hard_timeout=60, .*in_port=2,dl_src={mac2},dl_dst={mac1} actions=output:1", flows);
            // OVS reports the channel up (it writes the status to its database a little after connecting).
            lab.WaitFor(() => lab.Vsctl("get", "controller", lab.Bridge, "is_connected").Output.Trim() == "true", "ovs-vswitchd to report the controller connected");

            // Without traffic the flows idle out.
            lab.WaitFor(() => !lab.Ofctl("dump-flows", lab.BridgeManagement).Check().Output.Contains("idle_timeout=4", StringComparison.Ordinal), "the flows to expire", seconds: 30);

            // Traffic again, then host 2's link goes down: the controller forgets it and deletes its flows.
            lab.Exec(lab.HostNamespace(1), "ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.0.2").Check();
            lab.Exec(lab.SwitchNamespace, "ip", "link", "set", $"ofp2{lab.Id}", "down").Check();
            lab.WaitFor(() => lab.Log.Contains(": port 2 down, forgot", StringComparison.Ordinal), "the controller to handle port 2 going down");
            lab.WaitFor(() => !lab.Ofctl("dump-flows", lab.BridgeManagement).Check().Output.Contains("output:2", StringComparison.Ordinal), "the flows to port 2 to go");

            Stop(process);
            Assert.Matches(@"stopped: 1 switch connection\(s\), [1-9]\d* packet_in, [1-9]\d* flow_mod", lab.Log);
        }
        catch
        {
            output.WriteLine(lab.Log);
            output.WriteLine(lab.Tail("ovs-vswitchd.log"));
            throw;
        }
    }

    /// <summary>
    /// Our controller against an Open vSwitch bridge that speaks OpenFlow 1.3 only (protocols=OpenFlow13): the two
    /// sides settle on 1.3, the controller installs its two-table pipeline (table-miss entries: table 0 to the
    /// controller and on to table 1, table 1 floods), learns both hosts (table 0: in_port+dl_src → goto_table:1; table
    /// 1: dl_dst → write_actions(output)), the hosts ping and transfer, the learned flows idle out (flow_removed) and a
    /// port going down deletes the flows to it.
    /// </summary>
    [Fact]
    public void Our_controller_drives_open_vswitch_speaking_only_openflow_1_3()
    {
        var controller = Appliances.Publish("openflow-controller");
        controller.AssertSucceeded();
        OvsLab.Require([.. OvsLab.OvsTools, ("ping", "iputils-ping"), ("python3", "python3")]);
        using var lab = OvsLab.Create();
        try
        {
            var process = lab.Start(lab.SwitchNamespace, controller.ImagePath, ["--address", "127.0.0.1", "--port", "6653", "--idle-timeout", "4", "--hard-timeout", "60"]);
            lab.WaitFor(() => lab.Log.Contains("listening on tcp 127.0.0.1:6653", StringComparison.Ordinal) || process.HasExited, "the controller to listen");
            Assert.False(process.HasExited, "the controller exited");
            lab.StartOvs();
            lab.AddBridge("tcp:127.0.0.1:6653", "OpenFlow13");
            lab.AddHost(1, "10.0.0.1/24", addToBridge: true);
            lab.AddHost(2, "10.0.0.2/24", addToBridge: true);
            lab.WaitFor(() => lab.Log.Contains("connected from 127.0.0.1:", StringComparison.Ordinal) && lab.Log.Contains("(OpenFlow 1.3)", StringComparison.Ordinal), "ovs-vswitchd to connect to our controller with OpenFlow 1.3");
            string DumpFlows() => lab.Run("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", lab.BridgeManagement).Check().Output;
            lab.WaitFor(() => DumpFlows().Contains("actions=FLOOD", StringComparison.Ordinal), "the table-miss entries");
            var mac1 = Mac(lab, lab.HostNamespace(1));
            var mac2 = Mac(lab, lab.HostNamespace(2));

            lab.Exec(lab.HostNamespace(1), "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.0.2").Check();
            Assert.Equal(1 << 20, Transfer(lab, "10.0.0.2", 1 << 20));

            var flows = DumpFlows();
            output.WriteLine(flows);
            Assert.Matches(@"table=0, .*priority=0 actions=CONTROLLER:65535,goto_table:1", flows);
            Assert.Matches(@"table=1, .*priority=0 actions=FLOOD", flows);
            Assert.Matches($"table=0, .*idle_timeout=4, hard_timeout=60, .*in_port=1,dl_src={mac1} actions=goto_table:1", flows);
            Assert.Matches($"table=0, .*idle_timeout=4, hard_timeout=60, .*in_port=2,dl_src={mac2} actions=goto_table:1", flows);
            Assert.Matches($@"table=1, .*idle_timeout=4, hard_timeout=60, .*dl_dst={mac1} actions=write_actions\(output:1\)", flows);
            Assert.Matches($@"table=1, .*idle_timeout=4, hard_timeout=60, .*dl_dst={mac2} actions=write_actions\(output:2\)", flows);
            // The hosts' traffic went through the learned entries (not only the flooding table-miss one).
            Assert.Matches($@"table=1, n_packets=[1-9]\d*, .*dl_dst={mac2} ", flows);

            // Without traffic the learned flows idle out; the table-miss entries stay.
            lab.WaitFor(() => !DumpFlows().Contains("idle_timeout=4", StringComparison.Ordinal), "the flows to expire", seconds: 30);
            Assert.Contains("actions=CONTROLLER:65535,goto_table:1", DumpFlows(), StringComparison.Ordinal);

            // Traffic again (learned anew), then host 2's link goes down: its flows go.
            lab.Exec(lab.HostNamespace(1), "ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.0.2").Check();
            Assert.Contains("write_actions(output:2)", DumpFlows(), StringComparison.Ordinal);
            lab.Exec(lab.SwitchNamespace, "ip", "link", "set", $"ofp2{lab.Id}", "down").Check();
            lab.WaitFor(() => lab.Log.Contains(": port 2 down, forgot", StringComparison.Ordinal), "the controller to handle port 2 going down");
            lab.WaitFor(() => !DumpFlows().Contains("output:2", StringComparison.Ordinal), "the flows to port 2 to go");

            Stop(process);
            Assert.Matches(@"stopped: 1 switch connection\(s\), [1-9]\d* packet_in, [1-9]\d* flow_mod, 0 packet_out, [1-9]\d* flow_removed", lab.Log);
        }
        catch
        {
            output.WriteLine(lab.Log);
            output.WriteLine(lab.Tail("ovs-vswitchd.log"));
            throw;
        }
    }

    /// <summary>ovs-testcontroller limited to one version (by default it offers 1.0 to 1.5, and our switch 1.0 and 1.3).</summary>
    [Theory]
    [InlineData("OpenFlow10")]
    [InlineData("OpenFlow13")]
    public void Ovs_testcontroller_drives_our_switch_between_two_hosts_on_taps(string protocol) => OvsTestcontrollerDrivesOurSwitch(direct: false, protocol);

    /// <summary>
    /// The switch published with our direct stack: its control channel (and its ovs-ofctl listener) runs on our TCP over
    /// a third tap with a static address, to ovs-testcontroller listening on the kernel side of that tap.
    /// </summary>
    [Theory]
    [InlineData("OpenFlow10")]
    [InlineData("OpenFlow13")]
    public void Ovs_testcontroller_drives_our_switch_on_the_direct_stack(string protocol) => OvsTestcontrollerDrivesOurSwitch(direct: true, protocol);

    private void OvsTestcontrollerDrivesOurSwitch(bool direct, string protocol)
    {
        var image = direct ? Appliances.Publish("openflow-switch", "unix", "direct") : Appliances.Publish("openflow-switch");
        image.AssertSucceeded();
        OvsLab.Require(("ip", "iproute2"), ("ovs-testcontroller", "openvswitch-testcontroller"), ("ovs-ofctl", "openvswitch-common"), ("ping", "iputils-ping"), ("python3", "python3"));
        using var lab = OvsLab.Create();
        try
        {
            var tap1 = $"oft1{lab.Id}";
            var tap2 = $"oft2{lab.Id}";
            // On the direct stack the switch is 10.216.0.2 on its own tap, the controller the kernel side 10.216.0.1.
            string[] control = direct ? ["--interface", lab.AddTap("10.216.0.1"), "--ipv4", "10.216.0.2/24"] : [];
            var controllerAddress = direct ? "10.216.0.1" : "127.0.0.1";
            var switchAddress = direct ? "10.216.0.2" : "127.0.0.1";
            lab.Start(lab.SwitchNamespace, "ovs-testcontroller", "-O", protocol, "--unixctl=" + Path.Combine(lab.Directory, "testcontroller.ctl"), $"ptcp:6653:{controllerAddress}");
            var process = lab.Start(lab.SwitchNamespace, image.ImagePath, [.. control, "--port1", tap1, "--port2", tap2, "--controller", $"{controllerAddress}:6653", "--listen", $"{switchAddress}:6634"]);
            var version = protocol == "OpenFlow13" ? "1.3" : "1.0";
            lab.WaitFor(() => lab.Log.Contains($"connected to controller {controllerAddress}:6653 (OpenFlow {version})", StringComparison.Ordinal), "our switch to connect to ovs-testcontroller");
            lab.AddTapHost(1, tap1, "10.0.1.1/24");
            lab.AddTapHost(2, tap2, "10.0.1.2/24");

            var ping = lab.Exec(lab.HostNamespace(1), "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.1.2");
            output.WriteLine(ping.Output);
            ping.Check();
            Assert.Equal(256 * 1024, Transfer(lab, "10.0.1.2", 256 * 1024));

            // ovs-testcontroller installed exact-match flows in our table (in 1.3 after its table-miss entry); ovs-ofctl
            // reads them from our listener in the same version.
            var flows = lab.Exec(lab.SwitchNamespace, "ovs-ofctl", "-O", protocol, "dump-flows", $"tcp:{switchAddress}:6634").Check().Output;
            output.WriteLine(flows);
            Assert.Contains("actions=output:2", flows, StringComparison.Ordinal);
            Assert.Contains("actions=output:1", flows, StringComparison.Ordinal);
            Assert.Matches(@"n_packets=[1-9]", flows);
            if (protocol == "OpenFlow13")
            {
                Assert.Matches(@"priority=0 actions=CONTROLLER", flows);
            }

            Stop(process);
            Assert.Matches(@"stopped: [1-9]\d* flow\(s\), [1-9]\d* packet_in", lab.Log);
        }
        catch
        {
            output.WriteLine(lab.Log);
            throw;
        }
    }
}
