using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Wire;
using Rbee.Hive.Monitoring;
using Rbee.Hive.Workers;
using Rbee.Testing;

namespace Rbee.Hive.Tests.Workers;

/// <summary>
/// The hive's worker machinery (monitor + supervisor) in the test process, on a cgroup root of its own
/// (<c>rbee-test-&lt;guid&gt;.slice</c>) and free base ports, spawning the real <c>rbee-test-worker</c>. Tests that
/// need the whole hive program live in Rbee.System.Tests; these prove the OS side directly.
/// </summary>
public sealed class TestHive : IAsyncDisposable
{
    public static string TestWorkerPath { get; } =
        Path.Combine(RepoPaths.Root, "tests", "Rbee.TestWorker", "bin", RepoPaths.Configuration, "net10.0", "rbee-test-worker");

    public static string Model { get; } = RepoPaths.Model("aidreams260K.gguf");

    public WorkerOptions Options { get; }
    public WorkerCatalog Catalog { get; }
    public PortAllocator Ports { get; }
    public WorkerMonitor Monitor { get; private set; }
    public WorkerSupervisor Supervisor { get; private set; }
    public string StateDirectory { get; }
    public int BasePort { get; }

    public TestHive(string? root = null, string? runDirectory = null, int? basePort = null, string? stateDirectory = null, bool processGroups = false, TimeSpan? scanInterval = null)
    {
        StateDirectory = stateDirectory ?? Directory.CreateTempSubdirectory("rbee-hive-state-").FullName;
        BasePort = basePort ?? FreePort.Next();
        Options = new WorkerOptions
        {
            CgroupRoot = root ?? $"rbee-test-{Guid.NewGuid():N}.slice",
            RunDirectory = runDirectory ?? Path.Combine(StateDirectory, "run"),
            StateDirectory = StateDirectory,
            StopGrace = TimeSpan.FromSeconds(3),
            KillBound = TimeSpan.FromSeconds(5),
            RestartBackoff = TimeSpan.FromMilliseconds(100),
            ForceProcessGroups = processGroups,
            ScanInterval = scanInterval ?? TimeSpan.FromSeconds(1),
            LogMaxBytes = 4096,
            Types =
            {
                ["test"] = Type(BasePort, []),
                ["busy"] = Type(BasePort + 20, ["--busy"]),
                ["never"] = Type(BasePort + 40, ["--never-ready"], TimeSpan.FromSeconds(3)),
                ["healthy"] = Type(BasePort + 60, [], readiness: ReadinessRules.Health),
            },
        };
        Options.MergeDefaults();
        Assert.Null(Options.Validate());
        Catalog = new WorkerCatalog(Options);
        Ports = new PortAllocator(Options.RunDirectory);
        (Monitor, Supervisor) = Build();
    }

    private static WorkerTypeOptions Type(int basePort, string[] extra, TimeSpan? loadTimeout = null, string readiness = ReadinessRules.ReadyFile) => new()
    {
        Executable = TestWorkerPath,
        Arguments = ["--model", "{model}", "--model-id", "{model_id}", "--port", "{port}", "--host", "{host}", "--worker-id", "{worker_id}", "--ready-file", "{ready_file}", .. extra],
        BasePort = basePort,
        PortCount = 20,
        Readiness = readiness,
        LoadTimeout = loadTimeout ?? TimeSpan.FromSeconds(60),
        DeviceKinds = ["cpu"],
    };

    private (WorkerMonitor, WorkerSupervisor) Build()
    {
        var o = Microsoft.Extensions.Options.Options.Create(Options);
        var monitor = new WorkerMonitor(o, Catalog, Ports, NullLogger<WorkerMonitor>.Instance);
        return (monitor, new WorkerSupervisor(o, monitor, Ports, NullLogger<WorkerSupervisor>.Instance));
    }

    public Task StartAsync() => Monitor.StartAsync(CancellationToken.None);

    /// <summary>Like a SIGKILLed hive: watches and locks go with it, its workers keep running.</summary>
    public async Task CrashAsync()
    {
        await Monitor.StopAsync();
        Monitor.Dispose();
    }

    /// <summary>A new hive process on the same configuration (after <see cref="CrashAsync"/>).</summary>
    public async Task RestartAsync()
    {
        (Monitor, Supervisor) = Build();
        await StartAsync();
    }

    public SpawnSpec Spec(string type = "test", bool restart = false)
    {
        Assert.True(Catalog.TryGet(type, out var t), type);
        Assert.True(t.Available, t.UnavailableReason);
        return new SpawnSpec(t, Model, "cpu", restart);
    }

    public async Task<WorkerEntry> SpawnReadyAsync(string type = "test", bool restart = false)
    {
        var entry = await Supervisor.StartAsync(Spec(type, restart), CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await Supervisor.AwaitReadyAsync(entry, cts.Token);
        return entry;
    }

    /// <summary>Awaits the monitor's change events until <paramref name="condition"/> holds on its current view.</summary>
    public async Task<IReadOnlyList<ProcessStats>> WaitForViewAsync(Func<IReadOnlyList<ProcessStats>, bool> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnChanged() => changed.TrySetResult();
            Monitor.Changed += OnChanged;
            try
            {
                var view = Monitor.Current;
                if (condition(view)) return view;
                var left = timeout - sw.Elapsed;
                // The scan interval also publishes stats without a change event; wake for it too.
                var wait = left < Options.ScanInterval ? left : Options.ScanInterval;
                if (left <= TimeSpan.Zero)
                    Assert.Fail($"timed out after {timeout} waiting for {what}; view: {string.Join("; ", view.Select(w => $"{w.Group}/{w.Port} {w.State} pid {w.Pid}"))}");
                await Task.WhenAny(changed.Task, Task.Delay(wait));
            }
            finally
            {
                Monitor.Changed -= OnChanged;
            }
        }
    }

    public string CgroupOf(string type, int port) => Path.Combine(Monitor.Tree!.RootPath, type, port.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public async ValueTask DisposeAsync()
    {
        // A worker killed here must not come back from a pending on_failure restart after the tree is gone.
        Supervisor.CancelRestarts();
        try
        {
            if (Monitor.Tree is { } tree)
            {
                foreach (var pid in tree.AllPids()) Libc.Signal(pid, Libc.SIGKILL);
                await Monitor.ScanAsync(CancellationToken.None);
            }
            await Monitor.StopAsync();
        }
        finally
        {
            Monitor.Dispose();
            if (Monitor.Tree is { } tree)
            {
                // Killed processes leave their cgroup a moment later: retry the removal, deepest first, for a bounded time.
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
                while (Directory.Exists(tree.RootPath) && DateTime.UtcNow < deadline)
                {
                    foreach (var dir in Directory.GetDirectories(tree.RootPath, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length))
                        CgroupTree.TryRemove(dir);
                    if (CgroupTree.TryRemove(tree.RootPath)) break;
                    await Task.Delay(50);
                }
            }
            try { Directory.Delete(StateDirectory, recursive: true); } catch (IOException) { }
        }
    }
}
