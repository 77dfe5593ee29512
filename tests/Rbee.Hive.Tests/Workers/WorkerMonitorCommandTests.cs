using Rbee.Contracts.Wire;
using Rbee.Hive.Monitoring;
using Rbee.Hive.Workers;

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
}
