using Rbee.Contracts.Protocol;
using Rbee.Platform.Paths;
using Rbee.Platform.Security;

namespace Rbee.Hive.Workers;

/// <summary>How the hive knows a worker is ready (DESIGN.md "Workers under the hive", launch contract).</summary>
public static class ReadinessRules
{
    /// <summary>The worker writes its ready file (the built-in <c>llm-worker-rbee</c>); seen through inotify.</summary>
    public const string ReadyFile = "ready_file";

    /// <summary>External engines: the hive checks the health path with a short local backoff.</summary>
    public const string Health = "health";
}

/// <summary>One entry of the worker catalog (section <c>Workers:Types:&lt;name&gt;</c>).</summary>
public sealed class WorkerTypeOptions
{
    /// <summary>Program name or path. A bare name is looked up beside the hive's executable, then on PATH.</summary>
    public string Executable { get; set; } = "";

    /// <summary>Argument template; each item may hold {model} {model_id} {port} {host} {device} {worker_id} {ready_file}.
    /// <c>{model_id}</c> is the catalog's id of the model, the id the worker must answer to on the OpenAI API.</summary>
    public string[] Arguments { get; set; } = [];

    public int BasePort { get; set; }

    /// <summary>How many ports from <see cref="BasePort"/> up the type may use.</summary>
    public int PortCount { get; set; } = 100;

    public string HealthPath { get; set; } = "/health";

    /// <summary><c>ready_file</c> or <c>health</c>; empty takes the built-in type's rule, else <c>health</c>.</summary>
    public string Readiness { get; set; } = "";

    /// <summary>A worker not ready within this is killed and its spawn job ends with [ERROR].</summary>
    public TimeSpan LoadTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Device kinds the type can use ("cpu", "cuda"); empty takes the built-in type's, else both.</summary>
    public string[] DeviceKinds { get; set; } = [];

    /// <summary>
    /// The environment variable through which the engine takes the worker's key (DESIGN.md "Security"): never a flag,
    /// since a command line is visible to every user in <c>ps</c>. llama-server reads <c>LLAMA_API_KEY</c> and vLLM
    /// <c>VLLM_API_KEY</c> as their <c>--api-key</c>; <c>none</c> for an engine that takes no key (it then serves
    /// anyone who reaches its port). Empty takes the built-in type's, else <c>RBEE_WORKER_API_KEY</c>.
    /// </summary>
    public string ApiKeyVariable { get; set; } = "";
}

/// <summary>Workers under the hive: catalog, cgroup root, ports, logs, stop (section <c>Workers</c>).</summary>
public sealed class WorkerOptions
{
    public const string SectionName = "Workers";

    /// <summary><c>&lt;root&gt;</c> of the hive's cgroup tree; several hives on one machine each use their own.</summary>
    public string CgroupRoot { get; set; } = "rbee.slice";

    /// <summary>Machine-wide run directory; port locks live in <c>ports/</c> below it (shared by every hive here).</summary>
    public string RunDirectory { get; set; } = RbeePaths.DefaultRunDirectory;

    /// <summary>Hive state: per-worker log and ready files. Default <c>~/.local/state/rbee/hive</c>.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>The address workers bind (<c>--host</c>): the hive's own bind address, so a remote queen reaches them.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>Time between SIGTERM and <c>cgroup.kill</c>.</summary>
    public TimeSpan StopGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long after <c>cgroup.kill</c> the hive waits to see the cgroup empty before it reports a failure.</summary>
    public TimeSpan KillBound { get; set; } = TimeSpan.FromSeconds(5);


    /// <summary>
    /// Track workers by process group even where cgroup v2 is writable (the fallback of hosts without it, on demand:
    /// to try that mode, or where the cgroup tree is managed by something else).
    /// </summary>
    public bool ForceProcessGroups { get; set; }

