using Microsoft.Extensions.Configuration;
using Rbee.Contracts.Protocol;
using Rbee.Platform.Configuration;

namespace Rbee.Worker.Serving;

/// <summary>
/// Everything llm-worker-rbee is told at start-up: the hive's launch contract (DESIGN.md "Workers under the
/// hive": <c>--model --port --host --worker-id --ready-file</c>) plus the engine's tunables, section <c>Worker</c>
/// of the worker's configuration (<see cref="WorkerConfiguration"/>).
/// </summary>
public sealed record WorkerOptions
{
    public const string SectionName = "Worker";

    /// <summary>Context the worker uses when the model's own is larger and <c>--ctx-size</c> is not given:
    /// every slot holds a KV cache this long, so a 128K-context model must not reserve 128K per slot by default.
    /// The rule lives with the memory estimate (<see cref="Rbee.Models.ModelMemoryEstimate"/>), so what the hive and
    /// queen estimate for a worker is what the worker allocates.</summary>
    public const int DefaultContextCap = Rbee.Models.ModelMemoryEstimate.DefaultContextCap;

    public required string ModelPath { get; init; }
    public required string ModelId { get; init; }
    public int Port { get; init; } = ProtocolConstants.LlmWorkerBasePort;
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Compute threads; null lets the engine choose (all cores).</summary>
    public int? Threads { get; init; }

    /// <summary>Context length per slot; null means the model's own, capped at <see cref="DefaultContextCap"/>.</summary>
    public int? ContextSize { get; init; }

    public int Parallel { get; init; } = 1;

    /// <summary>Rounds of the warm-up run before the ready file (<see cref="LoadedWorker.WarmUp"/>); 0 skips it, for a
    /// faster start and a cold first request.</summary>
    public int WarmUpRounds { get; init; } = 2;

    /// <summary>
    /// How long the inference loop, woken from idle, admits further requests before its first step, so that a burst
    /// shares its first prefill pass (<see cref="InferenceLoop.BatchWindow"/>). Only with more than one slot; zero
    /// turns it off. A lone request's first token comes this much later.
    /// </summary>
    public TimeSpan BatchWindow { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Requests that may wait for a free slot; one more gets 503 with Retry-After.</summary>
    public int QueueSize { get; init; } = 64;

    public int MaxRequestBodyBytes { get; init; } = 4 * 1024 * 1024;

    public string? WorkerId { get; init; }
    public string? ReadyFile { get; init; }

    /// <summary>Seconds a client is told to wait when the queue is full.</summary>
    public int RetryAfterSeconds { get; init; } = 1;

    /// <summary>How long SIGTERM waits for in-flight requests (which are cancelled at once) to end.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Concurrent connections and idle time-outs, as the daemons' section <c>Limits</c> (issue 12 §2), here
    /// under the worker's own section: <c>--max-connections</c>, <c>--keep-alive-timeout-ms</c>,
    /// <c>--request-headers-timeout-ms</c>.</summary>
    public ConnectionLimits Connections { get; init; } = new();

    public int EffectiveContextSize(int modelContextLength) =>
        ContextSize ?? Rbee.Models.ModelMemoryEstimate.DefaultContextSize(modelContextLength);
}

/// <summary>
/// The worker's configuration, layered like the daemons' (<see cref="DaemonConfiguration"/>, later wins): defaults, the
/// JSON file (<c>--config PATH</c>, else <c>~/.config/rbee/worker.json</c> when present), environment variables
/// <c>RBEE_Worker__Key</c> (<c>RBEE_Worker__ContextSize=4096</c>), the named variables below, then flags
/// (<c>--ctx-size 4096</c>, or any key as <c>--Worker:ContextSize 4096</c>). The worker reads its own section and its
/// named variables only, so whatever else its parent's environment holds (a hive's <c>RBEE_Hive__*</c>) means nothing
/// to it. Problems are one line naming the flag, exit code 2.
/// </summary>
public static class WorkerConfiguration
{
    /// <summary>The flags of the launch contract and the engine's tunables, each a key of section <c>Worker</c>.</summary>
    public static readonly IReadOnlyDictionary<string, string> Flags = new Dictionary<string, string>
    {
        ["--model"] = Key(nameof(WorkerOptions.ModelPath)),
        ["--model-id"] = Key(nameof(WorkerOptions.ModelId)),
        ["--port"] = Key(nameof(WorkerOptions.Port)),
        ["--host"] = Key(nameof(WorkerOptions.Host)),
        ["--threads"] = Key(nameof(WorkerOptions.Threads)),
        ["--ctx-size"] = Key(nameof(WorkerOptions.ContextSize)),
        ["--parallel"] = Key(nameof(WorkerOptions.Parallel)),
        ["--warm-up-rounds"] = Key(nameof(WorkerOptions.WarmUpRounds)),
        ["--batch-window-ms"] = Key(BatchWindowMs),
        ["--queue-size"] = Key(nameof(WorkerOptions.QueueSize)),
        ["--max-body-bytes"] = Key(nameof(WorkerOptions.MaxRequestBodyBytes)),
        ["--worker-id"] = Key(nameof(WorkerOptions.WorkerId)),
        ["--ready-file"] = Key(nameof(WorkerOptions.ReadyFile)),
        ["--retry-after"] = Key(nameof(WorkerOptions.RetryAfterSeconds)),
        ["--shutdown-timeout-ms"] = Key(ShutdownTimeoutMs),
        ["--max-connections"] = Key(nameof(ConnectionLimits.MaxConnections)),
        ["--keep-alive-timeout-ms"] = Key(KeepAliveTimeoutMs),
        ["--request-headers-timeout-ms"] = Key(RequestHeadersTimeoutMs),
    };

