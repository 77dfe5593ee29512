using Rbee.Contracts.Wire;
using Rbee.Platform.Processes;

namespace Rbee.Hive.Workers;

/// <summary>One worker type as this machine has it: its options and where its program is (or why it is missing).</summary>
public sealed record WorkerType(string Name, WorkerTypeOptions Options, string? ProgramPath, string? UnavailableReason)
{
    public bool Available => ProgramPath is not null;

    public WorkerTypeInfo ToInfo() => new(Name, Available, Options.BasePort, UnavailableReason) { DeviceKinds = Options.DeviceKinds };
}

/// <summary>
/// The worker catalog (DESIGN.md "Workers under the hive", Find the programs): each configured type with its program
/// looked up in configuration (a path), beside the hive's own executable, then on PATH. Types whose program is
/// missing stay listed, unavailable, with the reason.
/// </summary>
public sealed class WorkerCatalog
{
    private readonly Dictionary<string, WorkerType> _types;

    public WorkerCatalog(WorkerOptions options, string? besideDirectory = null, string? pathVariable = null)
    {
        besideDirectory ??= AppContext.BaseDirectory;
        pathVariable ??= Environment.GetEnvironmentVariable("PATH") ?? "";
        _types = options.Types.ToDictionary(
            kv => kv.Key,
            kv => Resolve(kv.Key, kv.Value, besideDirectory, pathVariable),
            StringComparer.Ordinal);
    }

    public IReadOnlyCollection<WorkerType> Types => _types.Values;

    public bool TryGet(string name, out WorkerType type) => _types.TryGetValue(name, out type!);

    /// <summary>For capabilities: every type, available or not, by name.</summary>
    public IReadOnlyList<WorkerTypeInfo> Describe() => _types.Values.OrderBy(t => t.Name, StringComparer.Ordinal).Select(t => t.ToInfo()).ToList();

    public static WorkerType Resolve(string name, WorkerTypeOptions options, string besideDirectory, string pathVariable)
    {
        var exe = options.Executable;
        if (exe.Contains('/', StringComparison.Ordinal))
        {
            var full = Path.GetFullPath(exe);
            return ExecutableSearch.IsExecutable(full)
                ? new WorkerType(name, options, full, null)
                : new WorkerType(name, options, null, $"{full} (configured for {name}) is not an executable file");
        }
        var beside = Path.Combine(besideDirectory, exe);
        if (ExecutableSearch.IsExecutable(beside)) return new WorkerType(name, options, beside, null);
        if (ExecutableSearch.OnPath(exe, pathVariable) is { } onPath) return new WorkerType(name, options, onPath, null);
        return new WorkerType(name, options, null,
            $"{exe} not found beside the hive ({besideDirectory}) or on PATH; install it or set Workers:Types:{name}:Executable");
    }
}
