using System.Text.Json;

namespace Rbee.Worker.Serving;

/// <summary>
/// The ready signal of the launch contract (DESIGN.md "Workers under the hive"): one JSON line written to a
/// temporary file in the same folder and renamed over the target, so the hive's inotify watch never sees a
/// half-written file.
/// </summary>
public static class ReadyFile
{
    public static void Write(string path, ReadyEvent ready)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        var json = JsonSerializer.Serialize(ready, WorkerJsonContext.Default.ReadyEvent);
        File.WriteAllText(temp, json + "\n");
        File.Move(temp, full, overwrite: true);
    }
}
