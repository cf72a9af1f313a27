using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Unikernel.Runtime;

// These two are classes, not records: nothing compares or prints them, and every image carries them (a record's value
// equality, ToString and PrintMembers are about 1.5 KB of each image per record).

/// <summary>One device or job of an image, as the generator wired it: its name, implementation and what it gets.</summary>
/// <param name="uses">Per constructor argument: another device's name, <c>--argument</c>, or a short text.</param>
public sealed class DeviceDescription(string name, string implementation, string[] uses, bool isJob)
{
    public string Name { get; } = name;

    public string Implementation { get; } = implementation;

    public string[] Uses { get; } = uses;

    public bool IsJob { get; } = isJob;
}

/// <summary>A runtime argument with the value the image parsed from its command line (or the default).</summary>
public sealed class ArgumentValue(string name, string type, string value)
{
    public string Name { get; } = name;

    public string Type { get; } = type;

    public string Value { get; } = value;
}

/// <summary>
/// <c>--describe</c> (like <c>mirage describe</c>): the image's device tree as text, from the table the generator
/// writes into the image, with the runtime arguments' values after parsing. Jobs are the roots; a device used twice
/// is shown in full once.
/// </summary>
public static class Description
{
    public static int Print(string appliance, string target, DeviceDescription[] devices, ArgumentValue[] arguments)
    {
        StdIo.WriteLine(Format(appliance, target, devices, arguments));
        return 0;
    }

    /// <summary>Like <see cref="Print(string, string, DeviceDescription[], ArgumentValue[])"/>; a sealed image (<paramref name="seal"/>) also shows its allow-list per device.</summary>
    public static int Print(string appliance, string target, DeviceDescription[] devices, ArgumentValue[] arguments, SystemCallUse[]? seal)
    {
        StdIo.WriteLine(Format(appliance, target, devices, arguments) + (seal is null || !Seal.IsSupported ? "" : "\n" + FormatSeal(seal)));
        return 0;
    }

    /// <summary>"sealed: N system calls after start:" then, per device (the runtime first), the calls it needs.</summary>
    public static string FormatSeal(SystemCallUse[] seal)
    {
        ArgumentNullException.ThrowIfNull(seal);
        // Two parallel lists, not a list of tuples searched with a lambda: a Predicate over a tuple of references
        // pulls the runtime type loader (~110 KB) into the image.
        var deviceNames = new List<string>();
        var deviceCalls = new List<List<string>>();
        foreach (var use in seal)
        {
            var index = deviceNames.IndexOf(use.Device);
            if (index < 0)
            {
                deviceNames.Add(use.Device);
                deviceCalls.Add([use.Call]);
            }
            else
            {
                deviceCalls[index].Add(use.Call);
            }
        }
        var text = new StringBuilder();
        text.Append("sealed: ").Append(Seal.CallCount(seal).ToString(CultureInfo.InvariantCulture)).Append(" system calls after start (--seccomp-list says why):");
        for (var i = 0; i < deviceNames.Count; i++)
        {
            text.Append('\n').Append("  ").Append(deviceNames[i]).Append(": ").Append(string.Join(", ", deviceCalls[i]));
        }
        return text.ToString();
    }

    public static string Format(string appliance, string target, DeviceDescription[] devices, ArgumentValue[] arguments)
    {
        ArgumentNullException.ThrowIfNull(devices);
        ArgumentNullException.ThrowIfNull(arguments);
        var byName = new Dictionary<string, DeviceDescription>(StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var device in devices)
        {
            byName[device.Name] = device;
            used.UnionWith(device.Uses);
        }
        var values = new Dictionary<string, ArgumentValue>(StringComparer.Ordinal);
        foreach (var argument in arguments)
        {
            values["--" + argument.Name] = argument;
        }

        var text = new StringBuilder();
        text.Append(appliance).Append(" (target ").Append(target).Append(')').Append('\n');
        var shown = new HashSet<string>(StringComparer.Ordinal);
        var roots = new List<string>();
        foreach (var device in devices)
        {
            if (device.IsJob || !used.Contains(device.Name))
            {
                roots.Add(device.Name);
            }
        }
        for (var i = 0; i < roots.Count; i++)
        {
            Append(text, roots[i], "", i == roots.Count - 1, byName, values, shown);
        }
        text.Append("arguments:");
        if (arguments.Length == 0)
        {
            text.Append(" none");
        }
        foreach (var argument in arguments)
        {
            text.Append('\n').Append("  --").Append(argument.Name).Append(" <").Append(argument.Type).Append("> = ").Append(argument.Value);
        }
        return text.ToString();
    }

    private static void Append(StringBuilder text, string use, string indent, bool last, Dictionary<string, DeviceDescription> byName, Dictionary<string, ArgumentValue> values, HashSet<string> shown)
    {
        text.Append(indent).Append(last ? "└── " : "├── ");
        if (values.TryGetValue(use, out var argument))
        {
            text.Append(use).Append(" <").Append(argument.Type).Append("> = ").Append(argument.Value).Append('\n');
            return;
        }
        if (!byName.TryGetValue(use, out var device))
        {
            text.Append(use).Append('\n');
            return;
        }
        text.Append(device.Name).Append(": ").Append(device.Implementation);
        if (!shown.Add(device.Name))
        {
            text.Append(" (shown above)").Append('\n');
            return;
        }
        text.Append('\n');
        var childIndent = indent + (last ? "    " : "│   ");
        for (var i = 0; i < device.Uses.Length; i++)
        {
            Append(text, device.Uses[i], childIndent, i == device.Uses.Length - 1, byName, values, shown);
        }
    }

    // How a parsed value reads in the description: as it would be typed on the command line. Escaped by hand, not with
    // string.Replace(string, string, StringComparison): that overload brings culture-aware comparison and its search
    // tables into every image with a string argument (about 10 KB).
    public static string Value(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var text = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            if (c is '\\' or '"')
            {
                text.Append('\\');
            }
            text.Append(c);
        }
        return text.Append('"').ToString();
    }

    public static string Value(int value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Value(long value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Value(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    public static string Value(bool value) => value ? "true" : "false";

    public static string Value(string[] value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var parts = new string[value.Length];
        for (var i = 0; i < value.Length; i++)
        {
            parts[i] = Value(value[i]);
        }
        return "[" + string.Join(", ", parts) + "]";
    }
}
