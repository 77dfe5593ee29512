using System.Text.Json;
using Rbee.Platform.Remote;

namespace Rbee.Queen.Remote;

/// <summary>A hive the queen manages on another machine (issue 14): its SSH alias (also its hive id), who restarts it
/// when it crashes, whether its operator wants it running (a hive stopped on purpose is not restarted), and the URL it
/// was last seen at (so a restarted queen can tell that a hive it has not heard from yet is down, and start it).</summary>
public sealed record ManagedHive(string Alias, string Supervisor, bool WantRunning, string? HiveUrl = null);

/// <summary>
/// The managed hives, persisted in the queen's state directory (<c>managed-hives.json</c>, written to a temporary file
/// and renamed) so a restarted queen still manages them.
/// </summary>
public sealed class ManagedHives
{
    public const string FileName = "managed-hives.json";

    private readonly Lock _gate = new();
    private readonly string _path;
    private Dictionary<string, ManagedHive> _hives;

    public ManagedHives(string stateDirectory)
    {
        _path = Path.Combine(stateDirectory, FileName);
        _hives = Load(_path);
    }

    public IReadOnlyList<ManagedHive> All
    {
        get { lock (_gate) return [.. _hives.Values.OrderBy(h => h.Alias, StringComparer.Ordinal)]; }
    }

    public ManagedHive? Find(string alias)
    {
        lock (_gate) return _hives.GetValueOrDefault(alias);
    }

    /// <summary>Adds or replaces the hive; a <see cref="ManagedHive.HiveUrl"/> left null keeps the one known.</summary>
    public void Put(ManagedHive hive)
    {
        lock (_gate)
        {
            if (hive.HiveUrl is null && _hives.GetValueOrDefault(hive.Alias)?.HiveUrl is { } known) hive = hive with { HiveUrl = known };
            Write(hive);
        }
    }

    /// <summary>Records where a managed hive was seen (written only when it changed).</summary>
    public void Seen(string alias, Uri hiveUrl)
    {
        var url = hiveUrl.ToString();
        lock (_gate)
        {
            if (_hives.GetValueOrDefault(alias) is not { } hive || hive.HiveUrl == url) return;
            Write(hive with { HiveUrl = url });
        }
    }

    /// <summary>Adds or replaces one hive, on disk first; the caller holds the gate.</summary>
    private void Write(ManagedHive hive)
    {
        var next = new Dictionary<string, ManagedHive>(_hives, StringComparer.Ordinal) { [hive.Alias] = hive };
        Save(next);
        _hives = next;
    }

    public bool Remove(string alias)
    {
        lock (_gate)
        {
            if (!_hives.ContainsKey(alias)) return false;
            var next = new Dictionary<string, ManagedHive>(_hives, StringComparer.Ordinal);
            next.Remove(alias);
            Save(next);
            _hives = next;
            return true;
        }
    }

    private void Save(Dictionary<string, ManagedHive> hives)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        var temp = _path + ".tmp";
        using (var stream = File.Create(temp))
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartArray();
            foreach (var h in hives.Values.OrderBy(h => h.Alias, StringComparer.Ordinal))
            {
                json.WriteStartObject();
                json.WriteString("alias", h.Alias);
                json.WriteString("supervisor", h.Supervisor);
                json.WriteBoolean("want_running", h.WantRunning);
                if (h.HiveUrl is not null) json.WriteString("hive_url", h.HiveUrl);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        File.Move(temp, _path, overwrite: true);
    }

    private static Dictionary<string, ManagedHive> Load(string path)
    {
        var hives = new Dictionary<string, ManagedHive>(StringComparer.Ordinal);
        if (!File.Exists(path)) return hives;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                var alias = e.GetProperty("alias").GetString();
                var supervisor = e.TryGetProperty("supervisor", out var s) ? s.GetString() : Supervisors.Queen;
                var want = !e.TryGetProperty("want_running", out var w) || w.ValueKind != JsonValueKind.False;
                var url = e.TryGetProperty("hive_url", out var u) && u.ValueKind == JsonValueKind.String
                    && Uri.TryCreate(u.GetString(), UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https" ? parsed.ToString() : null;
                if (alias is { Length: > 0 }) hives[alias] = new ManagedHive(alias, supervisor ?? Supervisors.Queen, want, url);
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new Rbee.Platform.Configuration.StartupException($"{path} is not a list of managed hives ({e.Message}); fix or remove it");
        }
        return hives;
    }
}
