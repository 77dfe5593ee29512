using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Rbee.Hive.Monitoring;
using Rbee.Hive.Workers;

namespace Rbee.Hive.Tests.Monitoring;

/// <summary>The scan loop runs on the monitor's <see cref="TimeProvider"/>: the safety-net scan is the clock's, not the wall's.</summary>
public sealed class WorkerMonitorClockTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _clock = new();
    private readonly string _state = Directory.CreateTempSubdirectory("rbee-monitor-clock-").FullName;
    private readonly WorkerMonitor _monitor;
    private readonly WorkerSupervisor _supervisor;

    public WorkerMonitorClockTests()
    {
        var options = new WorkerOptions
        {
            ForceProcessGroups = true, // no cgroup tree: nothing of the machine is touched
            RunDirectory = Path.Combine(_state, "run"),
            StateDirectory = _state,
            ScanInterval = TimeSpan.FromSeconds(1),
        };
        options.MergeDefaults();
        var o = Microsoft.Extensions.Options.Options.Create(options);
        _monitor = new WorkerMonitor(o, new WorkerCatalog(options), new PortAllocator(options.RunDirectory), _clock, NullLogger<WorkerMonitor>.Instance);
        _supervisor = new WorkerSupervisor(o, _monitor, _clock, NullLogger<WorkerSupervisor>.Instance);
    }

    // xunit 2 calls IAsyncLifetime.DisposeAsync, not IAsyncDisposable's: as IAsyncDisposable this never ran.
    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _monitor.StopAsync();
        _monitor.Dispose();
        Directory.Delete(_state, recursive: true);
    }

    [Fact]
    public async Task TheFirstSnapshot_IsPublishedAtStart_AndEachIntervalOfTheClockScansOnceMore()
    {
        await _monitor.StartAsync(CancellationToken.None);
        Assert.Equal(1, _monitor.Snapshot.Version);

        using var cts = new CancellationTokenSource(Bound);
        for (var expected = 2; expected <= 4; expected++)
        {
            var version = expected;
            _clock.Advance(TimeSpan.FromSeconds(1));
            Assert.True(await _monitor.WaitForAsync(s => s.Version >= version, Timeout.InfiniteTimeSpan, cts.Token), $"no scan {version}");
        }
        Assert.Empty(_monitor.Snapshot.Workers);
        Assert.Empty(_monitor.Snapshot.Changes); // scans that changed nothing say so
    }

    [Fact]
    public async Task WaitFor_TimesOutOnTheMonitorsClock()
    {
        await _monitor.StartAsync(CancellationToken.None);
        var never = _monitor.WaitForAsync(s => s.Workers.Length > 0, TimeSpan.FromSeconds(30));
        _clock.Advance(TimeSpan.FromSeconds(29));
        Assert.False(never.IsCompleted);
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(await never.WaitAsync(Bound));
    }

    [Fact]
    public async Task AfterStop_ScansAndRestartsAnswerAtOnce_AndASpawnIsRefused()
    {
        await _monitor.StartAsync(CancellationToken.None);
        await _monitor.StopAsync();
        await _monitor.ScanAsync().WaitAsync(Bound);
        await _supervisor.CancelRestartsAsync().WaitAsync(Bound);
        Assert.True(new WorkerCatalog(new WorkerOptions { Types = WorkerOptions.DefaultTypes() }).TryGet("llm", out var llm));
        await Assert.ThrowsAsync<WorkerOperationException>(() => _supervisor.StartAsync(new SpawnSpec(llm, "/m.gguf", "cpu", false), CancellationToken.None));
    }
}