    /// <summary>
    /// Named variables: the launch contract's (<c>RBEE_WORKER_ID</c>, <c>RBEE_WORKER_MODEL</c>, <c>RBEE_WORKER_MODEL_ID</c>,
    /// which the hive sets for every worker type and reads back from <c>/proc/&lt;pid&gt;/environ</c>), and each flag as
    /// <c>RBEE_WORKER_&lt;FLAG&gt;</c> (<c>RBEE_WORKER_CTX_SIZE</c>), the worker's own spelling before it shared the
    /// daemons' configuration. The contract's other variables (<c>RBEE_WORKER_DEVICE</c>, <c>_RESTART</c>,
    /// <c>_STARTED_BY</c>) are the hive's notes to itself: the worker leaves them alone.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> EnvironmentVariables = BuildEnvironmentVariables();

    public static readonly DaemonSpec Spec = new("worker", "llm-worker-rbee", Flags, EnvironmentVariables, ServerFlags: false);

    private const string ShutdownTimeoutMs = "ShutdownTimeoutMs";
    private const string BatchWindowMs = "BatchWindowMs";
    private const string KeepAliveTimeoutMs = "KeepAliveTimeoutMs";
    private const string RequestHeadersTimeoutMs = "RequestHeadersTimeoutMs";

    /// <summary>
    /// The worker's options from its flags and the process environment (or <paramref name="environment"/>, standing for
    /// it); a <see cref="StartupException"/> names the first problem.
    /// </summary>
    public static WorkerOptions Read(string[] args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var builder = new ConfigurationBuilder();
        if (environment is null) DaemonConfiguration.Apply(builder, Spec, args);
        else DaemonConfiguration.Apply(builder, Spec, args, environment);
        return Bind(builder.Build());
    }

    /// <summary>Section <c>Worker</c> of <paramref name="configuration"/>, validated.</summary>
    public static WorkerOptions Bind(IConfiguration configuration)
    {
        var s = new SettingReader(configuration, WorkerOptions.SectionName, Flags);
        var model = s.Required(nameof(WorkerOptions.ModelPath), "PATH");
        var defaults = new WorkerOptions { ModelPath = model, ModelId = "" };
        return new WorkerOptions
        {
            ModelPath = model,
            ModelId = s.String(nameof(WorkerOptions.ModelId)) ?? Rbee.Models.ModelFiles.IdOf(model),
            Host = s.String(nameof(WorkerOptions.Host)) ?? defaults.Host,
            Port = s.Int(nameof(WorkerOptions.Port), 0, 65535) ?? defaults.Port,
            Threads = s.Int(nameof(WorkerOptions.Threads), 1, 4096),
            ContextSize = s.Int(nameof(WorkerOptions.ContextSize), 16, 1 << 24),
            Parallel = s.Int(nameof(WorkerOptions.Parallel), 1, 256) ?? defaults.Parallel,
            WarmUpRounds = s.Int(nameof(WorkerOptions.WarmUpRounds), 0, 100) ?? defaults.WarmUpRounds,
            BatchWindow = s.Int(BatchWindowMs, 0, 1000) is { } bw ? TimeSpan.FromMilliseconds(bw) : defaults.BatchWindow,
            QueueSize = s.Int(nameof(WorkerOptions.QueueSize), 0, 1_000_000) ?? defaults.QueueSize,
            MaxRequestBodyBytes = s.Int(nameof(WorkerOptions.MaxRequestBodyBytes), 1024, int.MaxValue) ?? defaults.MaxRequestBodyBytes,
            RetryAfterSeconds = s.Int(nameof(WorkerOptions.RetryAfterSeconds), 1, 3600) ?? defaults.RetryAfterSeconds,
            ShutdownTimeout = s.Int(ShutdownTimeoutMs, 0, 600_000) is { } ms ? TimeSpan.FromMilliseconds(ms) : defaults.ShutdownTimeout,
            WorkerId = s.String(nameof(WorkerOptions.WorkerId), allowBlank: true),
            ReadyFile = s.String(nameof(WorkerOptions.ReadyFile)),
            Connections = new ConnectionLimits
            {
                MaxConnections = s.Int(nameof(ConnectionLimits.MaxConnections), 1, int.MaxValue),
                KeepAliveTimeout = s.Int(KeepAliveTimeoutMs, 1, 3_600_000) is { } ka ? TimeSpan.FromMilliseconds(ka) : defaults.Connections.KeepAliveTimeout,
                RequestHeadersTimeout = s.Int(RequestHeadersTimeoutMs, 1, 3_600_000) is { } rh ? TimeSpan.FromMilliseconds(rh) : defaults.Connections.RequestHeadersTimeout,
            },
        };
    }

    private static string Key(string name) => ConfigurationPath.Combine(WorkerOptions.SectionName, name);

    private static Dictionary<string, string> BuildEnvironmentVariables()
    {
        const string prefix = ProtocolConstants.EnvironmentPrefix + "WORKER_";
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (flag, key) in Flags)
            variables[prefix + flag[2..].Replace('-', '_').ToUpperInvariant()] = key;
        // The launch contract (the hive's WorkerEnvironment); RBEE_WORKER_MODEL and _MODEL_ID are also flag spellings.
        variables[prefix + "ID"] = Key(nameof(WorkerOptions.WorkerId));
        return variables;
    }
}
