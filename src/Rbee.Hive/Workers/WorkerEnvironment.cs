namespace Rbee.Hive.Workers;

/// <summary>
/// Variables the hive sets in a worker's environment. A restarted hive reads them back from
/// <c>/proc/&lt;pid&gt;/environ</c>, so what it knows about a worker it did not start comes from the OS, not from a file
/// of its own (DESIGN.md "Workers under the hive", Restart of the hive).
/// </summary>
public static class WorkerEnvironment
{
    public const string WorkerId = "RBEE_WORKER_ID";
    public const string Model = "RBEE_WORKER_MODEL";

    /// <summary>The catalog's id of the model. llm-worker-rbee reads it (like <see cref="WorkerId"/> and <see cref="Model"/>)
    /// when <c>--model-id</c> is not given; for an external engine it is where a restarted hive reads the id back.</summary>
    public const string ModelId = "RBEE_WORKER_MODEL_ID";
    public const string Device = "RBEE_WORKER_DEVICE";
    public const string Restart = "RBEE_WORKER_RESTART";

    /// <summary><see cref="Contracts.Wire.WorkerOrigins.Queen"/> for a worker the queen's scheduler started; absent otherwise.</summary>
    public const string StartedBy = "RBEE_WORKER_STARTED_BY";
}

/// <summary>Per-worker restart policies (DESIGN.md "Workers under the hive", Restart of a worker).</summary>
public static class RestartPolicies
{
    public const string No = "no";
    public const string OnFailure = "on_failure";
}
