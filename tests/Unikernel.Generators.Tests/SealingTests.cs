namespace Unikernel.Generators.Tests;

/// <summary>-p:UnikernelSeal=true: the allow-list is the union of the wired implementations' [SystemCalls] and the runtime's.</summary>
public class SealingTests
{
    private const string Config = """
        using System.Threading;
        using System.Threading.Tasks;
        using Unikernel.Config;
        using Unikernel.Devices;

        namespace App;

        [SystemCalls("getcpu", Reason = "the job asks where it runs")]
        public sealed class Job(IConsole console, INetworkStack stack) : IJob
        {
            public Unikernel.Devices.Job RunAsync(CancellationToken cancellationToken) => Unikernel.Devices.Job.CompletedJob;
        }

        [Unikernel("app")]
        public static partial class AppConfig
        {
            static void Configure(Configuration c)
            {
                c.Register(c.Main<Job>(c.Console(), c.Stack()));
            }
        }
        """;

    private static string SeccompSource(BuildProperties properties)
    {
        var result = GeneratorHarness.Run(Config, properties);
        result.AssertNoGeneratorException();
        Assert.Empty(result.Diagnostics);
        Assert.Empty(result.CompilerErrors);
        return result.Source(".UnikernelSeccomp.g.cs");
    }

    [Fact]
    public void The_list_unions_the_runtime_the_wired_devices_and_the_jobs()
    {
        var source = SeccompSource(new BuildProperties(Seal: true));
        Assert.Contains("private const bool __Sealed = true;", source);
        Assert.Contains("new global::Unikernel.Runtime.SystemCallUse(\"runtime\", \"futex\"", source);
        Assert.Contains("new global::Unikernel.Runtime.SystemCallUse(\"stack\", \"recvmmsg\"", source);
        Assert.Contains("new global::Unikernel.Runtime.SystemCallUse(\"job\", \"getcpu\", \"the job asks where it runs\")", source);
        // The list block for the build: one line per call, who needs it, and the argument check.
        Assert.Contains("#if UNIKERNEL_SECCOMP_LIST", source);
        Assert.Matches(@"(?m)^//clone +runtime \(.*\[checked: threads only", source);
        Assert.Matches(@"(?m)^//socket +stack \(.*\[checked: AF_INET and AF_INET6 only\]", source);
        Assert.DoesNotContain("\"execve\"", source);
        Assert.DoesNotContain("\"openat\"", source);
    }

    [Fact]
    public void The_direct_stack_brings_no_socket_call_and_the_vm_init_brings_its_exit()
    {
        var unix = SeccompSource(new BuildProperties(Net: "direct", Seal: true));
        Assert.DoesNotContain("\"socket\"", unix);
        Assert.Contains("(\"network\", \"read\"", unix);
        Assert.DoesNotContain("\"reboot\"", unix);
        var vm = SeccompSource(new BuildProperties("microvm", Net: "direct", Seal: true));
        Assert.Contains("(\"vm-init\", \"reboot\"", vm);
        Assert.Contains("(\"network\", \"poll\"", vm);
        Assert.DoesNotContain("\"socket\"", vm);
    }

    [Theory]
    [InlineData("microvm")]
    [InlineData("xen")]
    public void The_vm_targets_are_sealed_by_default_and_UnikernelSeal_false_turns_it_off(string target)
    {
        var byDefault = GeneratorHarness.Run(Config, new BuildProperties(target));
        Assert.Contains("private const bool __Sealed = true;", byDefault.Source(".UnikernelSeccomp.g.cs"));
        Assert.Contains($"# sealed (the default on target {target})", byDefault.Source(".UnikernelSeccomp.g.cs"));
        var main = byDefault.Source(".Unikernel.g.cs");
        Assert.Contains($"Sealed (the default on target {target}; -p:UnikernelSeal=false builds it unsealed): after start only", main);
        Assert.DoesNotContain("not sealed (built with", main);

        var off = GeneratorHarness.Run(Config, new BuildProperties(target, Seal: false));
        Assert.Contains("private const bool __Sealed = false;", off.Source(".UnikernelSeccomp.g.cs"));
        Assert.Contains($"# not sealed (-p:UnikernelSeal=false): target {target} otherwise", off.Source(".UnikernelSeccomp.g.cs"));
        var offMain = off.Source(".Unikernel.g.cs");
        Assert.Contains($"Not sealed (built with -p:UnikernelSeal=false; target {target} is sealed by default).", offMain);
        // Its run says so first: an unsealed VM image is a departure from the default.
        Assert.Contains("StdIo.WriteLine(\"app: not sealed (built with -p:UnikernelSeal=false)\")", offMain);
    }

    [Fact]
    public void Unix_is_sealed_on_request_and_the_test_target_never()
    {
        Assert.Contains("private const bool __Sealed = false;", GeneratorHarness.Run(Config, new BuildProperties("unix")).Source(".UnikernelSeccomp.g.cs"));
        Assert.Contains("private const bool __Sealed = true;", GeneratorHarness.Run(Config, new BuildProperties("unix", Seal: true)).Source(".UnikernelSeccomp.g.cs"));
        var test = GeneratorHarness.Run(Config, new BuildProperties("test", Seal: true));
        Assert.Contains("private const bool __Sealed = false;", test.Source(".UnikernelSeccomp.g.cs"));
        Assert.Contains("Not sealed (target test is never sealed).", test.Source(".Unikernel.g.cs"));
    }

    [Fact]
    public void Unsealed_the_image_carries_the_list_but_does_not_install_it()
    {
        var result = GeneratorHarness.Run(Config, BuildProperties.Unix);
        Assert.Contains("private const bool __Sealed = false;", result.Source(".UnikernelSeccomp.g.cs"));
        var main = result.Source(".Unikernel.g.cs");
        // The text is all an unsealed image carries: the host and --describe get no allow-list objects (issue 17).
        Assert.DoesNotContain("__SystemCalls", main);
        Assert.DoesNotContain("__SystemCalls", result.Source(".UnikernelSeccomp.g.cs"));
        Assert.Contains("__Sealed ? __SystemCalls : null", GeneratorHarness.Run(Config, new BuildProperties(Seal: true)).Source(".Unikernel.g.cs"));
        Assert.Contains("Not sealed (build with -p:UnikernelSeal=true", main);
        Assert.Contains("case \"--seccomp-list\":", main);
        Assert.DoesNotContain("sealed: ", result.Source(".UnikernelGraph.g.cs"));
        var sealedGraph = GeneratorHarness.Run(Config, new BuildProperties(Seal: true)).Source(".UnikernelGraph.g.cs");
        Assert.Contains("\"__seal\" [label=<sealed: ", sealedGraph);
    }
}
