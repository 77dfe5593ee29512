using System.Globalization;
using Microsoft.Extensions.Configuration;
using Rbee.Contracts.Protocol;

namespace Rbee.Worker.Serving;

/// <summary>
/// Everything llm-worker-rbee is told at start-up: the hive's launch contract (DESIGN.md "Workers under the
/// hive": <c>--model --port --host --worker-id --ready-file</c>) plus the engine's tunables. Flags win over
/// environment variables <c>RBEE_WORKER_*</c> (e.g. <c>RBEE_WORKER_CTX_SIZE</c>).
/// </summary>
public sealed record WorkerOptions
{
    public const string EnvironmentPrefix = ProtocolConstants.EnvironmentPrefix + "WORKER_";

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

    /// <summary>Requests that may wait for a free slot; one more gets 503 with Retry-After.</summary>
    public int QueueSize { get; init; } = 64;

    public int MaxRequestBodyBytes { get; init; } = 4 * 1024 * 1024;

    public string? WorkerId { get; init; }
    public string? ReadyFile { get; init; }

    /// <summary>Seconds a client is told to wait when the queue is full.</summary>
    public int RetryAfterSeconds { get; init; } = 1;

    /// <summary>How long SIGTERM waits for in-flight requests (which are cancelled at once) to end.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public int EffectiveContextSize(int modelContextLength) =>
        ContextSize ?? Rbee.Models.ModelMemoryEstimate.DefaultContextSize(modelContextLength);
}

/// <summary>A flag or value that cannot be used; the program prints its message and exits with code 2.</summary>
public sealed class WorkerOptionsException(string message) : Exception(message);

/// <summary>Reads <see cref="WorkerOptions"/> from the command line and the environment and validates them.</summary>
public static class WorkerOptionsReader
{
    private static readonly string[] ValueFlags =
    [
        "model", "model-id", "port", "host", "threads", "ctx-size", "parallel", "queue-size", "max-body-bytes",
        "worker-id", "ready-file", "retry-after", "shutdown-timeout-ms",
    ];

    public static WorkerOptions Read(string[] args, IDictionary<string, string?>? environment = null)
    {
        CheckFlags(args);
        var builder = new ConfigurationBuilder();
        if (environment is null)
            builder.AddEnvironmentVariables(WorkerOptions.EnvironmentPrefix);
        else
            builder.AddInMemoryCollection(environment
                .Where(kv => kv.Key.StartsWith(WorkerOptions.EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
                .Select(kv => new KeyValuePair<string, string?>(kv.Key[WorkerOptions.EnvironmentPrefix.Length..], kv.Value)));
        builder.AddCommandLine(args);
        var config = builder.Build();

        string? Get(string flag) => config[flag] ?? config[flag.Replace('-', '_')];

        var model = Get("model");
        if (string.IsNullOrWhiteSpace(model)) throw new WorkerOptionsException("--model PATH is required");
        var modelId = Get("model-id");
        if (modelId is not null && string.IsNullOrWhiteSpace(modelId)) throw new WorkerOptionsException("--model-id must not be empty");
        var host = Get("host") ?? "127.0.0.1";
        if (string.IsNullOrWhiteSpace(host)) throw new WorkerOptionsException("--host must not be empty");
        var defaults = new WorkerOptions { ModelPath = model, ModelId = "" };

        var options = new WorkerOptions
        {
            ModelPath = model,
            ModelId = modelId ?? Rbee.Models.ModelFiles.IdOf(model),
            Host = host,
            Port = Int(Get("port"), "port", 0, 65535) ?? defaults.Port,
            Threads = Int(Get("threads"), "threads", 1, 4096),
            ContextSize = Int(Get("ctx-size"), "ctx-size", 16, 1 << 24),
            Parallel = Int(Get("parallel"), "parallel", 1, 256) ?? defaults.Parallel,
            QueueSize = Int(Get("queue-size"), "queue-size", 0, 1_000_000) ?? defaults.QueueSize,
            MaxRequestBodyBytes = Int(Get("max-body-bytes"), "max-body-bytes", 1024, int.MaxValue) ?? defaults.MaxRequestBodyBytes,
            RetryAfterSeconds = Int(Get("retry-after"), "retry-after", 1, 3600) ?? defaults.RetryAfterSeconds,
            ShutdownTimeout = Int(Get("shutdown-timeout-ms"), "shutdown-timeout-ms", 0, 600_000) is { } ms
                ? TimeSpan.FromMilliseconds(ms) : defaults.ShutdownTimeout,
            WorkerId = Get("worker-id"),
            ReadyFile = Get("ready-file"),
        };
        if (options.ReadyFile is { } rf && string.IsNullOrWhiteSpace(rf)) throw new WorkerOptionsException("--ready-file must not be empty");
        return options;
    }

    /// <summary>The configuration provider accepts any key, so unknown or value-less flags are caught here:
    /// a typo in the hive's launch template must fail loudly, not be ignored.</summary>
    private static void CheckFlags(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length == 2)
                throw new WorkerOptionsException($"unexpected argument '{a}'");
            var eq = a.IndexOf('=');
            var name = eq < 0 ? a[2..] : a[2..eq];
            if (!ValueFlags.Contains(name, StringComparer.Ordinal))
                throw new WorkerOptionsException($"unknown flag --{name}");
            if (eq < 0)
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    throw new WorkerOptionsException($"--{name} needs a value");
                i++;
            }
        }
    }

    private static int? Int(string? text, string flag, int min, int max)
    {
        if (text is null) return null;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new WorkerOptionsException($"--{flag} must be an integer, got '{text}'");
        if (v < min || v > max)
            throw new WorkerOptionsException($"--{flag} must be between {min} and {max}, got {v}");
        return v;
    }
}
