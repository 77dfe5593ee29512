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
public sealed partial class KeeperJsonContext : JsonSerializerContext;

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
