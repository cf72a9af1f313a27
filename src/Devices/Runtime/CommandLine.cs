using System;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Unikernel.Runtime;

/// <summary>Helpers the generated argument parser calls: typed parsing without reflection, and uniform errors (exit code 2).</summary>
public static class CommandLine
{
    public const int UsageError = 2;

    /// <summary>Takes the value of an option: the inline <c>--name=value</c> one, else the next argument.</summary>
    public static bool TryTakeValue(string[] args, ref int index, [NotNullWhen(true)] ref string? value)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (value is not null)
        {
            return true;
        }
        if (index + 1 < args.Length)
        {
            value = args[++index];
            return true;
        }
        return false;
    }

    public static bool TryParse(string value, out int result) => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out result);

    public static bool TryParse(string value, out long result) => long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out result);

    public static bool TryParse(string value, out double result) => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out result);

    public static bool TryParse(string value, out bool result)
    {
        switch (value.ToLowerInvariant())
        {
            case "true" or "yes" or "on" or "1":
                result = true;
                return true;
            case "false" or "no" or "off" or "0":
                result = false;
                return true;
            default:
                result = false;
                return false;
        }
    }

    public static int MissingValue(string appliance, string option, string type) =>
        Fail(appliance, $"{option} needs a value ({Describe(type)})");

    public static int BadValue(string appliance, string option, string value, string type) =>
        Fail(appliance, $"{option} expects {Describe(type)}, got '{value}'");

    public static int Unknown(string appliance, string argument) =>
        Fail(appliance, $"unknown argument '{argument}'");

    private static int Fail(string appliance, string message)
    {
        StdIo.WriteErrorLine($"{appliance}: {message} (see --help)");
        return UsageError;
    }

    private static string Describe(string type) => type switch
    {
        "int" => "an integer",
        "long" => "an integer",
        "double" => "a number",
        "bool" => "true or false",
        "string[]" => "a string",
        _ => "a string",
    };
}
