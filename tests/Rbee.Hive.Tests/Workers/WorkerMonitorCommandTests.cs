using Rbee.Hive.Tests.Support;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Contracts.Wire;
using Rbee.Hive.Jobs;
using Rbee.Hive.Models;
using Rbee.Hive.Monitoring;
using Rbee.Hive.Workers;
using Rbee.Hosting.Jobs;

namespace Rbee.Hive.Tests.Workers;

/// <summary>Commands to the scan loop are carried out, or answered, whatever the loop is doing when they arrive.</summary>
[Collection("Workers")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class WorkerMonitorCommandTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ACommandSentDuringTheFirstScan_WaitsForTheLoop_InsteadOfBeingDropped()
    {
        // An adopted worker's health verdict arrives while StartAsync's first scan still runs; so does this scan request,
        // asked from the first snapshot's Changed (raised on the loop, inside that scan).
        await using var hive = new TestHive();
        await hive.StartAsync();
        await hive.SpawnReadyAsync();
        await hive.CrashAsync();
        Task? asked = null;
        long askedAt = 0;
        await hive.RestartAsync(m => m.Changed += () =>
        {
            if (asked is not null) return;
            askedAt = m.Snapshot.Version;
            asked = m.ScanAsync();
        });
        Assert.NotNull(asked);
        Assert.Equal(1, askedAt);
        await asked.WaitAsync(Generous);
        Assert.True(hive.Monitor.Snapshot.Version > askedAt, $"the scan asked during the first scan never ran: version {hive.Monitor.Snapshot.Version}");
    }

    [Fact]
    public async Task ASpawnCancelledWhileQueued_StartsNothing_AndKeepsNoPort()
    {
        await using var hive = new TestHive();
        await hive.StartAsync();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hive.Supervisor.StartAsync(hive.Spec(), cancelled.Token));
        await hive.Monitor.ScanAsync().WaitAsync(Generous); // queued behind the spawn: the loop has dealt with it
        Assert.Empty(hive.Monitor.Snapshot.Workers);
        Assert.Empty(hive.Monitor.Tree!.AllPids());
        using var lease = hive.Ports.TryLock(hive.BasePort);
        Assert.NotNull(lease);
    }

    [Fact]
    public async Task ASpawnCancelledAfterTheLoopStartedIt_StopsTheWorker()
    {
        await using var hive = new TestHive();
        await hive.StartAsync();
        using var cts = new CancellationTokenSource();
        // Cancelled on the loop, after it started the worker and before it replied (the spawn's publication).
        hive.Monitor.Changed += () =>
        {
            if (hive.Monitor.Snapshot.Changes.Any(c => c is WorkerJoined)) cts.Cancel();
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hive.Supervisor.StartAsync(hive.Spec(), cts.Token));
        Assert.True(await hive.Monitor.WaitForAsync(s => s.Version > 1 && s.Workers.IsEmpty, Generous), "the worker nobody waits for was not stopped");
        Assert.Empty(hive.Monitor.Tree!.AllPids());
        using var lease = hive.Ports.TryLock(hive.BasePort);
        Assert.NotNull(lease);
    }

    [Fact]
    public async Task AWorkerWhoseReadyFileCannotBeDeleted_StillLeavesTheView_ItsPortFree_AndItsWaitersGoOn()
    {
        await using var hive = new TestHive();
        await hive.StartAsync();
        var w = await hive.SpawnReadyAsync();
        // A directory where the ready file was: File.Delete throws UnauthorizedAccessException (not an IOException).
        File.Delete(w.ReadyFile);
        Directory.CreateDirectory(Path.Combine(w.ReadyFile, "in-the-way"));
        Libc.Signal(w.MainPid!.Value, Libc.SIGKILL);
        var exit = await w.Exited.WaitAsync(Generous);
        Assert.False(exit.Requested);
        Assert.DoesNotContain(hive.Monitor.Snapshot.Workers, x => x.Port == w.Port);
        using (var lease = hive.Ports.TryLock(w.Port)) Assert.NotNull(lease);
        await hive.Monitor.ScanAsync().WaitAsync(Generous); // the loop goes on
        Directory.Delete(w.ReadyFile, recursive: true);
    }

    [Fact]
    public async Task AWedgedNvidiaSmi_DoesNotHoldUpTheLoop_AStopIsCarriedOutAtOnce_AndVramStaysUnknown()
    {
        // nvidia-smi that hangs (a wedged driver) until NvidiaSmi kills it after its 3 s time-out, at every call.
        var dir = Directory.CreateTempSubdirectory("rbee-wedged-smi-").FullName;
        var script = Path.Combine(dir, "nvidia-smi");
        File.WriteAllText(script, "#!/bin/sh\nexec sleep 600\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
        await using var hive = new TestHive(nvidiaSmi: new Rbee.Hive.Devices.NvidiaSmi(script));
        await hive.StartAsync();
        var w = await hive.SpawnReadyAsync();
        var view = await hive.WaitForViewAsync(v => v.Any(x => x.Port == w.Port), Generous, "the worker sampled");
        Assert.Null(view.Single(x => x.Port == w.Port).VramMb); // unknown, never 0

        var sw = System.Diagnostics.Stopwatch.StartNew();
        await hive.Supervisor.StopAsync(w, TimeSpan.Zero, CancellationToken.None);
        sw.Stop();
        // One nvidia-smi call awaited in the loop took 3 s; a generous bound for a loaded 2-core machine below that.
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"the stop took {sw.ElapsedMilliseconds} ms behind the GPU sample");
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task TheSnapshotThatSaysStopping_AlsoSaysItInTheWorkersFigures()
    {
        await using var hive = new TestHive();
        await hive.StartAsync();
        var w = await hive.SpawnReadyAsync();
        await hive.WaitForViewAsync(v => v.Any(x => x.Port == w.Port && x.State == WorkerStates.Ready), Generous, "the worker ready in its figures");
        var stopping = new TaskCompletionSource<WorkerRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        hive.Monitor.Changed += () =>
        {
            // On the loop, right after the publication: the snapshot of the change itself, not a later scan's.
            if (hive.Monitor.Snapshot.Find(w.Key) is { State: WorkerStates.Stopping } r) stopping.TrySetResult(r);
        };
        var stop = hive.Supervisor.StopAsync(w, TimeSpan.FromSeconds(3), CancellationToken.None);
        var first = await stopping.Task.WaitAsync(Generous);
        Assert.Equal(WorkerStates.Stopping, first.Stats?.State);
        await stop.WaitAsync(Generous);
    }

    [Fact]
    public async Task AStopAfterTheLoopEnded_FailsAtOnce_SayingWhy()
    {
        await using var hive = new TestHive();
        await hive.StartAsync();
        var w = await hive.SpawnReadyAsync();
        await hive.Monitor.StopAsync();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<WorkerOperationException>(() => hive.Supervisor.StopAsync(w, null, CancellationToken.None));
        sw.Stop();
        Assert.Contains("hive is stopping", error.Message, StringComparison.Ordinal);
        // Not after StopGrace + KillBound (8 s here) with a false "still has processes".
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"the refused stop took {sw.ElapsedMilliseconds} ms");
        Libc.Signal(w.MainPid!.Value, Libc.SIGKILL);
    }

    [Fact]
    public async Task WorkerStop_OfAPortInItsRestartBackoff_CancelsTheRestart_AndFreesThePort()
    {
        await using var hive = new TestHive();
        hive.Options.RestartBackoff = TimeSpan.FromSeconds(30); // the restart stays pending for the whole test
        await hive.StartAsync();
        var metrics = new HiveMetrics(hive.Monitor);
        var w = await hive.SpawnReadyAsync(restart: true);
        Libc.Signal(w.MainPid!.Value, Libc.SIGKILL);
        await w.Exited.WaitAsync(Generous);
        using (var held = hive.Ports.TryLock(w.Port)) Assert.Null(held); // kept for the restart
        using (var scrape = new MemoryStream())
        {
            await metrics.Registry.CollectAndExportAsTextAsync(scrape);
            var text = System.Text.Encoding.UTF8.GetString(scrape.ToArray());
            Assert.Contains("rbee_hive_worker_restarts_total{type=\"test\"} 1", text, StringComparison.Ordinal);
            Assert.Contains("rbee_hive_worker_exits_total{type=\"test\",requested=\"false\"} 1", text, StringComparison.Ordinal);
        }

        using var catalog = new HiveModelCatalog(Path.Combine(hive.StateDirectory, "models"), new ModelsOptions(), TimeProvider.System, NullLogger<HiveModelCatalog>.Instance);
        var ops = HiveJobs.Operations(hive, catalog);
        using var jobs = new JobRegistry(Microsoft.Extensions.Options.Options.Create(new JobOptions()), TimeProvider.System, NullLogger<JobRegistry>.Instance);
        using var request = JsonDocument.Parse($"{{\"operation\":\"worker_stop\",\"port\":{w.Port}}}");
        var job = jobs.Start("worker_stop", ops.Plan("worker_stop", request.RootElement.Clone()).Work!)!;
        var events = new List<JobEvent>();
        using var cts = new CancellationTokenSource(Generous);
        await foreach (var e in job.ReadAllAsync(cts.Token)) events.Add(e);

        Assert.True(events[^1].Kind == JobEventKind.Done, string.Join(" | ", events.Select(e => $"{e.Kind}: {e.Text}")));
        using var data = JsonDocument.Parse(Assert.Single(events, e => e.Kind == JobEventKind.Data).Text);
        Assert.Equal(w.Port, data.RootElement.GetProperty("port").GetInt32());
        using (var free = hive.Ports.TryLock(w.Port)) Assert.NotNull(free); // the restart's hold is gone with it
        await hive.Monitor.ScanAsync().WaitAsync(Generous);
        Assert.Empty(hive.Monitor.Snapshot.Workers);
    }

    [Fact]
    public async Task Dispose_WaitsForTheLoopToEnd_BeforeItReleasesWhatTheLoopHolds_AndCanBeCalledTwice()
    {
        await using var hive = new TestHive();
        await hive.StartAsync();
        var w = await hive.SpawnReadyAsync();
        using var release = new ManualResetEventSlim();
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The loop is kept busy inside the publication of the stop (Changed runs on the loop).
        hive.Monitor.Changed += () =>
        {
            if (hive.Monitor.Snapshot.Find(w.Key) is not { State: WorkerStates.Stopping }) return;
            held.TrySetResult();
            release.Wait(Generous);
        };
        using var giveUp = new CancellationTokenSource();
        var stop = hive.Supervisor.StopAsync(w, TimeSpan.FromSeconds(30), giveUp.Token);
        await held.Task.WaitAsync(Generous);

        var disposing = Task.Run(hive.Monitor.Dispose);
        await Task.Delay(TimeSpan.FromMilliseconds(300)); // the one negative check: Dispose must still be waiting
        Assert.False(disposing.IsCompleted, "Dispose returned while the loop was still running");
        using (var lease = hive.Ports.TryLock(w.Port)) Assert.Null(lease); // the loop's port lock untouched meanwhile
        release.Set();
        await disposing.WaitAsync(Generous);
        using (var lease = hive.Ports.TryLock(w.Port)) Assert.NotNull(lease); // released once the loop had ended
        hive.Monitor.Dispose();

        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stop);
        Libc.Signal(w.MainPid!.Value, Libc.SIGKILL);
    }
}
