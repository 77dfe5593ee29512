using System.Text.Json.Serialization;

namespace Rbee.Keeper.Output;

/// <summary>
/// What <c>--json</c> prints, one record per command (docs/cli.md lists the fields; they are a contract for scripts:
/// fields are added, never renamed or removed). Source-generated, snake_case, indented, nulls written.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    WriteIndented = true)]
[JsonSerializable(typeof(LsOutput))]
[JsonSerializable(typeof(PsOutput))]
[JsonSerializable(typeof(StopOutput))]
[JsonSerializable(typeof(PullOutput))]
[JsonSerializable(typeof(RmOutput))]
[JsonSerializable(typeof(RunOutput))]
[JsonSerializable(typeof(SpawnedWorker))]
[JsonSerializable(typeof(HiveStatusOutput))]
[JsonSerializable(typeof(ConfigOutput))]
public sealed partial class KeeperJsonContext : JsonSerializerContext
{
    /// <summary>A daemon's JSON answer kept as it is inside a <c>--json</c> record, or null.</summary>
    public static System.Text.Json.JsonElement? Element(string? json) =>
        json is null ? null : System.Text.Json.JsonDocument.Parse(json).RootElement.Clone();

    /// <summary>One object per line (<c>rbee logs --json</c>: JSON lines, read as they come).</summary>
    public static KeeperJsonLinesContext Compact => KeeperJsonLinesContext.Default;
}

/// <summary>The records printed one per line: compact, snake_case, nulls written.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(LogLine))]
public sealed partial class KeeperJsonLinesContext : JsonSerializerContext;

/// <summary><c>rbee logs --json</c> and <c>rbee hive logs --json</c>: one per line of the log; <c>port</c> is null for a hive's own.</summary>
public sealed record LogLine(string HiveId, int? Port, string Line);

/// <summary>
/// <c>rbee hive status --json</c>: the queen's view of the hive (<c>GET /v1/hives/{id}</c>; null with <c>--hive-url</c>)
/// and the hive's own check (the <c>hive_check</c> job's data: monitoring mode, worker types, workers running).
/// </summary>
public sealed record HiveStatusOutput(string HiveId, System.Text.Json.JsonElement? Hive, System.Text.Json.JsonElement? Check);

/// <summary>
/// <c>rbee config show --json</c>: what this rbee uses, each with its source, then the daemons' own reports
/// (<c>GET /v1/config</c>; null when not reachable, with the reason in <c>unreachable</c>).
/// </summary>
public sealed record ConfigOutput(IReadOnlyList<Rbee.Contracts.Wire.ConfigEntry> Cli, System.Text.Json.JsonElement? Queen, System.Text.Json.JsonElement? Hive,
    IReadOnlyList<string> Unreachable);

/// <summary><c>rbee ls --json</c>.</summary>
public sealed record LsOutput(IReadOnlyList<ModelRow> Models);

/// <summary>One model on one hive.</summary>
public sealed record ModelRow(
    string Id,
    string HiveId,
    string? HiveState,
    long SizeBytes,
    string? Quantization,
    int? ContextLength,
    string? Architecture,
    long? ParameterCount,
    string Source,
    string? Origin,
    string Path,
    string? Sha256);

/// <summary><c>rbee ps --json</c>.</summary>
public sealed record PsOutput(IReadOnlyList<WorkerRow> Workers);

/// <summary>One worker: where it runs, what it serves, how busy it is and when the idle timeout stops it.</summary>
public sealed record WorkerRow(
    string HiveId,
    string HiveState,
    string? Model,
    string? ModelPath,
    string? Url,
    int Port,
    int Pid,
    string State,
    string? Device,
    int? InFlight,
    double? CpuPct,
    long? RssMb,
    long? VramMb,
    double? UptimeS,
    string? StartedBy,
    DateTimeOffset? LastUsedAt,
    DateTimeOffset? IdleStopAt);

/// <summary><c>rbee stop --json</c>.</summary>
public sealed record StopOutput(IReadOnlyList<StoppedWorker> Stopped);

public sealed record StoppedWorker(string HiveId, int Port, string? Model, string? Url);

/// <summary><c>rbee pull --json</c>: the file each hive now has.</summary>
public sealed record PullOutput(string Source, IReadOnlyList<PulledModel> Downloaded);

public sealed record PulledModel(string Model, string HiveId, string Path, string Sha256, long Size);

/// <summary><c>rbee rm --json</c>.</summary>
public sealed record RmOutput(IReadOnlyList<DeletedModel> Deleted);

public sealed record DeletedModel(string Model, string HiveId, string Path);

/// <summary><c>rbee run MODEL PROMPT --json</c>: the whole answer once it is complete.</summary>
public sealed record RunOutput(string Model, string Content, string? FinishReason, string? HiveId, string? WorkerUrl);

/// <summary><c>rbee worker spawn --json</c>: the worker once it is ready.</summary>
public sealed record SpawnedWorker(string HiveId, string? Model, string WorkerType, int Port, int? Pid, string? WorkerId, string? Device, string? LogPath);
