using System;
using Unikernel.Devices;

namespace Unikernel.Config;

/// <summary>
/// The configuration DSL, in the spirit of MirageOS's config.ml. A <c>[Unikernel]</c> class's <c>Configure</c> method
/// calls these methods; the source generator reads the calls at compile time and never executes them. Every device
/// method takes an optional <c>name</c>; otherwise a device is named after the local variable it is assigned to.
/// </summary>
public sealed class Configuration
{
    private Configuration()
    {
    }

    internal static InvalidOperationException NotExecutable() =>
        new("Unikernel configuration is read by the source generator at compile time and cannot be executed.");

    // ---- composition -------------------------------------------------------------------------------------------

    /// <summary>The build's target (unix, test, microvm, xen), from the <c>UnikernelTarget</c> build property.</summary>
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

    [Device("console", typeof(IConsole), IsDefault = true)]
    [Implementation("unix,microvm,xen", "Unikernel.Devices.Unix.UnixConsole")]
    [Implementation("test", "Unikernel.Devices.Testing.MemoryConsole")]
    public IImpl<IConsole> Console(string? name = null) => throw NotExecutable();

    [Device("monotonic-clock", typeof(IMonotonicClock), IsDefault = true)]
    [Implementation("unix,microvm,xen", "Unikernel.Devices.Unix.UnixMonotonicClock")]
    [Implementation("test", "Unikernel.Devices.Testing.VirtualClock", SharedInstance = "clock")]
    public IImpl<IMonotonicClock> MonotonicClock(string? name = null) => throw NotExecutable();

    [Device("wall-clock", typeof(IWallClock), IsDefault = true)]
    [Implementation("unix,microvm,xen", "Unikernel.Devices.Unix.UnixWallClock")]
    [Implementation("test", "Unikernel.Devices.Testing.VirtualClock", SharedInstance = "clock")]
    public IImpl<IWallClock> WallClock(string? name = null) => throw NotExecutable();

    [Device("time", typeof(ITime), IsDefault = true)]
    [Implementation("unix,microvm,xen", "Unikernel.Devices.Unix.UnixTime")]
    [Implementation("test", "Unikernel.Devices.Testing.VirtualClock", SharedInstance = "clock")]
    public IImpl<ITime> Time(string? name = null) => throw NotExecutable();

    [Device("random", typeof(IRandom), IsDefault = true)]
    [Implementation("unix,microvm,xen", "Unikernel.Devices.Unix.UnixRandom")]
    [Implementation("test", "Unikernel.Devices.Testing.SeededRandom")]
    public IImpl<IRandom> Random(string? name = null) => throw NotExecutable();

    /// <summary>Files under <paramref name="directory"/> (relative to the project) compiled into the image as static data.</summary>
    [Device("crunch", typeof(IKeyValueStore))]
    [Crunch]
    [Implementation("unix,test,microvm,xen", "Unikernel.Devices.Unix.CrunchKeyValueStore")]
    public IImpl<IKeyValueStore> Crunch(string directory, string? name = null) => throw NotExecutable();

    /// <summary>A directory read at run time; its path is usually a runtime argument.</summary>
    [Device("directory", typeof(IKeyValueStore))]
    [Implementation("unix,microvm,xen", "Unikernel.Devices.Unix.DirectoryKeyValueStore")]
    public IImpl<IKeyValueStore> Directory(IImpl<string> root, string? name = null) => throw NotExecutable();

    /// <summary>
    /// A raw Ethernet interface: a tap device on unix, the VM's NIC on microvm/xen. Its host interface is the
    /// <c>--interface</c> runtime argument, or <paramref name="interfaceName"/> when given (an appliance with several
    /// interfaces gives each its own argument: <c>c.Network("port1", c.Argument("port1", "tap1", "..."))</c>). On unix
    /// <c>--interface-kind packet</c> attaches to an existing interface (one end of a veth pair) through an AF_PACKET
    /// socket with memory-mapped rings, as on the VM targets, instead of a tap.
    /// </summary>
    [Device("network", typeof(INetworkInterface), IsDefault = true)]
    [Implementation("unix", "Unikernel.Devices.Unix.TapOrPacketNetworkInterface")]
    [Implementation("microvm,xen", "Unikernel.Devices.Vm.PacketNetworkInterface")]
    [RuntimeArgument("interface", "interfaceName", "tap0", "Network interface to attach to (a tap device on unix)")]
    [RuntimeArgument("interface-kind", "interfaceKind", "tap", "unix: tap (a tap device) or packet (AF_PACKET rings on an existing interface, e.g. a veth)")]
    public IImpl<INetworkInterface> Network(string? name = null, IImpl<string>? interfaceName = null) => throw NotExecutable();

    /// <summary>The host's (or the VM kernel's) sockets.</summary>
    [Device("socket-stack", typeof(INetworkStack))]
    [Implementation("unix,microvm,xen", "Unikernel.Devices.Unix.UnixSocketStack")]
    [Implementation("test", "Unikernel.Devices.Testing.LoopbackStack")]
    public IImpl<INetworkStack> SocketStack(string? name = null) => throw NotExecutable();

    /// <summary>Our own Ethernet/ARP/IPv4/ICMP/UDP/DHCP stack over a network interface.</summary>
    [Device("direct-stack", typeof(INetworkStack))]
    [Implementation("unix,test,microvm,xen", "Unikernel.Protocols.Net.DirectStack")]
    [RuntimeArgument("ipv4", "ipv4", "", "Static IPv4 address ADDR/PREFIX (empty: ask DHCP)")]
    [RuntimeArgument("ipv4-gateway", "ipv4Gateway", "", "IPv4 gateway for off-link destinations")]
    public IImpl<INetworkStack> DirectStack(IImpl<INetworkInterface>? network = null, string? name = null) => throw NotExecutable();

    /// <summary>
    /// The network stack chosen by the build: host sockets (<c>-p:UnikernelNet=socket</c>, the default) or the direct
    /// stack over the default network interface (<c>-p:UnikernelNet=direct</c>), like MirageOS's <c>--net</c>.
    /// </summary>
    [Device("stack", typeof(INetworkStack))]
    [Implementation("unix,microvm,xen", "Unikernel.Devices.Unix.UnixSocketStack", When = "net=socket")]
    [Implementation("test", "Unikernel.Devices.Testing.LoopbackStack", When = "net=socket")]
    [Implementation("unix,test,microvm,xen", "Unikernel.Protocols.Net.DirectStack", When = "net=direct")]
    [RuntimeArgument("ipv4", "ipv4", "", "Static IPv4 address ADDR/PREFIX (empty: ask DHCP)")]
    [RuntimeArgument("ipv4-gateway", "ipv4Gateway", "", "IPv4 gateway for off-link destinations")]
    public IImpl<INetworkStack> Stack(string? name = null) => throw NotExecutable();
}
