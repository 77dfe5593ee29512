using System.Text.Json;
using Rbee.Testing;

namespace Rbee.SystemTests.Worker;

/// <summary>
/// A real llm-worker-rbee on a free loopback port, started the way the hive starts it (DESIGN.md "Workers under the
/// hive": <c>--model --port --host --worker-id --ready-file</c>). <see cref="StartAsync"/> returns once the ready
/// file appears (awaited with a file watcher armed before the start, not by polling).
/// </summary>
public sealed class WorkerHarness : IAsyncDisposable
{
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(90);

    public DaemonProcess Process { get; }
    public int Port { get; }
    public string Directory { get; }
    public string ReadyFile { get; }
    public JsonElement Ready { get; }
    public HttpClient Http { get; }
    public Uri BaseUri => new($"http://127.0.0.1:{Port}/");

    private WorkerHarness(DaemonProcess process, int port, string directory, string readyFile, JsonElement ready)
    {
        Process = process;
        Port = port;
        Directory = directory;
        ReadyFile = readyFile;
        Ready = ready;
        Http = new HttpClient { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(60) };
    }

    public static string NewDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "rbee-worker-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(dir);
        return dir;
    }

    public static async Task<WorkerHarness> StartAsync(string model, string? directory = null, params string[] extra)
    {
        directory ??= NewDirectory();
        var port = FreePort.Next();
        var readyFile = Path.Combine(directory, "ready.json");
        var appeared = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watcher = new FileSystemWatcher(directory, "ready.json") { EnableRaisingEvents = true };
        watcher.Created += (_, _) => appeared.TrySetResult();
        watcher.Renamed += (_, _) => appeared.TrySetResult();

        var process = DaemonProcess.Start("llm-worker-rbee",
            ["--model", model, "--port", port.ToString(), "--host", "127.0.0.1", "--worker-id", "w-test",
             "--ready-file", readyFile, .. extra],
            logDirectory: directory);
        try
        {
            var exited = process.WaitForExitAsync(ReadyTimeout);
            if (!File.Exists(readyFile))
            {
                var first = await Task.WhenAny(appeared.Task, exited, Task.Delay(ReadyTimeout));
                if (first != appeared.Task && !File.Exists(readyFile))
                    throw new TimeoutException(
                        $"llm-worker-rbee on port {port}: expected the ready file {readyFile} within {ReadyTimeout.TotalSeconds} s; " +
                        $"saw {(process.HasExited ? $"exit code {process.ExitCode}" : "no file")}. Log:\n{process.LogTail()}");
            }
            var ready = JsonDocument.Parse(await File.ReadAllTextAsync(readyFile)).RootElement.Clone();
            return new WorkerHarness(process, port, directory, readyFile, ready);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Process.DisposeAsync();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
