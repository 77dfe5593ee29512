using System.Text.Json;

namespace Rbee.Queen.Audit;

/// <summary>
/// The queen's audit log (issue 14): one JSON line per lifecycle action, who did what to which target and when, in its
/// state directory (<c>audit.log</c>, rotated to <c>audit.log.1</c> at 16 MiB, one old file kept). A line is
/// <c>{"time":…,"actor":…,["claimed_user"|"key":…,]"action":…,"target":…[,"detail":…]}</c>; who the actor is, and which of
/// its fields are proof, is <see cref="Actor"/>'s to say (docs/security.md "Audit log").
/// </summary>
public sealed class AuditLog(string stateDirectory, TimeProvider time)
{
    public const string FileName = "audit.log";
    private const long MaxBytes = 16 * 1024 * 1024;

    private readonly Lock _gate = new();

    public string Path { get; } = System.IO.Path.Combine(stateDirectory, FileName);

    public void Write(Actor actor, string action, string target, string? detail = null)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", time.GetUtcNow());
            actor.WriteTo(json);
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
