using System;
using Unikernel.Devices;
using Unikernel.Devices.Testing;
using Unikernel.Devices.Unix;
using Unikernel.Devices.Vm;

namespace Unikernel.Config;

/// <summary>
/// The configuration DSL, in the spirit of MirageOS's config.ml. A <c>[Unikernel]</c> class's <c>Configure</c> method
/// calls these methods; the source generator reads the calls at compile time and never executes them. Every device
/// method takes an optional <c>name</c>; otherwise a device is named after the local variable it is assigned to.
/// The class also declares the build targets (<see cref="TargetAttribute"/>), each once: adding a target is one
/// attribute here (plus, for a new image step, the build's list of targets that use it: Unikernel.Vm.targets, and for
/// a target sealed by default, Unikernel.props' UnikernelSealedTargets).
/// </summary>
[Target("unix", Families = "linux")]
[Target("test", Seal = TargetSeal.Never)]
[Target("microvm", Families = "linux,vm", BootsVm = true, StartUp = typeof(VmInit), Image = TargetImage.VmImage, Seal = TargetSeal.ByDefault)]
[Target("xen", Families = "linux,vm", BootsVm = true, StartUp = typeof(VmInit), Image = TargetImage.VmImage, Seal = TargetSeal.ByDefault)]
public sealed class Configuration
{
    private Configuration()
    {
    }

    internal static InvalidOperationException NotExecutable() =>
        new("Unikernel configuration is read by the source generator at compile time and cannot be executed.");

    // ---- composition -------------------------------------------------------------------------------------------

    /// <summary>The build's target (one of the <see cref="TargetAttribute"/>s above: unix, test, microvm, xen), from the <c>UnikernelTarget</c> build property.</summary>
    public ConfigKey Target => throw NotExecutable();

    /// <summary>A configure-time key whose value comes from the <c>UnikernelKeys</c> build property ("name=value;...").</summary>
    public ConfigKey Key(string name, string defaultValue, string description) => throw NotExecutable();

    /// <summary>A typed runtime argument <c>--name VALUE</c> (string, int, long, bool, double; string[] is repeatable).</summary>
    public IImpl<T> Argument<T>(string name, T defaultValue, string description) => throw NotExecutable();

    /// <summary>Functor application: builds <typeparamref name="T"/> over the given devices and arguments, in constructor order; constructor parameters left out are wired by type.</summary>
    public IImpl<T> New<T>(params object[] arguments) where T : class => throw NotExecutable();

    /// <summary>Like <see cref="New{T}"/>, for the appliance's jobs.</summary>
    public IImpl<T> Main<T>(params object[] arguments) where T : class, IJob => throw NotExecutable();

    /// <summary>The jobs the appliance runs.</summary>
    public void Register(params IImpl<IJob>[] jobs) => throw NotExecutable();

    /// <summary>Chooses at configure time (MirageOS's <c>if_impl</c>).</summary>
    public IImpl<T> If<T>(Condition condition, IImpl<T> then, IImpl<T> otherwise) => throw NotExecutable();

    /// <summary>Chooses by a key's value (MirageOS's <c>match_impl</c>); <paramref name="otherwise"/> when no case matches.</summary>
    public IImpl<T> Match<T>(ConfigKey key, IImpl<T> otherwise, params Case<T>[] cases) => throw NotExecutable();

    // ---- the device catalogue ----------------------------------------------------------------------------------
    // Targets: a target's name or a family ("linux": unix, microvm and xen; "vm": microvm and xen); none: every target.
    // The first entry that provides an interface is the one UK0001 suggests when nothing provides it.

    [Device("console", typeof(IConsole), IsDefault = true)]
    [Implementation(typeof(UnixConsole), Targets = "linux")]
    [Implementation(typeof(MemoryConsole), Targets = "test")]
    public IImpl<IConsole> Console(string? name = null) => throw NotExecutable();

