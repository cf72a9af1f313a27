using System;

namespace Unikernel.Config;

/// <summary>
/// Marks the partial class whose <c>static void Configure(Configuration c)</c> method declares a unikernel. The source
/// generator reads that method (it is never executed) and emits the entry point into the class.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class UnikernelAttribute(string name) : Attribute
{
    /// <summary>The appliance's name: the image file name (dist/TARGET/NAME, whatever the project is called), the name in --help and in logs. Letters, digits, <c>_</c>, <c>.</c> and <c>-</c>.</summary>
    public string Name { get; } = name;
}

/// <summary>Something the configuration builds that provides a <typeparamref name="T"/>: a device, a job, a runtime argument.</summary>
public interface IImpl<out T>
{
}

/// <summary>A configure-time key: its value is fixed when the image is built (MSBuild property), like MirageOS keys.</summary>
public sealed class ConfigKey
{
    private ConfigKey()
    {
    }

    /// <summary>True when the key has <paramref name="value"/> in this build.</summary>
    public Condition Is(string value) => throw Configuration.NotExecutable();
}

/// <summary>A configure-time condition, for <see cref="Configuration.If{T}"/>.</summary>
public sealed class Condition
{
    private Condition()
    {
    }
}

/// <summary>One case of <see cref="Configuration.Match{T}"/>.</summary>
public readonly record struct Case<T>(string Value, IImpl<T> Impl);
