using System.Globalization;
using System.Text.Json;
using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>
/// A real llm-worker-rbee on a free loopback port, started the way the hive starts it (DESIGN.md "Workers under the
/// hive": <c>--model --port --host --worker-id --ready-file</c>). <see cref="StartAsync"/> returns once the ready
/// file appears (awaited with a file watcher armed before the start, not by polling).
/// </summary>
public sealed class WorkerNode(DaemonProcess process, int port, string directory, TempHome? ownDirectory, JsonElement ready) : IAsyncDisposable
{
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(90);

    public DaemonProcess Process => process;
    public int Port => port;
    public string Directory => directory;
    public string ReadyFile => Path.Combine(directory, "ready.json");

    /// <summary>The ready file's content (DESIGN.md "Workers under the hive").</summary>
    public JsonElement Ready => ready;

    public Uri BaseUri => new($"http://127.0.0.1:{port}/");

    /// <summary>A client addressed at this worker (relative paths such as <c>v1/completions</c>).</summary>
    public HttpClient Http { get; } = new() { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>Starts a worker on <paramref name="model"/>, its ready file and log in <paramref name="directory"/>
    /// (the caller's), or in a temp folder of its own, removed on dispose.</summary>
    public static async Task<WorkerNode> StartAsync(string model, string? directory = null, params string[] extra)
    {
        var own = directory is null ? new TempHome() : null;
        directory ??= own!.Path;
        var port = FreePort.Next();
        var readyFile = Path.Combine(directory, "ready.json");
        var appeared = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watcher = new FileSystemWatcher(directory, "ready.json") { EnableRaisingEvents = true };
        watcher.Created += (_, _) => appeared.TrySetResult();
        watcher.Renamed += (_, _) => appeared.TrySetResult();

        var process = DaemonProcess.Start("llm-worker-rbee",
            ["--model", model, "--port", port.ToString(CultureInfo.InvariantCulture), "--host", "127.0.0.1", "--worker-id", "w-test",
             "--ready-file", readyFile, .. extra],
            logDirectory: directory);
        try
        {
            // Whichever comes first: the file, the process's exit, or the time-out (WaitForExitAsync's own bound).
            var exited = process.WaitForExitAsync(ReadyTimeout);
            if (!File.Exists(readyFile) && await Task.WhenAny(appeared.Task, exited) != appeared.Task && !File.Exists(readyFile))
                throw new TimeoutException(
                    $"phase start-up: llm-worker-rbee on port {port}: expected the ready file {readyFile} within {ReadyTimeout.TotalSeconds} s; " +
                    $"saw {(process.HasExited ? $"exit code {process.ExitCode}" : "no file")}. Log:\n{process.LogTail()}");
            var ready = JsonDocument.Parse(await File.ReadAllTextAsync(readyFile)).RootElement.Clone();
            return new WorkerNode(process, port, directory, own, ready);
        }
        catch
        {
            await process.DisposeAsync();
            own?.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await process.DisposeAsync();
        ownDirectory?.Dispose();
    }
}
