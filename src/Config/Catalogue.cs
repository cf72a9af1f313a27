using System;

namespace Unikernel.Config;

/// <summary>Declares that a <see cref="Configuration"/> method creates a device of a kind that provides <paramref name="providedInterface"/>.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class DeviceAttribute(string kind, Type providedInterface) : Attribute
{
    public string Kind { get; } = kind;

    public Type ProvidedInterface { get; } = providedInterface;

    /// <summary>
    /// When set, this device is created implicitly when another catalogue device needs its interface and the
    /// configuration declares none (jobs never get implicit devices: they must be wired explicitly).
    /// </summary>
    public bool IsDefault { get; init; }
}

/// <summary>
/// One implementation of a catalogue device: the targets it serves (comma-separated), the implementing type, and
/// optionally the configure-time key value that selects it (e.g. <c>net=direct</c>). The type's public constructor
/// parameters are its dependencies: matched by name to the method's arguments and to runtime arguments, otherwise by
/// type to the configuration's devices.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class ImplementationAttribute(string targets, string typeName) : Attribute
{
    public string Targets { get; } = targets;

    public string TypeName { get; } = typeName;

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

/// <summary>Marks the method whose directory argument is compiled into the image ("crunch").</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class CrunchAttribute : Attribute
{
}