    [Device("monotonic-clock", typeof(IMonotonicClock), IsDefault = true)]
    [Implementation(typeof(UnixMonotonicClock), Targets = "linux")]
    [Implementation(typeof(VirtualClock), Targets = "test", SharedInstance = "clock")]
    public IImpl<IMonotonicClock> MonotonicClock(string? name = null) => throw NotExecutable();

    [Device("wall-clock", typeof(IWallClock), IsDefault = true)]
    [Implementation(typeof(UnixWallClock), Targets = "linux")]
    [Implementation(typeof(VirtualClock), Targets = "test", SharedInstance = "clock")]
    public IImpl<IWallClock> WallClock(string? name = null) => throw NotExecutable();

    [Device("time", typeof(ITime), IsDefault = true)]
    [Implementation(typeof(UnixTime), Targets = "linux")]
    [Implementation(typeof(VirtualClock), Targets = "test", SharedInstance = "clock")]
    public IImpl<ITime> Time(string? name = null) => throw NotExecutable();

    [Device("random", typeof(IRandom), IsDefault = true)]
    [Implementation(typeof(UnixRandom), Targets = "linux")]
    [Implementation(typeof(SeededRandom), Targets = "test")]
    public IImpl<IRandom> Random(string? name = null) => throw NotExecutable();

    /// <summary>Files under <paramref name="directory"/> (relative to the project) compiled into the image as static data.</summary>
    [Device("crunch", typeof(IKeyValueStore))]
    [Crunch]
    [Implementation(typeof(CrunchKeyValueStore))]
    public IImpl<IKeyValueStore> Crunch(string directory, string? name = null) => throw NotExecutable();

    /// <summary>A directory read at run time; its path is usually a runtime argument.</summary>
    [Device("directory", typeof(IKeyValueStore))]
    [Implementation(typeof(DirectoryKeyValueStore), Targets = "linux")]
    public IImpl<IKeyValueStore> Directory(IImpl<string> root, string? name = null) => throw NotExecutable();

    /// <summary>
    /// A raw Ethernet interface: a tap device on unix, the VM's NIC on microvm/xen. Its host interface is the
    /// <c>--interface</c> runtime argument, or <paramref name="interfaceName"/> when given (an appliance with several
    /// interfaces gives each its own argument: <c>c.Network("port1", c.Argument("port1", "tap1", "..."))</c>). On unix
    /// <c>--interface-kind packet</c> attaches to an existing interface (one end of a veth pair) through an AF_PACKET
    /// socket with memory-mapped rings, as on the VM targets, instead of a tap.
    /// </summary>
    [Device("network", typeof(INetworkInterface), IsDefault = true)]
    [Implementation(typeof(TapOrPacketNetworkInterface), Targets = "unix")]
    [Implementation(typeof(PacketNetworkInterface), Targets = "vm")]
    [RuntimeArgument("interface", "interfaceName", "tap0", "Network interface to attach to (a tap device on unix)")]
    [RuntimeArgument("interface-kind", "interfaceKind", "tap", "unix: tap (a tap device, TCP segmentation offload), tap-no-offload (a tap, one write per frame) or packet (AF_PACKET rings on an existing interface, e.g. a veth)")]
    public IImpl<INetworkInterface> Network(string? name = null, IImpl<string>? interfaceName = null) => throw NotExecutable();

    /// <summary>
    /// The network stack chosen by the build: host sockets (<c>-p:UnikernelNet=socket</c>, the default) or the direct
    /// stack over the default network interface (<c>-p:UnikernelNet=direct</c>), like MirageOS's <c>--net</c>.
    /// The <c>When = "net=..."</c> values of the built-in catalogue are the build's net choices.
    /// </summary>
    [Device("stack", typeof(INetworkStack))]
    [Implementation(typeof(UnixSocketStack), Targets = "linux", When = "net=socket")]
    [Implementation(typeof(LoopbackStack), Targets = "test", When = "net=socket")]
    [Implementation(typeof(global::Unikernel.Protocols.Net.DirectStack), When = "net=direct")]
    [RuntimeArgument("ipv4", "ipv4", "", "Static IPv4 address ADDR/PREFIX (empty: ask DHCP)")]
    [RuntimeArgument("ipv4-gateway", "ipv4Gateway", "", "IPv4 gateway for off-link destinations")]
    public IImpl<INetworkStack> Stack(string? name = null, IImpl<global::Unikernel.Protocols.Net.TcpSettings>? tcp = null) => throw NotExecutable();

