using System.Diagnostics;
using System.Text.Json;

namespace Unikernel.Protocols.Tests.Dns;

/// <summary>
/// dnspython (Debian python3-dnspython, through /usr/bin/python3) as an independent decoder and encoder: one long-lived
/// process running dnswire.py, one request line and one JSON answer line at a time, every wait bounded.
/// </summary>
public sealed class Dnspython : IDisposable
{
    private readonly Process _process;
    private readonly Lock _gate = new();

    public Dnspython()
    {
        var python = Tools.Require("python3", "/usr/bin/python3");
        var check = Tools.Run(python, ["-c", "import dns.message, dns.dnssec, cryptography"], TimeSpan.FromSeconds(30));
        Assert.True(check.ExitCode == 0, "dnspython with cryptography is required (Debian: apt-get install python3-dnspython python3-cryptography): " + check.Output);
        _process = Process.Start(new ProcessStartInfo(python, ["-u", ScriptPath])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("cannot start python3");
    }

    private static string ScriptPath => Path.Combine(Path.GetDirectoryName(TestZone.SamplePath)!, "..", "..", "..", "tests", "Unikernel.Protocols.Tests", "Dns", "dnswire.py");

    /// <summary>Sends one request line; returns the JSON answer (fails the test on an error answer or no answer in 30 s).</summary>
    public JsonElement Ask(string request, bool errorIsOk = false)
    {
        lock (_gate)
        {
            _process.StandardInput.WriteLine(request);
            _process.StandardInput.Flush();
            var read = _process.StandardOutput.ReadLineAsync();
            if (!read.Wait(TimeSpan.FromSeconds(30)) || read.Result is null)
            {
                Assert.Fail($"dnswire.py gave no answer to '{request}': {(_process.HasExited ? _process.StandardError.ReadToEnd() : "still running")}");
            }
            var element = JsonDocument.Parse(read.Result!).RootElement.Clone();
            if (!errorIsOk && element.TryGetProperty("error", out var error))
            {
                Assert.Fail($"dnspython: {error.GetString()} (for '{request}')");
            }
            return element;
        }
    }

    public JsonElement Decode(byte[] message) => Ask("decode " + Convert.ToHexString(message));

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(10_000))
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        finally
        {
            _process.Dispose();
        }
    }
}
