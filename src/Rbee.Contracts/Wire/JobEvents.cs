using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Rbee.Contracts.Json;

namespace Rbee.Contracts.Wire;

/// <summary>
/// A structured job event: the JSON of one <c>event: data</c> line of a job stream (DESIGN.md "Wire contract", jobs),
/// named by its <c>event</c> field, which comes first. Producers write it with <see cref="JobEvents.ToJson"/>, consumers
/// read it back with <see cref="JobEvents.TryRead"/>, so both sides share one definition of every event. A data line
/// with no <c>event</c> field is not one of these: it is a result row of its operation (a <see cref="ProcessStats"/> for
/// <c>worker_list</c>, and for a spawn once the worker is in the queen's view).
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = JobEvents.NameProperty)]
[JsonDerivedType(typeof(WorkerSpawned), JobEventNames.Spawned)]
[JsonDerivedType(typeof(WorkerReady), JobEventNames.Ready)]
[JsonDerivedType(typeof(WorkerStopped), JobEventNames.Stopped)]
[JsonDerivedType(typeof(HiveChecked), JobEventNames.HiveCheck)]
[JsonDerivedType(typeof(InferToken), JobEventNames.Token)]
[JsonDerivedType(typeof(InferDone), JobEventNames.Done)]
[JsonDerivedType(typeof(ModelProgress), JobEventNames.Progress)]
[JsonDerivedType(typeof(ModelDownloaded), JobEventNames.Downloaded)]
[JsonDerivedType(typeof(ModelDeleted), JobEventNames.Deleted)]
public abstract record JobDataEvent;

/// <summary>The <c>event</c> names of <see cref="JobDataEvent"/>.</summary>
public static class JobEventNames
{
    /// <summary><c>worker_spawn</c> on a hive: the worker's process is started (not yet ready).</summary>
    public const string Spawned = "spawned";

    /// <summary><c>worker_spawn</c> on a hive: the worker has loaded its model and answers.</summary>
    public const string Ready = "ready";

    /// <summary><c>worker_stop</c> on a hive: the worker is gone, its cgroup removed and its port free.</summary>
    public const string Stopped = "stopped";

    /// <summary><c>hive_check</c>: how the hive watches its workers and which worker types it has.</summary>
    public const string HiveCheck = "hive_check";

    /// <summary><c>infer</c> at the queen: one piece of the answer's text.</summary>
    public const string Token = "token";

    /// <summary><c>infer</c> at the queen: the answer is complete.</summary>
    public const string Done = "done";

    /// <summary><c>model_download</c>: bytes on disk so far, at least once a second and once at the end.</summary>
    public const string Progress = "progress";

    /// <summary><c>model_download</c>: the file is verified, in place and listed.</summary>
    public const string Downloaded = "downloaded";

    /// <summary><c>model_delete</c>: the file is gone and no longer listed.</summary>
    public const string Deleted = "deleted";
}

/// <summary>
/// The worker a hive job acted on, as the hive knows it. The cgroup and log path are details a person looking at one
/// worker wants (they stay out of the telemetry frames); <c>pid</c> is null when the process is not known.
/// </summary>
public abstract record WorkerJobEvent : JobDataEvent
{
    public string WorkerType { get; init; } = "";
    public int Port { get; init; }
    public int? Pid { get; init; }
    public string? WorkerId { get; init; }
    public string? Model { get; init; }
    public string? ModelId { get; init; }

    /// <summary><see cref="WorkerOrigins.Queen"/> for a worker the queen's scheduler spawned, else null.</summary>
    public string? StartedBy { get; init; }

    public string? Device { get; init; }
    public string? Cgroup { get; init; }
    public string? LogPath { get; init; }
}

/// <summary><c>{"event":"spawned",…}</c>: see <see cref="JobEventNames.Spawned"/>.</summary>
public sealed record WorkerSpawned : WorkerJobEvent;

/// <summary><c>{"event":"ready",…}</c>: see <see cref="JobEventNames.Ready"/>.</summary>
public sealed record WorkerReady : WorkerJobEvent;

/// <summary><c>{"event":"stopped",…}</c>: see <see cref="JobEventNames.Stopped"/>.</summary>
public sealed record WorkerStopped : WorkerJobEvent;

