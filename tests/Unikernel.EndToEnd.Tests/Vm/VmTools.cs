namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>
/// The host tools the VM tests run, checked up front so that a missing one fails at once with the Debian package
/// to install (scripts/setup.sh installs them all) instead of as a timeout minutes later.
/// </summary>
public static class VmTools
{
    private static readonly Dictionary<string, string> s_packages = new(StringComparer.Ordinal)
    {
        ["qemu-system-x86_64"] = "qemu-system-x86",
        ["ip"] = "iproute2",
        ["dig"] = "bind9-dnsutils (or dnsutils)",
        ["dnsmasq"] = "dnsmasq",
        ["readelf"] = "binutils",
        ["timeout"] = "coreutils",
    };

    /// <summary>Fails the test unless every tool is an executable on PATH.</summary>
    public static void Require(params string[] tools)
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        var missing = tools
            .Where(tool => !path.Any(directory => IsExecutable(Path.Combine(directory, tool))))
            .Select(tool => $"'{tool}' (Debian package {s_packages.GetValueOrDefault(tool, "?")})")
            .ToArray();
        Assert.True(missing.Length == 0,
            $"the VM tests need {string.Join(", ", missing)}: install it (bash scripts/setup.sh installs every package the tests need)");
    }

    private static bool IsExecutable(string file) =>
        OperatingSystem.IsLinux() && File.Exists(file) && (File.GetUnixFileMode(file) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
}

/// <summary>
/// The VM kernels (scripts/vm/build-kernel.sh), built before an example is published for a VM target: a cold build
/// takes minutes (longer than a publish is given on a loaded machine), a cached one about two seconds.
/// </summary>
public static class VmKernels
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<string>> s_built = new();

    /// <summary>Builds (or finds cached) the kernel flavour (microvm, xen, microvm-noinet, xen-noinet); returns its cache directory.</summary>
    public static string Ensure(string flavour) => s_built.GetOrAdd(flavour, f => new Lazy<string>(() =>
    {
        var run = VmProcess.Run("bash", [Path.Combine(Repo.Root, "scripts", "vm", "build-kernel.sh"), f], TimeSpan.FromMinutes(40), Repo.Root);
        Assert.True(run.ExitCode == 0 && !run.TimedOut, $"building the {f} kernel failed:\n{run.Output}");
        // The cache directory is build-kernel.sh's last line on stdout; stderr's log lines interleave with it.
        var directory = run.Lines.Select(l => l.Text).LastOrDefault(t => t.StartsWith('/') && Directory.Exists(t)) ?? "";
        Assert.True(File.Exists(Path.Combine(directory, "vmlinux")), $"no vmlinux in {directory}:\n{run.Output}");
        return directory;
    })).Value;
}
