using System.Text.Json;

namespace Rbee.Queen.Remote;

/// <summary>
/// The queen's audit log (issue 14): one JSON line per lifecycle action, who did what to which target and when, in its
/// state directory (<c>audit.log</c>, rotated to <c>audit.log.1</c> at 16 MiB). Actors: <c>cluster token</c> (a control
/// caller), <c>queen</c> (its own supervision).
/// </summary>
public sealed class AuditLog(string stateDirectory, TimeProvider time)
{
    public const string FileName = "audit.log";
    private const long MaxBytes = 16 * 1024 * 1024;

    private readonly Lock _gate = new();

    public string Path { get; } = System.IO.Path.Combine(stateDirectory, FileName);

    public void Write(string actor, string action, string target, string? detail = null)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", time.GetUtcNow());
            json.WriteString("actor", actor);
            json.WriteString("action", action);
            json.WriteString("target", target);
            if (detail is not null) json.WriteString("detail", detail);
            json.WriteEndObject();
        }
        lock (_gate)
        {
            try
            {
                Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
                if (File.Exists(Path) && new FileInfo(Path).Length > MaxBytes) File.Move(Path, Path + ".1", overwrite: true);
                using var file = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
                file.Write(buffer.WrittenSpan);
                file.WriteByte((byte)'\n');
            }
            catch (IOException)
            {
                // The audit log never takes the action down with it; the daemon's own log has the line too.
            }
        }
    }
}
