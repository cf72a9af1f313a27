namespace Unikernel.EndToEnd.Tests.Vm;

/// <summary>
/// Builds the VM test appliance (Vm/assets/VmHello) once per test run: a NativeAOT publish with
/// UnikernelTarget=microvm, whose after-publish target (src/Config/build/Unikernel.Vm.targets) makes the microvm
/// image, then scripts/vm/make-image.sh for the xen image (on first use). The first run also builds the kernels (minutes).
/// </summary>
public sealed class VmImages
{
    private static readonly Lazy<VmImages> s_instance = new(() => new VmImages(), LazyThreadSafetyMode.ExecutionAndPublication);

    public static VmImages Instance => s_instance.Value;

    public string RepoRoot { get; }
    public string WorkDirectory { get; }
    public string AppBinary { get; }
    public string MicrovmDirectory { get; }
    public string XenDirectory => _xen.Value;
    public string BuildLog { get; }
    private readonly Lazy<string> _xen;

    private VmImages()
    {
        RepoRoot = FindRepoRoot();
        // Under the test's output directory (ignored by git), replaced on each run: no temporary litter.
        WorkDirectory = Path.Combine(AppContext.BaseDirectory, "vm-images");
        if (Directory.Exists(WorkDirectory))
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
        Directory.CreateDirectory(WorkDirectory);
        var publishDirectory = Path.Combine(WorkDirectory, "publish");
        MicrovmDirectory = Path.Combine(WorkDirectory, "microvm");
        var xenDirectory = Path.Combine(WorkDirectory, "xen");
        AppBinary = Path.Combine(publishDirectory, "VmHello");
        var project = Path.Combine(RepoRoot, "tests", "Unikernel.EndToEnd.Tests", "Vm", "assets", "VmHello", "VmHello.csproj");

        // The test host's MSBuild variables must not leak into the nested build.
        var environment = new Dictionary<string, string?>
        {
            ["MSBuildSDKsPath"] = null,
            ["MSBUILD_EXE_PATH"] = null,
            ["MSBuildExtensionsPath"] = null,
            ["MSBuildLoadMicrosoftTargetsReadOnly"] = null,
        };
        VmProcess publish;
        lock (Appliances.PublishLock)
        {
            publish = VmProcess.Run("dotnet",
                ["publish", project, "-c", "Release", "-r", "linux-x64", "-o", publishDirectory,
                 "-p:UnikernelTarget=microvm", $"-p:UnikernelVmImageDir={MicrovmDirectory}/", "-nologo"],
                TimeSpan.FromMinutes(40), RepoRoot, environment: environment);
        }
        var log = publish.Output;
        if (publish.ExitCode != 0)
        {
            throw new InvalidOperationException($"publishing the VM test appliance failed:\n{log}");
        }
        BuildLog = log;
        // The xen image (and kernel) only when a test needs it.
        _xen = new Lazy<string>(() =>
        {
            var xen = VmProcess.Run("bash",
                [Path.Combine(RepoRoot, "scripts", "vm", "make-image.sh"), "--target", "xen", "--app", AppBinary,
                 "--name", "VmHello", "--out", xenDirectory],
                TimeSpan.FromMinutes(40), RepoRoot);
            if (xen.ExitCode != 0)
            {
                throw new InvalidOperationException($"making the xen image failed:\n{xen.Output}");
            }
            return xenDirectory;
        }, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    private static string FindRepoRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "scripts", "vm", "make-image.sh")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("repository root (with scripts/vm/make-image.sh) not found");
    }
}