    /// <summary>Safety-net scan of the cgroup tree; changes are seen at once through inotify.</summary>
    public TimeSpan ScanInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A worker log larger than this is rotated (copy to <c>.1</c>, then truncate).</summary>
    public long LogMaxBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Optional <c>cpu.max</c> for each worker cgroup, e.g. "200000 100000".</summary>
    public string? CpuMax { get; set; }

    /// <summary>Optional <c>memory.max</c> for each worker cgroup, e.g. "8G".</summary>
    public string? MemoryMax { get; set; }

    /// <summary>First delay of the <c>on_failure</c> restart policy; doubles per attempt.</summary>
    public TimeSpan RestartBackoff { get; set; } = TimeSpan.FromSeconds(1);

    public int RestartMaxAttempts { get; set; } = 3;

    /// <summary>
    /// Whom workers run as (<see cref="WorkerUser"/>): empty (the default) is uid/gid 65534 when the hive runs as root and
    /// the hive's own user otherwise; a user name, a uid or <c>uid:gid</c>; <c>root</c> runs them as root, only when
    /// configured so.
    /// </summary>
    public string? User { get; set; }

    /// <summary>Spawns loading at once; the rest wait in the order they came (<see cref="SpawnAdmission"/>).</summary>
    public int MaxConcurrentSpawns { get; set; } = 2;

    /// <summary>Health checks of external engines back off from this to <see cref="HealthBackoffMax"/>.</summary>
    public TimeSpan HealthBackoffMin { get; set; } = TimeSpan.FromMilliseconds(20);