    /// <summary>The host's (or the VM kernel's) sockets.</summary>
    [Device("socket-stack", typeof(INetworkStack))]
    [Implementation(typeof(UnixSocketStack), Targets = "linux")]
    [Implementation(typeof(LoopbackStack), Targets = "test")]
    public IImpl<INetworkStack> SocketStack(string? name = null) => throw NotExecutable();

    /// <summary>Our own Ethernet/ARP/IPv4/ICMP/UDP/DHCP stack over a network interface.</summary>
    [Device("direct-stack", typeof(INetworkStack))]
    [Implementation(typeof(global::Unikernel.Protocols.Net.DirectStack))]
    [RuntimeArgument("ipv4", "ipv4", "", "Static IPv4 address ADDR/PREFIX (empty: ask DHCP)")]
    [RuntimeArgument("ipv4-gateway", "ipv4Gateway", "", "IPv4 gateway for off-link destinations")]
    public IImpl<INetworkStack> DirectStack(IImpl<INetworkInterface>? network = null, string? name = null, IImpl<global::Unikernel.Protocols.Net.TcpSettings>? tcp = null) => throw NotExecutable();

    /// <summary>
    /// The direct stack's TCP settings (docs/tcp.md): pass one to <c>c.Stack(tcp: ...)</c> or <c>c.DirectStack(tcp: ...)</c>,
    /// or declare one and the direct stack is wired to it by type; none: the defaults. The socket stack ignores them (the
    /// host kernel's TCP has its own sysctls). Every value is a constant, checked when the image is built (UK0022).
    /// </summary>
    [Device("tcp", typeof(global::Unikernel.Protocols.Net.TcpSettings), IsDefault = true)]
    [Implementation(typeof(global::Unikernel.Protocols.Net.TcpSettings))]
    public IImpl<global::Unikernel.Protocols.Net.TcpSettings> Tcp(
        [Option("bytes buffered per connection for sending", Min = global::Unikernel.Protocols.Net.TcpSettings.MinBuffer, Max = global::Unikernel.Protocols.Net.TcpSettings.MaxBuffer)] int sendBuffer = 256 * 1024,
        [Option("bytes buffered per connection for receiving (the largest window advertised)", Min = global::Unikernel.Protocols.Net.TcpSettings.MinBuffer, Max = global::Unikernel.Protocols.Net.TcpSettings.MaxBuffer)] int receiveBuffer = 256 * 1024,
        [Option("connections of every state at once, TIME-WAIT included", Min = 1, Max = 1 << 24)] int maxConnections = 16384,
        [Option("seconds a closed connection stays in TIME-WAIT (2·MSL)", Min = 0, Max = 3600)] int timeWaitSeconds = 60,
        [Option("TIME-WAIT connections kept (the oldest goes first)", Min = 0, Max = 1 << 24)] int maxTimeWait = 4096,
        [Option("idle seconds before keep-alive probes; 0: no keep-alive", Min = 0, Max = 86400 * 7)] int keepAliveIdleSeconds = 0,
        [Option("seconds between keep-alive probes", Min = 1, Max = 86400)] int keepAliveIntervalSeconds = 75,
        [Option("unanswered keep-alive probes before the connection is reset", Min = 1, Max = 127)] int keepAliveProbes = 9,
        [Option("the congestion controller", Values = "cubic,newreno")] string congestionControl = "cubic",
        [Option("Nagle's algorithm: auto (off on accepted connections, on for connected ones), on or off", Values = "auto,on,off")] string nagle = "auto",
        string? name = null) => throw NotExecutable();
}
