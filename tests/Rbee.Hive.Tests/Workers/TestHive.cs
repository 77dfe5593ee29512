using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Contracts.Wire;
using Rbee.Hive.Monitoring;
using Rbee.Hive.Workers;
using Rbee.Testing;

namespace Rbee.Hive.Tests.Workers;

/// <summary>
/// The hive's worker machinery (monitor + supervisor) in the test process, on a cgroup root of its own
/// (<c>rbee-test-&lt;guid&gt;.slice</c>) and free base ports, spawning the real <c>rbee-test-worker</c> of the shared
/// <see cref="TestWorkerCatalog"/>. Tests that need the whole hive program live in Rbee.System.Tests; these prove the
/// OS side directly.
/// </summary>
public sealed class TestHive : IAsyncDisposable
{
    public static string Model => TestWorkerCatalog.Model;

    public WorkerOptions Options { get; }
    public WorkerCatalog Catalog { get; }
    public PortAllocator Ports { get; }
    public WorkerMonitor Monitor { get; private set; }
    public WorkerSupervisor Supervisor { get; private set; }
    public string StateDirectory { get; }
    public int BasePort { get; }

    public TestHive(string? root = null, string? runDirectory = null, int? basePort = null, string? stateDirectory = null, bool processGroups = false, TimeSpan? scanInterval = null, Rbee.Hive.Devices.NvidiaSmi? nvidiaSmi = null)
    {
        StateDirectory = stateDirectory ?? Directory.CreateTempSubdirectory("rbee-hive-state-").FullName;
        BasePort = basePort ?? FreePort.Next();
        string[] cpu = ["cpu"];
        var catalog = TestWorkerCatalog.Settings(
        [
            new TestWorkerType("test", BasePort, [], TimeSpan.FromSeconds(60), DeviceKinds: cpu),
            new TestWorkerType("busy", BasePort + 20, ["--busy"], TimeSpan.FromSeconds(60), DeviceKinds: cpu),
            new TestWorkerType("never", BasePort + 40, ["--never-ready"], TimeSpan.FromSeconds(3), DeviceKinds: cpu),
            new TestWorkerType("healthy", BasePort + 60, [], TimeSpan.FromSeconds(60), Readiness: ReadinessRules.Health, DeviceKinds: cpu),
            new TestWorkerType("crash", BasePort + 80, ["--exit-at-once", "3"], TimeSpan.FromSeconds(60), DeviceKinds: cpu),
        ]);
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
            User = TestWorkerUser.Value,
        };
        new ConfigurationBuilder().AddInMemoryCollection(catalog.Select(kv => KeyValuePair.Create(kv.Key, (string?)kv.Value))).Build()
            .GetSection(WorkerOptions.SectionName).Bind(Options);
        Options.MergeDefaults();
        Assert.Null(Options.Validate());
        Catalog = new WorkerCatalog(Options);
        Ports = new PortAllocator(Options.RunDirectory);
        _nvidiaSmi = nvidiaSmi;
        (Monitor, Supervisor) = Build();
    }

    private readonly Rbee.Hive.Devices.NvidiaSmi? _nvidiaSmi;

    private (WorkerMonitor, WorkerSupervisor) Build()
    {
        var o = Microsoft.Extensions.Options.Options.Create(Options);
        var monitor = new WorkerMonitor(o, Catalog, Ports, TimeProvider.System, NullLogger<WorkerMonitor>.Instance, _nvidiaSmi);
        return (monitor, new WorkerSupervisor(o, monitor, TimeProvider.System, NullLogger<WorkerSupervisor>.Instance));
    }

    public Task StartAsync() => Monitor.StartAsync(CancellationToken.None);

    /// <summary>Like a SIGKILLed hive: watches and locks go with it, its workers keep running.</summary>
    public async Task CrashAsync()
    {
        await Monitor.StopAsync();
        Monitor.Dispose();
    }

    /// <summary>A new hive process on the same configuration (after <see cref="CrashAsync"/>).</summary>
    public async Task RestartAsync(Action<WorkerMonitor>? beforeStart = null)
    {
        (Monitor, Supervisor) = Build();
        beforeStart?.Invoke(Monitor);
        await StartAsync();
    }

    public SpawnSpec Spec(string type = "test", bool restart = false)
    {
        Assert.True(Catalog.TryGet(type, out var t), type);
        Assert.True(t.Available, t.UnavailableReason);
        return new SpawnSpec(t, Model, "cpu", restart);
    }

    public async Task<WorkerRecord> SpawnReadyAsync(string type = "test", bool restart = false)
    {
        var entry = await Supervisor.StartAsync(Spec(type, restart), CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return await Supervisor.AwaitReadyAsync(entry, cts.Token);
    }

    /// <summary>Awaits the monitor's snapshots until <paramref name="condition"/> holds on the workers' figures.</summary>
    public async Task<IReadOnlyList<ProcessStats>> WaitForViewAsync(Func<IReadOnlyList<ProcessStats>, bool> condition, TimeSpan timeout, string what)
    {
        if (!await Monitor.WaitForAsync(s => condition(s.Stats), timeout))
            Assert.Fail($"timed out after {timeout} waiting for {what}; view: {string.Join("; ", Monitor.Current.Select(w => $"{w.Group}/{w.Port} {w.State} pid {w.Pid}"))}");
        return Monitor.Current;
    }

    public string CgroupOf(string type, int port) => Path.Combine(Monitor.Tree!.RootPath, type, port.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public async ValueTask DisposeAsync()
    {
        try
        {
            // A worker killed here must not come back from a pending on_failure restart after the tree is gone.
            await Supervisor.CancelRestartsAsync();
            await Monitor.StopAsync();
        }
        finally
        {
            Monitor.Dispose();
            if (Monitor.Tree is { } tree) await TestCgroups.RemoveTreeAsync(tree.RootPath);
            try { Directory.Delete(StateDirectory, recursive: true); } catch (IOException) { }
        }
    }
}