    public TimeSpan HealthBackoffMax { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The catalog. Defaults: llm, llamacpp, vllm, comfy; configuration may change or add types.</summary>
    public Dictionary<string, WorkerTypeOptions> Types { get; set; } = new(StringComparer.Ordinal);

    public string ResolvedStateDirectory => StateDirectory ?? RbeePaths.HiveStateDirectory("hive");

    /// <summary><see cref="WorkerTypeOptions.ApiKeyVariable"/> of an engine that takes no key.</summary>
    public const string NoApiKey = "none";

    /// <summary>The built-in catalog (DESIGN.md "The parts"), merged under what configuration sets.</summary>
    public static Dictionary<string, WorkerTypeOptions> DefaultTypes() => new(StringComparer.Ordinal)
    {
        ["llm"] = new()
        {
            Executable = "llm-worker-rbee",
            Arguments = ["--model", "{model}", "--model-id", "{model_id}", "--port", "{port}", "--host", "{host}", "--worker-id", "{worker_id}", "--ready-file", "{ready_file}"],
            BasePort = ProtocolConstants.LlmWorkerBasePort,
            Readiness = ReadinessRules.ReadyFile,
            DeviceKinds = ["cpu"],
            LoadTimeout = TimeSpan.FromMinutes(2),
            ApiKeyVariable = WorkerApiKey.EnvironmentVariable,
        },
        ["llamacpp"] = new()
        {
            Executable = "llama-server",
            Arguments = ["-m", "{model}", "--alias", "{model_id}", "--port", "{port}", "--host", "{host}"],
            BasePort = ProtocolConstants.LlamaCppBasePort,
            ApiKeyVariable = "LLAMA_API_KEY",
        },
        ["vllm"] = new()
        {
            Executable = "vllm",
            Arguments = ["serve", "{model}", "--served-model-name", "{model_id}", "--port", "{port}", "--host", "{host}"],
            BasePort = ProtocolConstants.VllmBasePort,
            DeviceKinds = ["cuda"],
            ApiKeyVariable = "VLLM_API_KEY",
        },
        ["comfy"] = new()
        {
            Executable = "comfyui",
            Arguments = ["--listen", "{host}", "--port", "{port}"],
            BasePort = ProtocolConstants.ComfyBasePort,
            HealthPath = "/system_stats",
            ApiKeyVariable = NoApiKey,
        },
    };

    /// <summary>
    /// Completes the catalog: every built-in type that configuration does not name is added, and a configured type
    /// takes the built-in values for what it leaves empty (so <c>Workers:Types:llm:Executable=/opt/llm-worker-rbee</c>
    /// alone is enough). Arrays are not merged item by item, they are replaced whole.
    /// </summary>
    public void MergeDefaults()
    {
        foreach (var (name, d) in DefaultTypes())
        {
            if (!Types.TryGetValue(name, out var t)) { Types[name] = d; continue; }
            if (string.IsNullOrWhiteSpace(t.Executable)) t.Executable = d.Executable;
            if (t.Arguments.Length == 0) t.Arguments = d.Arguments;
            if (t.BasePort == 0) t.BasePort = d.BasePort;
            if (string.IsNullOrEmpty(t.Readiness)) t.Readiness = d.Readiness;
            if (t.DeviceKinds.Length == 0) t.DeviceKinds = d.DeviceKinds;
            if (string.IsNullOrEmpty(t.ApiKeyVariable)) t.ApiKeyVariable = d.ApiKeyVariable;
        }
        foreach (var t in Types.Values)
        {
            if (string.IsNullOrEmpty(t.Readiness)) t.Readiness = ReadinessRules.Health;
            if (t.DeviceKinds.Length == 0) t.DeviceKinds = ["cpu", "cuda"];
            if (string.IsNullOrEmpty(t.ApiKeyVariable)) t.ApiKeyVariable = WorkerApiKey.EnvironmentVariable;
        }
    }

    /// <summary>The first problem with these values, or null.</summary>
    public string? Validate()
    {
        if (!Monitoring.WorkerCgroupName.IsTypeName(CgroupRoot.Replace(".", "", StringComparison.Ordinal)))
            return $"Workers:CgroupRoot '{CgroupRoot}' must be one directory name (letters, digits, '.', '-', '_')";
        if (string.IsNullOrWhiteSpace(RunDirectory)) return "Workers:RunDirectory must be set";
        if (string.IsNullOrWhiteSpace(Host)) return "Workers:Host must be set";
        if (StopGrace < TimeSpan.Zero || KillBound <= TimeSpan.Zero) return "Workers:StopGrace must not be negative and Workers:KillBound must be positive";
        if (ScanInterval <= TimeSpan.Zero) return "Workers:ScanInterval must be positive";
        WorkerUser.Resolve(User, out var userError);
        if (userError is not null) return userError;
        if (MaxConcurrentSpawns < 1) return "Workers:MaxConcurrentSpawns must be at least 1";
        if (LogMaxBytes < 4096) return "Workers:LogMaxBytes must be at least 4096";
        if (RestartBackoff <= TimeSpan.Zero || RestartMaxAttempts < 0) return "Workers:RestartBackoff must be positive and RestartMaxAttempts not negative";
        if (HealthBackoffMin <= TimeSpan.Zero || HealthBackoffMax < HealthBackoffMin) return "Workers:HealthBackoffMin must be positive and not above HealthBackoffMax";
        foreach (var (name, t) in Types)
        {
            if (!Monitoring.WorkerCgroupName.IsTypeName(name)) return $"Workers:Types:{name}: a type name must be lower-case letters, digits, '-' or '_'";
            if (string.IsNullOrWhiteSpace(t.Executable)) return $"Workers:Types:{name}:Executable must be set";
            if (t.BasePort is < 1 or > 65535 || t.PortCount < 1 || t.BasePort + t.PortCount - 1 > 65535) return $"Workers:Types:{name}: BasePort/PortCount out of range";
            if (t.Readiness is not (ReadinessRules.ReadyFile or ReadinessRules.Health)) return $"Workers:Types:{name}:Readiness must be '{ReadinessRules.ReadyFile}' or '{ReadinessRules.Health}'";
            if (t.LoadTimeout <= TimeSpan.Zero) return $"Workers:Types:{name}:LoadTimeout must be positive";
            if (ArgumentTemplate.UnknownPlaceholder(t.Arguments) is { } bad) return $"Workers:Types:{name}:Arguments: unknown placeholder {bad}";
        }
        return null;
    }
}
