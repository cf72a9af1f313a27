using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;

namespace Unikernel.Generators;

/// <summary>A system call a type declares with <c>[SystemCalls]</c>, and why; NewDescriptors: also on descriptors it opens after start.</summary>
internal sealed record SystemCallInfo(string Call, string Reason, bool NewDescriptors = false);

/// <summary>The calls of the runtime itself (on <c>Unikernel.Runtime.Seal</c>) and of a VM's init (on <c>VmInit</c>).</summary>
internal sealed record SealBase(EquatableArray<SystemCallInfo> Runtime, EquatableArray<SystemCallInfo> VmInit)
{
    public static readonly SealBase Empty = new(EquatableArray<SystemCallInfo>.Empty, EquatableArray<SystemCallInfo>.Empty);
}

/// <summary>One line of the allow-list: a call, who needs it (device name and implementation) and why.</summary>
internal sealed record SealUse(string Device, string Implementation, string Call, string Reason, bool NewDescriptors = false);

/// <summary>
/// Sealing (-p:UnikernelSeal=true, the default on the VM targets): the allow-list of an image is the union of the <c>[SystemCalls]</c> of the
/// implementations the configuration wires, plus the runtime's (and a VM init's). This writes it into the image (the
/// table the runtime's filter is built from, the text of <c>--seccomp-list</c>) and into a block the build copies
/// next to the image (<c>dist/&lt;target&gt;/&lt;name&gt;.seccomp.txt</c>).
/// </summary>
internal static class Sealing
{
    public const string AttributeName = "Unikernel.Devices.SystemCallsAttribute";
    public const string RuntimeType = "Unikernel.Runtime.Seal";
    public const string VmInitType = "Unikernel.Devices.Vm.VmInit";

    /// <summary>The calls <paramref name="type"/> declares (none when the attribute is unknown to the compilation).</summary>
    public static EquatableArray<SystemCallInfo> Read(INamedTypeSymbol? type, KnownSymbols known)
    {
        var attribute = known.Type(AttributeName);
        if (type is null || attribute is null)
        {
            return EquatableArray<SystemCallInfo>.Empty;
        }
        var calls = new List<SystemCallInfo>();
        foreach (var data in type.GetAttributes())
        {
            if (!SymbolEqualityComparer.Default.Equals(data.AttributeClass, attribute) || data.ConstructorArguments.Length != 1)
            {
                continue;
            }
            var reason = data.NamedArguments.FirstOrDefault(a => a.Key == "Reason").Value.Value as string ?? "";
            var newDescriptors = data.NamedArguments.Any(a => a.Key == "NewDescriptors" && a.Value.Value is true);
            var names = data.ConstructorArguments[0];
            if (names.Kind != TypedConstantKind.Array)
            {
                continue;
            }
            foreach (var name in names.Values)
            {
                if (name.Value is string call && call.Length > 0)
                {
                    calls.Add(new SystemCallInfo(call, reason, newDescriptors));
                }
            }
        }
        return calls.ToEquatableArray();
    }

    public static SealBase ReadBase(Compilation compilation)
    {
        var known = KnownSymbols.For(compilation);
        return new SealBase(Read(known.Type(RuntimeType), known), Read(known.Type(VmInitType), known));
    }

    private static bool IsVm(ResolvedModel model) => model.Target is "microvm" or "xen";

