using System;

namespace Unikernel.Config;

/// <summary>
/// Declares that a method creates a device of a kind that provides <paramref name="providedInterface"/>: a
/// <see cref="Configuration"/> method (the built-in catalogue) or a user's extension method on
/// <see cref="Configuration"/> in a static class (a device of the user's own, usable from config.cs and, by its kind,
/// from unikernel.yaml). Its implementations per target are its <see cref="ImplementationAttribute"/>s.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class DeviceAttribute(string kind, Type providedInterface) : Attribute
{
    /// <summary>The device's kind: its name in unikernel.yaml (<c>kind: console</c>) and in the device graph.</summary>
    public string Kind { get; } = kind;

    public Type ProvidedInterface { get; } = providedInterface;

    /// <summary>
    /// When set, this device is created implicitly when another catalogue device needs its interface and the
    /// configuration declares none (jobs never get implicit devices: they must be wired explicitly).
    /// </summary>
    public bool IsDefault { get; init; }
}

/// <summary>
/// One implementation of a catalogue device: the implementing type, the targets it serves, and optionally the
/// configure-time key value that selects it (e.g. <c>net=direct</c>). The type's public constructor parameters are its
/// dependencies: matched by name to the method's arguments and to runtime arguments, otherwise by type to the
/// configuration's devices.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class ImplementationAttribute(Type type) : Attribute
{
    /// <summary>The implementing type: a public, non-abstract class that provides the device's interface.</summary>
    public Type Type { get; } = type;

    /// <summary>
    /// The targets this implementation serves, comma-separated: target names (<c>unix</c>) or target families
    /// (<c>linux</c>, <c>vm</c>: see <see cref="TargetAttribute.Families"/>). Empty or not set: every target.
    /// </summary>
    public string Targets { get; init; } = "";

    /// <summary>"key=value": this implementation is chosen only when the configure-time key has that value.</summary>
    public string? When { get; init; }

    /// <summary>Devices whose implementations share this key and type are one instance (one virtual clock for all time devices).</summary>
    public string? SharedInstance { get; init; }
}

/// <summary>A runtime argument that an implementation's constructor parameter takes (e.g. <c>--ipv4</c> for the direct stack).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class RuntimeArgumentAttribute(string name, string parameter, string defaultValue, string description) : Attribute
{
    public string Name { get; } = name;

    public string Parameter { get; } = parameter;

    public string DefaultValue { get; } = defaultValue;

    public string Description { get; } = description;
}

/// <summary>
/// Marks the method whose directory argument is compiled into the image ("crunch"): the implementation's first
/// constructor parameter gets the generated table, a <c>Unikernel.Devices.Unix.CrunchEntry[]</c> (each file's key,
/// bytes, build-time content digest and, with UnikernelCrunchLastModified, the build's Last-Modified).
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class CrunchAttribute : Attribute
{
}

/// <summary>What the build makes of a target's published binary.</summary>
public enum TargetImage
{
    /// <summary>The NativeAOT executable itself, copied to <c>dist/&lt;target&gt;/NAME</c> (Unikernel.targets).</summary>
    Executable,

    /// <summary>A bootable VM image: kernel plus an initramfs whose <c>/init</c> is the binary (Unikernel.Vm.targets, scripts/vm/make-image.sh).</summary>
    VmImage,
}

/// <summary>
/// One build target (<c>-p:UnikernelTarget=NAME</c>), declared once on <see cref="Configuration"/>: everything the
/// generator and the build need to know about it. The generator reads these declarations (never runs them); the
/// implementations of the catalogue's devices name the targets (or their <see cref="Families"/>) they serve.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class TargetAttribute(string name) : Attribute
{
    /// <summary>The target's name, the value of the <c>UnikernelTarget</c> build property and of <c>c.Target</c>.</summary>
    public string Name { get; } = name;

    /// <summary>Comma-separated families the target belongs to (<c>linux</c>: Linux system calls underneath; <c>vm</c>: a VM image); an implementation may name a family instead of each target.</summary>
    public string Families { get; init; } = "";

    /// <summary>The appliance is a VM's PID 1 (it boots a kernel of its own).</summary>
    public bool BootsVm { get; init; }

    /// <summary>
    /// The start-up hook: a static class with <c>public static void Initialize()</c>, called first in <c>Main</c>, and
    /// <c>public static int Exit(int exitCode)</c>, which gets <c>Main</c>'s exit code (e.g. VmInit powers the VM off).
    /// None: <c>Main</c> runs the appliance directly.
    /// </summary>
    public Type? StartUp { get; init; }

    /// <summary>What the build makes of the published binary (the image step).</summary>
    public TargetImage Image { get; init; }

    /// <summary>
    /// Whether the appliance seals itself once its devices have started (a seccomp allow-list derived from its devices,
    /// docs/sealing.md): on request (<c>-p:UnikernelSeal=true</c>), by default (<c>-p:UnikernelSeal=false</c> turns it
    /// off), or never.
    /// </summary>
    public TargetSeal Seal { get; init; }
}

/// <summary>Sealing on a target (<see cref="TargetAttribute.Seal"/>). The build's list of targets sealed by default is Unikernel.props' UnikernelSealedTargets.</summary>
public enum TargetSeal
{
    /// <summary>Not sealed unless built with <c>-p:UnikernelSeal=true</c> (a sealed build has its own folders: dist/unix-sealed/).</summary>
    OnRequest,

    /// <summary>Sealed unless built with <c>-p:UnikernelSeal=false</c> (an unsealed build has its own folders: dist/microvm-unsealed/).</summary>
    ByDefault,

    /// <summary>Never sealed (the test target runs on the JIT over in-memory devices).</summary>
    Never,
}

/// <summary>
/// Marks a parameter of a device method as an option: a value fixed when the image is built (a constant in config.cs, a
/// scalar field in unikernel.yaml), passed to the implementation's constructor parameter of the same name. The parameter
/// is a string, int, long, bool or double with a default (used when the configuration leaves it out). The generator
/// checks a given value against <see cref="Min"/>/<see cref="Max"/> (numbers) or <see cref="Values"/> (strings) and reports
/// UK0022 with what to give instead.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter, Inherited = false)]
public sealed class OptionAttribute(string description) : Attribute
{
    /// <summary>What the option sets (in messages).</summary>
    public string Description { get; } = description;

    /// <summary>The smallest value a number option takes.</summary>
    public long Min { get; init; } = long.MinValue;

    /// <summary>The largest value a number option takes.</summary>
    public long Max { get; init; } = long.MaxValue;

    /// <summary>A string option's values, comma-separated (compared ignoring case); empty: any string.</summary>
    public string Values { get; init; } = "";
}
