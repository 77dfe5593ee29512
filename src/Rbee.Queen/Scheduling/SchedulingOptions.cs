using Microsoft.Extensions.Configuration;

namespace Rbee.Queen.Scheduling;

/// <summary>
/// How the queen places and admits inference requests (section <c>Scheduling</c>; DESIGN.md "Scheduling and routing").
/// Every tunable of the request path is here, validated at start-up (STYLE.md §5).
/// </summary>
public sealed class SchedulingOptions
{
    public const string SectionName = "Scheduling";

    /// <summary>Binds the section. The configuration binder appends configured array items to an array that already has
    /// items, which would keep <c>llm</c> first whatever the user lists; so <see cref="WorkerTypes"/> is read on its own
    /// and, when configured, replaces the default.</summary>
    public static void BindFrom(IConfiguration section, SchedulingOptions options)
    {
        section.Bind(options);
        if (section.GetSection(nameof(WorkerTypes)).Get<string[]>() is { Length: > 0 } types) options.WorkerTypes = types;
    }

    /// <summary>Which ready worker takes a request: <c>least_requests</c> (fewest in flight, then most free memory) or
    /// <c>power_of_two_choices</c>.</summary>
    public string Policy { get; set; } = LoadBalancingPolicies.LeastRequests;

    /// <summary>Requests the queen sends one worker at once; more wait in the queen's queue for the model, where they see
    /// their position and can fail over. A worker that answers 429/503 (its own slots full) gets nothing more until one of
    /// its requests ends, or for a second.</summary>
    public int MaxInFlightPerWorker { get; set; } = 4;

    /// <summary>Requests that may wait per model; one more gets 429.</summary>
    public int MaxQueued { get; set; } = 64;

    /// <summary>Longest wait for a worker (queue or cold start) before 503; long enough for a model to load.</summary>
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Tries on another worker after a failure before any byte reached the client.</summary>
    public int MaxRetries { get; set; } = 2;

    /// <summary>
    /// Longest a worker may send nothing during a request: no response headers, or no next chunk, for this long counts as
    /// a failure (retried when nothing reached the client yet), so a wedged or stopped worker holds no request forever.
    /// A non-streamed answer's headers come when generation ends, so this bounds a whole non-streamed generation.
    /// </summary>
    public TimeSpan WorkerIdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A streamed request that has waited this long gets its 200 and SSE comments while it waits.</summary>
    public TimeSpan StreamHeadersAfter { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>While a streamed request waits, a progress comment at least this often (also a keep-alive).</summary>
    public TimeSpan WaitCommentInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Stop a worker the scheduler started once it has been idle this long; null (default) never does
    /// (Ollama's keep-alive). Workers a person started are never stopped.</summary>
    public TimeSpan? IdleTimeout { get; set; }

    /// <summary>Worker types that may run a GGUF model, in order of preference; the first one a hive has available is used.
    /// Configured items replace the default (see <see cref="BindFrom"/>).</summary>
    public string[] WorkerTypes { get; set; } = ["llm"];

    /// <summary>Consecutive failures that eject a worker from scheduling (Envoy's outlier detection).</summary>
    public int EjectAfterFailures { get; set; } = 3;

    /// <summary>First ejection; each repeat doubles it up to <see cref="EjectionMax"/>.</summary>
    public TimeSpan EjectionBase { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan EjectionMax { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>While a worker is ejected, its <c>/health</c> is probed this often; a success puts it back at once.</summary>
    public TimeSpan EjectionProbeInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>When a hive goes offline, each of its workers with requests in flight is probed (<c>/health</c>) for this
    /// long; the requests of one that does not answer are ended (failed over, or an error) instead of waiting out
    /// <see cref="WorkerIdleTimeout"/>. A worker that answers keeps its requests: workers outlive their hive.</summary>
    public TimeSpan UnreachableProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Bound on posting a spawn to a hive; the spawn itself lasts until the worker is ready or the hive gives up.</summary>
    public TimeSpan SpawnPostTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest a cold start may take, from the spawn's post to the worker ready in the queen's view (big models on
    /// slow disks load for minutes; the hive's own load timeout usually ends a hopeless start first).</summary>
    public TimeSpan SpawnTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Hives a cold start tries in turn when a spawn fails, before the waiting requests fail.</summary>
    public int MaxSpawnAttempts { get; set; } = 2;

    /// <summary>The first problem with these values, as one line naming the setting, or null.</summary>
    public string? Validate()
    {
        if (Policy is not (LoadBalancingPolicies.LeastRequests or LoadBalancingPolicies.PowerOfTwoChoices))
            return $"Scheduling:Policy '{Policy}' must be '{LoadBalancingPolicies.LeastRequests}' or '{LoadBalancingPolicies.PowerOfTwoChoices}'";
        if (MaxInFlightPerWorker < 1) return "Scheduling:MaxInFlightPerWorker must be at least 1";
        // At least one: a model with no worker yet must be able to queue the request that starts one.
        if (MaxQueued < 1) return "Scheduling:MaxQueued must be at least 1";
        if (MaxWait <= TimeSpan.Zero) return "Scheduling:MaxWait must be positive";
        if (MaxRetries < 0) return "Scheduling:MaxRetries must not be negative";
        if (WorkerIdleTimeout <= TimeSpan.Zero) return "Scheduling:WorkerIdleTimeout must be positive";
        if (StreamHeadersAfter < TimeSpan.Zero) return "Scheduling:StreamHeadersAfter must not be negative";
        if (WaitCommentInterval <= TimeSpan.Zero) return "Scheduling:WaitCommentInterval must be positive";
        if (IdleTimeout is { } idle && idle <= TimeSpan.Zero) return "Scheduling:IdleTimeout must be positive (leave it unset to keep workers)";
        if (WorkerTypes is not { Length: > 0 } || WorkerTypes.Any(string.IsNullOrWhiteSpace)) return "Scheduling:WorkerTypes must name at least one worker type";
        if (EjectAfterFailures < 1) return "Scheduling:EjectAfterFailures must be at least 1";
        if (EjectionBase <= TimeSpan.Zero || EjectionMax < EjectionBase) return "Scheduling:EjectionBase must be positive and not above Scheduling:EjectionMax";
        if (EjectionProbeInterval <= TimeSpan.Zero) return "Scheduling:EjectionProbeInterval must be positive";
        if (UnreachableProbeTimeout <= TimeSpan.Zero) return "Scheduling:UnreachableProbeTimeout must be positive";
        if (SpawnPostTimeout <= TimeSpan.Zero) return "Scheduling:SpawnPostTimeout must be positive";
        if (SpawnTimeout <= TimeSpan.Zero) return "Scheduling:SpawnTimeout must be positive";
        if (MaxSpawnAttempts < 1) return "Scheduling:MaxSpawnAttempts must be at least 1";
        return null;
    }
}
