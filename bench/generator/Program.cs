using System.Diagnostics;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Unikernel.Generators;

// A configuration of 100 devices: 20 catalogue devices and a chain of 80 services built over them (functor
// applications), the last one a job. Measures a full generator run on a new compilation and the incremental run after
// an unrelated edit, each as the median of many runs.
const int Catalogue = 20;
const int Services = 80;
var runs = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 30;

var services = new StringBuilder("using System.Threading; using System.Threading.Tasks; using Unikernel.Devices;\nnamespace Bench;\n");
services.AppendLine("public sealed class Service0(IConsole console) { }");
for (var i = 1; i < Services - 1; i++)
{
    services.AppendLine($"public sealed class Service{i}(Service{i - 1} previous, IConsole console) {{ }}");
}
services.AppendLine($"public sealed class Service{Services - 1}(Service{Services - 2} previous, IConsole console) : IJob {{ public Job RunAsync(CancellationToken ct) => Job.CompletedJob; }}");

var config = new StringBuilder("using Unikernel.Config;\nnamespace Bench;\n[Unikernel(\"bench\")]\npublic static partial class BenchConfig\n{\n    static void Configure(Configuration c)\n    {\n");
for (var i = 0; i < Catalogue; i++)
{
    config.AppendLine(i == 0 ? "        var console = c.Console();" : $"        var console{i} = c.Console(\"console{i}\");");
}
// Service i writes to console i % 20, so every declared device is reachable and constructed.
string Console(int i) => i % Catalogue == 0 ? "console" : $"console{i % Catalogue}";
config.AppendLine("        var s0 = c.New<Service0>(console);");
for (var i = 1; i < Services - 1; i++)
{
    config.AppendLine($"        var s{i} = c.New<Service{i}>(s{i - 1}, {Console(i)});");
}
config.AppendLine($"        c.Register(c.Main<Service{Services - 1}>(s{Services - 2}, {Console(Services - 1)}));\n    }}\n}}");

var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
    .Select(path => MetadataReference.CreateFromFile(path))
    .Append(MetadataReference.CreateFromFile(typeof(Unikernel.Config.Configuration).Assembly.Location))
    .Append(MetadataReference.CreateFromFile(typeof(Unikernel.Devices.IConsole).Assembly.Location))
    .ToList();
var parse = new CSharpParseOptions(LanguageVersion.Preview);
CSharpCompilation NewCompilation() => CSharpCompilation.Create("bench",
    [CSharpSyntaxTree.ParseText(services.ToString(), parse, "Services.cs"), CSharpSyntaxTree.ParseText(config.ToString(), parse, "config.cs")],
    references, new CSharpCompilationOptions(OutputKind.ConsoleApplication));

GeneratorDriver NewDriver() => CSharpGeneratorDriver.Create([new UnikernelGenerator().AsSourceGenerator()], parseOptions: parse);

// Check once that the configuration is valid and wires 100 devices.
var check = NewDriver().RunGenerators(NewCompilation()).GetRunResult();
var errors = check.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
if (errors.Count > 0)
{
    System.Console.Error.WriteLine(string.Join('\n', errors));
    return 1;
}
var constructed = check.GeneratedTrees[0].ToString().Split('\n').Count(line => line.Contains(" = new global::", StringComparison.Ordinal));
System.Console.WriteLine($"configuration: {Catalogue} catalogue devices + {Services} services; generated code constructs {constructed} devices");

double Median(List<double> samples) { samples.Sort(); return samples[samples.Count / 2]; }

// Warm up the JIT, then measure.
for (var i = 0; i < 5; i++)
{
    NewDriver().RunGenerators(NewCompilation());
}
var full = new List<double>();
for (var i = 0; i < runs; i++)
{
    var compilation = NewCompilation();
    var driver = NewDriver();
    var watch = Stopwatch.StartNew();
    driver.RunGenerators(compilation);
    full.Add(watch.Elapsed.TotalMilliseconds);
}
var incremental = new List<double>();
var baseCompilation = NewCompilation();
var warmDriver = NewDriver().RunGenerators(baseCompilation);
for (var i = 0; i < runs; i++)
{
    var edited = baseCompilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText($"namespace Bench; class Unrelated{i} {{ }}", parse, $"Unrelated{i}.cs"));
    var watch = Stopwatch.StartNew();
    warmDriver.RunGenerators(edited);
    incremental.Add(watch.Elapsed.TotalMilliseconds);
}
System.Console.WriteLine($"full run (new compilation): median {Median(full):F2} ms over {runs} runs");
System.Console.WriteLine($"incremental run after an unrelated edit: median {Median(incremental):F2} ms over {runs} runs");
return 0;