/// <summary>
/// <c>{"event":"hive_check",…}</c>: the hive's monitoring mode (<see cref="MonitoringInfo"/>: <c>cgroup_root</c> for
/// cgroup v2, <c>reason</c> for process groups), its inotify watches, how many workers run, and its worker types.
/// </summary>
public sealed record HiveChecked(
    string MonitoringMode,
    string? CgroupRoot,
    string? Reason,
    int InotifyWatches,
    int Workers,
    IReadOnlyList<WorkerTypeInfo> WorkerTypes) : JobDataEvent;

/// <summary><c>{"event":"token","text":…}</c>: the next piece of an <c>infer</c> job's answer.</summary>
public sealed record InferToken(string Text) : JobDataEvent;

/// <summary>
/// <c>{"event":"done",…}</c>: the end of an <c>infer</c> job's answer, with the worker that gave it, why it stopped
/// (OpenAI's <c>finish_reason</c>) and the worker's token counts (absent when the worker sent none).
/// </summary>
public sealed record InferDone(string HiveId, string WorkerUrl, string? FinishReason) : JobDataEvent
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public TokenUsage? Usage { get; init; }
}

/// <summary>OpenAI's <c>usage</c>; any further field an engine sends is kept as it is. A count the engine did not send
/// is null, never 0 (DESIGN.md "Wire contract").</summary>
public sealed record TokenUsage
{
    public int? PromptTokens { get; init; }
    public int? CompletionTokens { get; init; }
    public int? TotalTokens { get; init; }

    // Settable, not init: the source generator binds init-only properties like constructor parameters, which
    // extension data cannot be.
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? More { get; set; }
}

/// <summary>
/// <c>{"event":"progress","model":…,"hive_id":…,"bytes":…,"total":…,"bytes_per_s":…,"eta_s":…}</c>: a download's bytes
/// on disk (resumed bytes included), of <see cref="Total"/> when the source said how many; the rate over the last
/// seconds and the time left at that rate, null until measured or when the total is unknown.
/// </summary>
public sealed record ModelProgress(string Model, string HiveId, long Bytes, long? Total, double? BytesPerS, double? EtaS) : JobDataEvent;

/// <summary><c>{"event":"downloaded",…}</c>: the model <see cref="Model"/> is at <see cref="Path"/> on hive
/// <see cref="HiveId"/>, <see cref="Size"/> bytes with this sha256, and listed in its catalog.</summary>
public sealed record ModelDownloaded(string Model, string HiveId, string Path, string Sha256, long Size) : JobDataEvent;

/// <summary><c>{"event":"deleted",…}</c>: the model's file was removed from hive <see cref="HiveId"/>.</summary>
public sealed record ModelDeleted(string Model, string HiveId, string Path) : JobDataEvent;

/// <summary>Writing and reading <see cref="JobDataEvent"/>s.</summary>
public static class JobEvents
{
    /// <summary>The field that names a structured job event.</summary>
    public const string NameProperty = "event";

    private static readonly byte[] NameUtf8 = Encoding.UTF8.GetBytes(NameProperty);

    /// <summary>The event as one line of JSON, its <c>event</c> name first.</summary>
    public static string ToJson(JobDataEvent e) => JsonSerializer.Serialize(e, RbeeJsonContext.Default.JobDataEvent);

    /// <summary>
    /// Reads the data of an <c>event: data</c> line as the event its <c>event</c> field names. False for a data line
    /// that names no event or one this build does not know (a result row, or a newer peer's event); malformed JSON or
    /// a known event with fields of the wrong type throw <see cref="JsonException"/>.
    /// </summary>
    public static bool TryRead(string json, [NotNullWhen(true)] out JobDataEvent? e)
    {
        e = null;
        var utf8 = Encoding.UTF8.GetBytes(json);
        if (NameOf(utf8) is not { } name || !IsKnown(name)) return false;
        e = JsonSerializer.Deserialize(utf8, RbeeJsonContext.Default.JobDataEvent);
        return e is not null;
    }

    private static bool IsKnown(string name) => name is JobEventNames.Spawned or JobEventNames.Ready or JobEventNames.Stopped
        or JobEventNames.HiveCheck or JobEventNames.Token or JobEventNames.Done
        or JobEventNames.Progress or JobEventNames.Downloaded or JobEventNames.Deleted;

    /// <summary>The string value of the object's top-level <c>event</c> field, else null.</summary>
    private static string? NameOf(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isName = reader.ValueTextEquals(NameUtf8);
            reader.Read();
            if (isName) return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            reader.Skip();
        }
        return null;
    }
}
