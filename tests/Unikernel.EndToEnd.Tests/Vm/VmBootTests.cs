using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>
/// Boots the VM test appliance under QEMU (TCG: no KVM here, so boots are kept short and bounded) and checks the
/// console and that the VM powers itself off. The first run builds the kernels (several minutes).
/// Filter: <c>dotnet test --filter Category=Vm</c>.
/// </summary>
[Trait("Category", "Vm")]
[Collection("Vm")]
public sealed class VmBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_bootTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public void Microvm_image_has_kernel_initramfs_and_vmm_configs()
    {
        var images = VmImages.Instance;
        var dir = images.MicrovmDirectory;
        foreach (var file in new[] { "bzImage", "vmlinux", "VmHello.initramfs.cpio.xz", "run-qemu.sh", "firecracker.json" })
        {
            Assert.True(File.Exists(Path.Combine(dir, file)), $"{file} missing in {dir}");
        }
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "firecracker.json")));
        var boot = json.RootElement.GetProperty("boot-source");
        Assert.Equal("vmlinux", boot.GetProperty("kernel_image_path").GetString());
        Assert.Contains(" -- ", boot.GetProperty("boot_args").GetString(), StringComparison.Ordinal);
        long total = new FileInfo(Path.Combine(dir, "bzImage")).Length + new FileInfo(Path.Combine(dir, "VmHello.initramfs.cpio.xz")).Length;
        output.WriteLine($"microvm image: bzImage + initramfs = {total} bytes");
        Assert.True(total < 4 * 1024 * 1024, $"image is {total} bytes");
    }

    [Fact]
    public void Xen_image_has_pvh_vmlinux_and_xl_config()
    {
        VmTools.Require("readelf");
        var dir = VmImages.Instance.XenDirectory;
        var config = File.ReadAllText(Path.Combine(dir, "VmHello.xl.cfg"));
        Assert.Contains("type = \"pvh\"", config, StringComparison.Ordinal);
        Assert.Contains("kernel = \"vmlinux\"", config, StringComparison.Ordinal);
        Assert.Contains("ramdisk = \"VmHello.initramfs.cpio.xz\"", config, StringComparison.Ordinal);
        Assert.Contains("vif = ", config, StringComparison.Ordinal);
        Assert.Contains("console=hvc0", config, StringComparison.Ordinal);
        // The PVH entry point is an ELF note (XEN_ELFNOTE_PHYS32_ENTRY = 18, owner "Xen").
        var readelf = VmProcess.Run("readelf", ["-n", Path.Combine(dir, "vmlinux")], TimeSpan.FromSeconds(30));
        Assert.Contains("Xen", readelf.Output, StringComparison.Ordinal);
        Assert.Contains("0x00000012", readelf.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Accelerator_is_kvm_only_when_asked_or_when_the_cpu_and_a_probe_boot_allow_it()
    {
        VmTools.Require("qemu-system-x86_64");
        var script = Path.Combine(VmImages.Instance.MicrovmDirectory, "run-qemu.sh");
        string Choice(string? accel, out int exitCode)
        {
            var run = VmProcess.Run(script, ["--print-accel"], TimeSpan.FromSeconds(60),
                environment: new Dictionary<string, string?> { ["UNIKERNEL_ACCEL"] = accel });
            exitCode = run.ExitCode;
            return run.Output.Trim();
        }
        Assert.Equal("tcg", Choice("tcg", out _));
        Assert.Equal("kvm", Choice("kvm", out _));
        var bad = Choice("fast", out var badExit);
        Assert.Equal(2, badExit);
        Assert.Contains("UNIKERNEL_ACCEL must be kvm or tcg", bad, StringComparison.Ordinal);
        var chosen = Choice(null, out var exit);
        Assert.Equal(0, exit);
        var virtualization = File.ReadAllText("/proc/cpuinfo").Split([' ', '\t', '\n']).Any(f => f is "vmx" or "svm");
        output.WriteLine($"automatic choice: {chosen} (vmx/svm in /proc/cpuinfo: {virtualization}, /dev/kvm: {File.Exists("/dev/kvm")})");
        if (!virtualization || !File.Exists("/dev/kvm"))
        {
            Assert.Equal("tcg", chosen); // e.g. this project's machines: a PVM-only /dev/kvm, no vmx/svm
        }
        else
        {
            Assert.Contains(chosen, new[] { "kvm", "tcg" }); // decided by the bounded probe boot
        }
    }

    [Fact]
    public void Initramfs_is_reproducible()
    {
        var images = VmImages.Instance;
        var again = Path.Combine(images.WorkDirectory, "again.cpio.xz");
        var run = VmProcess.Run("bash", [Path.Combine(images.RepoRoot, "scripts", "vm", "build-initramfs.sh"), images.AppBinary, again],
            TimeSpan.FromMinutes(5));
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(File.ReadAllBytes(Path.Combine(images.MicrovmDirectory, "VmHello.initramfs.cpio.xz")), File.ReadAllBytes(again));
    }

    [Fact]
    public void Microvm_boots_the_appliance_as_pid_1_with_arguments_and_powers_off()
    {
        var images = VmImages.Instance;
        var run = Boot(images.MicrovmDirectory, [], ["--ticks", "5", "--exit-code", "3"]);

        Assert.False(run.TimedOut, "QEMU did not exit by itself: the VM did not power off");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("vmhello: started", run.Output, StringComparison.Ordinal);
        Assert.Contains("vmhello: pid=1 init=True", run.Output, StringComparison.Ordinal);
        Assert.Contains("vmhello: args=[--ticks|5|--exit-code|3]", run.Output, StringComparison.Ordinal);
        Assert.Contains("proc=True dev-null=True tmp=True", run.Output, StringComparison.Ordinal);
        Assert.Contains("vmhello: tick 5", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("vmhello: tick 6", run.Output, StringComparison.Ordinal);
        Assert.Contains("vmhello: loopback-udp=ping", run.Output, StringComparison.Ordinal);
        Assert.Contains("vmhello: nic lo 127.0.0.1", run.Output, StringComparison.Ordinal);
        Assert.Contains("unikernel: exit 3", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Kernel panic", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Microvm_vmlinux_boots_through_the_pvh_entry_point()
    {
        // The ELF vmlinux (Firecracker's kernel) through its PVH note: no self-decompression, faster under TCG.
        var run = Boot(VmImages.Instance.MicrovmDirectory, ["--pvh"], ["--ticks", "1"]);

        Assert.False(run.TimedOut, "QEMU did not exit by itself: the VM did not power off");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("vmhello: pid=1 init=True", run.Output, StringComparison.Ordinal);
        Assert.Contains("vmhello: args=[--ticks|1]", run.Output, StringComparison.Ordinal);
        Assert.Contains("unikernel: exit 0", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Xen_vmlinux_boots_through_the_pvh_entry_point_under_qemu()
    {
        var images = VmImages.Instance;
        var run = Boot(images.XenDirectory, [], ["--ticks", "2"]);

        Assert.False(run.TimedOut, "QEMU did not exit by itself: the VM did not power off");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("vmhello: pid=1 init=True", run.Output, StringComparison.Ordinal);
        Assert.Contains("vmhello: args=[--ticks|2]", run.Output, StringComparison.Ordinal);
        Assert.Contains("unikernel: exit 0", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Microvm_nic_on_a_tap_in_a_network_namespace_is_configured_by_ip_and_echoes_udp()
    {
        var images = VmImages.Instance;
        using var net = new NetnsTap();
        const int port = 7007;
        var listening = new ManualResetEventSlim();
        string? reply = null;
        var talker = new Thread(() =>
        {
            if (!listening.Wait(s_bootTimeout))
            {
                return;
            }
            reply = net.RunInside(() =>
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                socket.ReceiveTimeout = 1000;
                var guest = new IPEndPoint(IPAddress.Parse(net.GuestAddress), port);
                var buffer = new byte[64];
                string? answer = null;
                for (int attempt = 0; attempt < 30 && answer is null; attempt++)
                {
                    socket.SendTo("hello"u8, guest);
                    try
                    {
                        answer = Encoding.ASCII.GetString(buffer, 0, socket.Receive(buffer));
                    }
                    catch (SocketException)
                    {
                        // not yet (ARP, or the guest is slow under TCG)
                    }
                }
                socket.SendTo("quit"u8, guest);
                return answer;
            });
        });
        talker.Start();

        var run = Boot(images.MicrovmDirectory, ["--tap", net.Tap, "--cmdline", net.KernelIpArgument],
            ["--ticks", "0", "--udp-echo", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--serve-seconds", "60"],
            net.ExecPrefix,
            line =>
            {
                if (line.Text.Contains("udp-echo listening", StringComparison.Ordinal))
                {
                    listening.Set();
                }
            });
        listening.Set();
        talker.Join(TimeSpan.FromSeconds(60));

        Assert.False(run.TimedOut, "QEMU did not exit by itself");
        Assert.Contains($"vmhello: nic eth0 {net.GuestAddress}", run.Output, StringComparison.Ordinal);
        Assert.Equal("hello", reply);
        Assert.Contains("unikernel: exit 0", run.Output, StringComparison.Ordinal);
    }

    private VmProcess Boot(string imageDirectory, IEnumerable<string> runOptions, IEnumerable<string> applianceArguments,
        IReadOnlyList<string>? prefix = null, Action<ConsoleLine>? onLine = null)
    {
        var command = new List<string>(prefix ?? []);
        command.Add(Path.Combine(imageDirectory, "run-qemu.sh"));
        command.AddRange(runOptions);
        command.Add("--");
        command.AddRange(applianceArguments);
        var run = VmProcess.Run(command[0], command.Skip(1), s_bootTimeout, imageDirectory, onLine);
        output.WriteLine($"$ {string.Join(' ', command)}");
        output.WriteLine($"exit {run.ExitCode}, timed out {run.TimedOut}, {run.Elapsed.TotalSeconds:F2} s; " +
            $"first appliance line after {run.FirstLine("vmhello: started")?.TotalSeconds:F2} s");
        output.WriteLine(run.Output);
        // run-qemu.sh says which accelerator it picked (KVM only where a probe boot works; TCG on this kind of machine).
        Assert.Matches(@"run-qemu\.sh: accelerator (kvm|tcg) \(", run.Output);
        return run;
    }
}

[CollectionDefinition("Vm", DisableParallelization = true)]
public sealed class VmCollection;
