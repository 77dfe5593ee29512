namespace Rbee.Contracts.Wire;

/// <summary><c>GET /v1/models</c> of the queen: OpenAI's list shape, with rbee's placement details per model.</summary>
public sealed record OpenAiModelList(IReadOnlyList<OpenAiModel> Data)
{
    public string Object { get; init; } = "list";
}

/// <summary>One model in OpenAI's shape (<c>id</c>, <c>object</c>, <c>created</c>, <c>owned_by</c>) plus <c>rbee</c>.</summary>
public sealed record OpenAiModel(string Id, long Created, RbeeModelDetails Rbee)
{
    public string Object { get; init; } = "model";
    public string OwnedBy { get; init; } = "rbee";
}

/// <summary>Where a model runs and where it could be started, with what its file says.</summary>
public sealed record RbeeModelDetails(
    IReadOnlyList<ModelLoaded> Loaded,
    IReadOnlyList<ModelAvailable> AvailableOn,
    long? SizeBytes,
    string? Quantization,
    int? ContextLength,
    string? Architecture,
    long? ParameterCount);

/// <summary>A worker serving the model: its hive, address and state.</summary>
public sealed record ModelLoaded(string HiveId, string WorkerUrl, string State, string? Device, int Port, int InFlight);

/// <summary>A hive that has the model's file and a worker type that can run it.</summary>
public sealed record ModelAvailable(string HiveId, string Path, long SizeBytes)
{
    /// <summary>Where the hive found the file (<see cref="ModelSources"/>).</summary>
    public string? Source { get; init; }
}

/// <summary>
/// SSE <c>event: request</c> on the queen's aggregate stream: one phase of one inference request's timeline
/// (DESIGN.md "Scheduling and routing"). <see cref="ElapsedMs"/> counts from <c>received</c>; <see cref="DurationMs"/>
/// is the time since the previous phase.
/// </summary>
public sealed record RequestEvent(string RequestId, string? Model, string Phase, DateTimeOffset Timestamp, double ElapsedMs)
{
    public double? DurationMs { get; init; }

    /// <summary>The path asked for, e.g. <c>/v1/chat/completions</c>, or <c>infer</c> for the queen's job.</summary>
    public string? Endpoint { get; init; }

    public bool? Stream { get; init; }

    /// <summary>Place in the model's wait queue (1 = next), for <c>queued</c>.</summary>
    public int? Position { get; init; }

    public string? HiveId { get; init; }

    /// <summary>The device a cold start uses (<c>spawn_started</c>).</summary>
    public string? Device { get; init; }

    public string? WorkerUrl { get; init; }

    /// <summary>HTTP status the client got (<c>done</c>, <c>failed</c>).</summary>
    public int? Status { get; init; }

    /// <summary>Why it failed or was retried.</summary>
    public string? Error { get; init; }

    /// <summary>Which try this is (1 = the first) for <c>placed</c> and <c>retried</c>.</summary>
    public int? Attempt { get; init; }
}

/// <summary>The phases of <see cref="RequestEvent"/>, in the order a request passes them.</summary>
public static class RequestPhases
{
    public const string Received = "received";
    public const string Queued = "queued";
    public const string SpawnStarted = "spawn_started";

    /// <summary>
    /// The hive started the cold start's worker process (its <c>worker_spawn</c> job's <c>spawned</c> event): from here
    /// to <see cref="WorkerReady"/> the worker loads its model, so a timeline tells starting a process from loading.
    /// </summary>
    public const string WorkerSpawned = "worker_spawned";
    public const string WorkerReady = "worker_ready";
    public const string Placed = "placed";
    public const string Retried = "retried";
    public const string FirstByte = "first_byte";
    public const string Done = "done";
    public const string Failed = "failed";
}

/// <summary>
/// SSE <c>event: worker_health</c> on the queen's aggregate stream: passive health (outlier detection) took a worker out
/// of scheduling after repeated failures, or put it back.
/// </summary>
public sealed record WorkerHealthChanged(
    string HiveId,
    int Port,
    string Url,
    bool Ejected,
    DateTimeOffset? EjectedUntil,
    int ConsecutiveFailures,
    string Reason,
    DateTimeOffset Timestamp);