    /// <summary>Every (device, call), the runtime first, in wiring order; one device's repeats dropped.</summary>
    public static List<SealUse> Uses(ResolvedModel model, SealBase seal)
    {
        var uses = new List<SealUse>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string device, string implementation, IEnumerable<SystemCallInfo> calls)
        {
            foreach (var call in calls)
            {
                if (seen.Add(device + "\n" + call.Call))
                {
                    uses.Add(new SealUse(device, implementation, call.Call, call.Reason, call.NewDescriptors));
                }
                else if (call.NewDescriptors)
                {
                    // A repeat that adds new descriptors: the device's one line keeps it.
                    var index = uses.FindIndex(u => u.Device == device && u.Call == call.Call);
                    uses[index] = uses[index] with { NewDescriptors = true };
                }
            }
        }
        Add("runtime", "Unikernel.Runtime.Seal", seal.Runtime);
        if (IsVm(model))
        {
            Add("vm-init", VmInitType, seal.VmInit);
        }
        foreach (var node in model.Nodes)
        {
            Add(node.Name, node.TypeName.Replace("global::", ""), node.SystemCalls);
        }
        return uses;
    }

    /// <summary>The list as text: a header, then one line per call with who needs it, why, and its argument check.</summary>
    public static string ListText(ResolvedModel model, SealBase seal)
    {
        var uses = Uses(model, seal);
        var calls = uses.Select(u => u.Call).Distinct().OrderBy(c => c, StringComparer.Ordinal).ToList();
        var text = new StringBuilder();
        text.Append("# ").Append(model.Name).Append(" (target ").Append(model.Target).Append("): ")
            .Append(calls.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append(" system calls after start, x86-64\n");
        text.Append((model.Seal, model.SealedByDefault) switch
        {
            (true, true) => $"# sealed (the default on target {model.Target}): any other call, another architecture or a failed argument check kills the process\n",
            (true, false) => "# sealed (-p:UnikernelSeal=true): any other call, another architecture or a failed argument check kills the process\n",
            (false, true) => $"# not sealed (-p:UnikernelSeal=false): target {model.Target} otherwise allows only these after start\n",
            _ => "# not sealed: -p:UnikernelSeal=true makes the image allow only these after start\n",
        });
        var width = calls.Count == 0 ? 0 : calls.Max(c => c.Length) + 2;
        foreach (var call in calls)
        {
            var who = uses.Where(u => u.Call == call).Select(u => u.Device + (u.Reason.Length > 0 ? " (" + u.Reason + ")" : ""));
            text.Append(call.PadRight(width)).Append(string.Join(" | ", who));
            var rule = Runtime.SealRules.Describe(call, uses.Any(u => u.Call == call && u.NewDescriptors));
            if (rule.Length > 0)
            {
                text.Append(" [checked: ").Append(rule).Append(']');
            }
            text.Append('\n');
        }
        text.Append("# devices: ").Append(string.Join(", ", uses.Select(u => u.Device + " = " + u.Implementation).Distinct())).Append('\n');
        // The build copies the lines through an MSBuild property, which would split them at ';' and unescape '%'.
        return text.ToString().Replace(';', ',').Replace('%', ' ');
    }

    /// <summary>The partial class's seal members and the list block for the build.</summary>
    public static string Emit(ResolvedModel model, SealBase seal)
    {
        var w = new SourceWriter();
        w.WriteLine("// <auto-generated/>");
        w.WriteLine($"// The system calls the \"{model.Name}\" unikernel may make after start (target \"{model.Target}\"), from its devices' [SystemCalls].");
        w.WriteLine("#nullable enable");
        w.WriteLine();
        var hasNamespace = model.Namespace.Length > 0;
        if (hasNamespace)
        {
            w.OpenBlock("namespace " + model.Namespace);
        }
        w.OpenBlock("partial class " + model.ClassName);
        w.WriteLine($"private const bool __Sealed = {(model.Seal ? "true" : "false")};");
        if (model.Seal)
        {
            // Only a sealed image needs the list as objects (to build its filter, and for --describe); an unsealed one
            // carries just the text (--seccomp-list), not a second copy of every reason (issue 17: ~8 KB of hello).
            w.OpenBlock("private static readonly global::Unikernel.Runtime.SystemCallUse[] __SystemCalls = new global::Unikernel.Runtime.SystemCallUse[]");
            foreach (var use in Uses(model, seal))
            {
                w.WriteLine($"new global::Unikernel.Runtime.SystemCallUse({Literal(use.Device)}, {Literal(use.Call)}, {Literal(use.Reason)}{(use.NewDescriptors ? ", true" : "")}),");
            }
            w.CloseBlock(";");
        }
        var list = ListText(model, seal);
        // UTF-8 ("..."u8, written out by StdIo.WriteLine(ReadOnlySpan<byte>)): a string literal of a few KB would be
        // twice its size in the image, and every image carries its list.
        w.WriteLine($"private static global::System.ReadOnlySpan<byte> __SeccompList => {Literal(list.TrimEnd('\n'))}u8;");
        w.CloseBlock();
        if (hasNamespace)
        {
            w.CloseBlock();
        }
        // Each line behind "//": inside #if the compiler still reads lines that start with '#' as directives.
        w.WriteLine("// The build copies the block below next to the image (<name>.seccomp.txt), without each line's //.");
        w.WriteLine("#if UNIKERNEL_SECCOMP_LIST");
        foreach (var line in list.Split('\n'))
        {
            if (line.Length > 0)
            {
                w.WriteLine("//" + line);
            }
        }
        w.WriteLine("#endif");
        return w.ToString();
    }

    /// <summary>A sealed image's graph: each node labelled with its calls, and a note with the count.</summary>
    public static string AnnotateDot(ResolvedModel model, SealBase seal)
    {
        if (!model.Seal || model.Dot.Length == 0)
        {
            return model.Dot;
        }
        var uses = Uses(model, seal);
        var end = model.Dot.LastIndexOf('}');
        if (end < 0)
        {
            return model.Dot;
        }
        var extra = new StringBuilder();
        foreach (var node in model.Nodes.Where(n => n.SystemCalls.Length > 0))
        {
            extra.Append("  \"").Append(node.Variable).Append("\" [xlabel=<<FONT POINT-SIZE=\"9\">")
                .Append(Html(string.Join(" ", node.SystemCalls.Select(c => c.Call).Distinct()))).Append("</FONT>>];\n");
        }
        var count = uses.Select(u => u.Call).Distinct().Count();
        extra.Append("  \"__seal\" [label=<sealed: ").Append(count.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Append(" system calls<BR/><FONT POINT-SIZE=\"9\">runtime: ")
            .Append(Html(string.Join(" ", uses.Where(u => u.Device == "runtime").Select(u => u.Call)))).Append("</FONT>>, shape=note];\n");
        return model.Dot.Substring(0, end) + extra + model.Dot.Substring(end);
    }

    private static string Html(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");

    private static string Literal(string value) => CSharpConfigReader.Literal(value);
}
