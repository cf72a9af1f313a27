using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Unikernel.Generators.Editor.Tests;

/// <summary>
/// A minimal LSP client: JSON-RPC 2.0 over a server's stdin/stdout with Content-Length framing. Every wait is bounded;
/// requests from the server get a plain answer (workspace/configuration gets <see cref="Settings"/>).
/// </summary>
public sealed class LspClient : IDisposable
{
    private readonly Process _process;
    private readonly Stream _input;
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonNode?>> _pending = new();
    private readonly StringBuilder _log = new();
    private readonly Thread _reader;
    private readonly object _writeLock = new();
    private int _nextId;

    public LspClient(string program, string arguments, string directory, JsonObject settings)
    {
        Settings = settings;
        _process = Process.Start(new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("could not start " + program);
        _input = _process.StandardInput.BaseStream;
        _process.ErrorDataReceived += (_, e) => Log("stderr: " + e.Data);
        _process.BeginErrorReadLine();
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "lsp-reader" };
        _reader.Start();
    }

    /// <summary>What the client answers to workspace/configuration (by section name).</summary>
    public JsonObject Settings { get; }

    /// <summary>Every notification the server sent, in order (method, params).</summary>
    public ConcurrentQueue<(string Method, JsonNode? Params)> Notifications { get; } = new();

    public string Transcript
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public async Task<JsonNode?> Request(string method, JsonNode? parameters, TimeSpan timeout)
    {
        var id = Interlocked.Increment(ref _nextId);
        var completion = new TaskCompletionSource<JsonNode?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = completion;
        Send(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id, ["method"] = method, ["params"] = parameters });
        var finished = await Task.WhenAny(completion.Task, Task.Delay(timeout));
        _pending.TryRemove(id, out _);
        Assert.True(finished == completion.Task, $"no answer to {method} within {timeout.TotalSeconds} s\n{Tail()}");
        return await completion.Task;
    }

    public void Notify(string method, JsonNode? parameters) =>
        Send(new JsonObject { ["jsonrpc"] = "2.0", ["method"] = method, ["params"] = parameters });

    private void Send(JsonObject message)
    {
        var body = Encoding.UTF8.GetBytes(message.ToJsonString());
        var header = Encoding.ASCII.GetBytes($"Content-Length: {body.Length}\r\n\r\n");
        lock (_writeLock)
        {
            _input.Write(header);
            _input.Write(body);
            _input.Flush();
        }
    }

    private void ReadLoop()
    {
        var output = _process.StandardOutput.BaseStream;
        try
        {
            while (ReadMessage(output) is { } message)
            {
                Dispatch(message);
            }
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException or System.Text.Json.JsonException)
        {
            Log("reader stopped: " + exception.Message);
        }
        foreach (var pending in _pending.Values)
        {
            pending.TrySetException(new IOException("the server closed its output\n" + Tail()));
        }
    }

    private void Dispatch(JsonNode message)
    {
        var method = message["method"]?.GetValue<string>();
        var id = message["id"];
        if (method is null && id is not null)
        {
            if (_pending.TryGetValue(id.GetValue<int>(), out var completion))
            {
                if (message["error"] is { } error)
                {
                    completion.TrySetException(new InvalidOperationException("LSP error: " + error.ToJsonString()));
                }
                else
                {
                    completion.TrySetResult(message["result"]?.DeepClone());
                }
            }
            return;
        }
        if (method is not null && id is not null)
        {
            // A request from the server: configuration gets the settings, everything else (registerCapability,
            // workDoneProgress/create, ...) an empty success.
            JsonNode? result = null;
            if (method == "workspace/configuration")
            {
                var items = new JsonArray();
                foreach (var item in message["params"]?["items"]?.AsArray() ?? [])
                {
                    var section = item?["section"]?.GetValue<string>() ?? "";
                    items.Add(Settings[section]?.DeepClone());
                }
                result = items;
            }
            Send(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id.DeepClone(), ["result"] = result });
            return;
        }
        if (method is not null)
        {
            if (method == "window/logMessage")
            {
                Log("log: " + message["params"]?["message"]);
            }
            Notifications.Enqueue((method, message["params"]?.DeepClone()));
        }
    }

    private static JsonNode? ReadMessage(Stream stream)
    {
        var length = -1;
        while (true)
        {
            var line = ReadHeaderLine(stream);
            if (line is null)
            {
                return null;
            }
            if (line.Length == 0)
            {
                break;
            }
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                length = int.Parse(line.AsSpan(15).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        if (length < 0 || length > 64 * 1024 * 1024)
        {
            throw new IOException("bad Content-Length: " + length);
        }
        var body = new byte[length];
        stream.ReadExactly(body);
        return JsonNode.Parse(body);
    }

    private static string? ReadHeaderLine(Stream stream)
    {
        var bytes = new List<byte>();
        while (true)
        {
            var b = stream.ReadByte();
            if (b < 0)
            {
                return null;
            }
            if (b == '\n')
            {
                return Encoding.ASCII.GetString([.. bytes]).TrimEnd('\r');
            }
            if (bytes.Count > 4096)
            {
                throw new IOException("header line too long");
            }
            bytes.Add((byte)b);
        }
    }

    private void Log(string line)
    {
        lock (_log)
        {
            if (_log.Length < 1_000_000)
            {
                _log.AppendLine(line);
            }
        }
    }

    private string Tail()
    {
        var text = Transcript;
        return text.Length <= 4000 ? text : text[^4000..];
    }

    /// <summary>shutdown and exit, then waits (bounded) for the server to end; kills it if it does not.</summary>
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                Request("shutdown", null, TimeSpan.FromSeconds(20)).Wait(TimeSpan.FromSeconds(25));
                Notify("exit", null);
            }
        }
        catch (Exception exception) when (exception is IOException or AggregateException or InvalidOperationException or Xunit.Sdk.XunitException)
        {
            Log("shutdown failed: " + exception.Message);
        }
        if (!_process.WaitForExit(TimeSpan.FromSeconds(20)))
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        Assert.True(_process.HasExited, "the language server did not exit");
        _reader.Join(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }
}
