namespace Unikernel.Generators.Testing;

/// <summary>
/// A device of the project's own with an implementation per target (docs/extending.md, "A device of your own"), used
/// by the config.cs tests and by the unikernel.yaml tests alike.
/// </summary>
public static class UserDeviceSources
{
    /// <summary>The device and a job that uses it (the same file docs/extending.md shows).</summary>
    public const string Devices = """
        using System.Threading;
        using System.Threading.Tasks;
        using Unikernel.Config;
        using Unikernel.Devices;

        namespace Acme;

        /// <summary>What the appliance greets with.</summary>
        public interface IGreeter
        {
            string Greeting { get; }
        }

        /// <summary>On the Linux targets (unix, microvm, xen): the greeting given by --greeting.</summary>
        public sealed class HostGreeter(string greeting) : IGreeter
        {
            public string Greeting => greeting + " from the host";
        }

        /// <summary>On the test target: always the same, for deterministic tests.</summary>
        public sealed class FixedGreeter : IGreeter
        {
            public string Greeting => "hello from the test target";
        }

        public static class AcmeDevices
        {
            [Device("acme.greeter", typeof(IGreeter))]
            [Implementation(typeof(HostGreeter), Targets = "linux")]
            [Implementation(typeof(FixedGreeter), Targets = "test")]
            [RuntimeArgument("greeting", "greeting", "hello", "What the greeter says")]
            public static IImpl<IGreeter> Greeter(this Configuration c, string? name = null) => throw new System.NotSupportedException();
        }

        public sealed class Greet(IConsole console, IGreeter greeter) : IJob
        {
            public Job RunAsync(CancellationToken cancellationToken)
            {
                console.WriteLine(greeter.Greeting);
                return Job.CompletedJob;
            }
        }
        """;

    public const string Config = """
        using Unikernel.Config;

        namespace Acme;

        [Unikernel("greet")]
        public static partial class GreetConfig
        {
            static void Configure(Configuration c)
            {
                var console = c.Console();
                var greeter = c.Greeter();
                c.Register(c.Main<Greet>(console, greeter));
            }
        }
        """;
}
