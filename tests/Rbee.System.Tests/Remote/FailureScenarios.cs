using Rbee.Contracts.Protocol;
using Rbee.SystemTests.Infrastructure;
using Rbee.SystemTests.Infrastructure.MultiHost;
using Rbee.Testing;
using Xunit.Abstractions;

namespace Rbee.SystemTests.Remote;

/// <summary>
/// Issue 14, "Failures survived", on the multi-host bed: two hives on two hosts, each with a real llm-worker-rbee, the
/// official OpenAI client sending requests through the queen while a failure happens. Each test counts the requests sent,
/// succeeded, failed with an error and lost (no answer and no error: never allowed), and prints them.
/// </summary>
[Trait("Category", "System")]
[Collection("System")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FailureScenarios(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = FailureBed.Budget;
    private static readonly ProtocolOptions Protocol = new();

    /// <summary>The queen's default wait for a worker's /health when its hive went offline (Scheduling:UnreachableProbeTimeout).</summary>
    private static readonly TimeSpan UnreachableProbe = TimeSpan.FromSeconds(2);

    /// <summary>Slack on a liveness timer measured from outside: one telemetry interval (the last frame may have left up to
    /// one before the cut), the liveness tick, and a loaded 2-core machine.</summary>
    private static readonly TimeSpan Slack = Protocol.TelemetryInterval + TimeSpan.FromSeconds(5);

    [SkippableFact]
    public async Task ALinkCut_TakesTheHiveOutByTheTimers_ItsRequestInFlightFailsOver_RequestsGoOnOnTheOther_AndItComesBackAlone()
    {
        await using var c = await FailureBed.StartAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        // An answer in flight; the host that generates it is the one cut off. Its worker is paused (SIGSTOP) from the moment
        // the queen counts the request on it until the link is down, so the answer is still being generated behind the cut
        // however fast this machine is (it resumes at once, writing into the dead link).
        var held = new HeldRequest(c.CompleteAsync(FailureBed.LongAnswer, bound.Token), "request in flight at the cut");
        var busy = await c.WorkerOfAsync(held.Task);
        Signals.Send(busy.Pid, Signals.SIGSTOP);
        var victim = c.Bed.Host(busy.Hive);
        var survivor = c.Bed.Hosts.Single(h => h != victim);
        var hivePid = Assert.Single(await c.Bed.PidsAsync(victim, "rbee-hive"));

        var load = ChatLoad.Start(c.Chat(), clients: 3, maxTokens: 16);
        try
        {
            await Eventually.HoldsAsync("load", $"requests succeed on {survivor.Alias}", Budget,
                () => Task.FromResult((load.SucceededOn(survivor.Alias, TimeSpan.Zero) >= 3, load.Report())), () => c.Queen.LogTail());

            var cutAt = load.Now;
            try
            {
                await c.Bed.LinkDownAsync(victim);
            }
            finally
            {
                Signals.Send(busy.Pid, Signals.SIGCONT);
            }
            await c.WaitStateAsync("link cut", victim.Alias, "degraded", Protocol.DegradedAfter + Slack);
            var degradedAfter = load.Now - cutAt;
            var offline = await c.WaitStateAsync("link cut", victim.Alias, "offline", Protocol.OfflineAfter + Slack - degradedAfter);
            var offlineAt = load.Now;
            output.WriteLine($"{victim.Alias} cut off: degraded after {degradedAfter.TotalSeconds:0.0} s, offline after {(offlineAt - cutAt).TotalSeconds:0.0} s");
            Assert.Empty(offline.Workers); // out of scheduling with its hive
            Assert.Equal(1, offline.Entries);

            // The request in flight behind the cut is ended by the queen once the hive is offline and its worker does not
            // answer (not after the 10-minute idle timeout), and, nothing of it having reached the client, fails over.
            var answer = await held.SucceededAsync(Protocol.OfflineAfter + UnreachableProbe + Slack + Slack, () => c.Queen.LogTail());
            output.WriteLine($"request in flight at the cut: {held.Outcome}, ended {(load.Now - cutAt).TotalSeconds:0.0} s after the cut");
            Assert.Equal(survivor.Alias, answer.Hive);

            // Requests keep succeeding on the other hive while this one is away.
            await Eventually.HoldsAsync("link down", $"requests sent after {victim.Alias} went offline succeed on {survivor.Alias}", Budget,
                () => Task.FromResult((load.SucceededOn(survivor.Alias, offlineAt) >= 5, load.Report())), () => c.Queen.LogTail());

            var upAt = load.Now;
            await c.Bed.LinkUpAsync(victim);
            var back = await c.WaitStateAsync("link restored", victim.Alias, "online", Budget, h => h.Workers.Count == 1);
            output.WriteLine($"{victim.Alias} online again {(load.Now - upAt).TotalSeconds:0.0} s after the link came back");
            Assert.Equal(1, back.Entries);
            Assert.Equal((busy.Port, busy.Pid), (back.Workers[0].Port, back.Workers[0].Pid)); // the same worker, never a second
            Assert.Equal([hivePid], await c.Bed.PidsAsync(victim, "rbee-hive")); // nobody started another hive meanwhile

            await Eventually.HoldsAsync("link restored", $"requests succeed on {victim.Alias} again", Budget,
                () => Task.FromResult((load.SucceededOn(victim.Alias, upAt) >= 1, load.Report())), () => c.Queen.LogTail());
        }
        finally
        {
            await load.StopAsync();
            output.WriteLine(held.Report());
            output.WriteLine("load: " + load.Report());
            output.WriteLine("queen's warnings:\n" + string.Join('\n', c.Queen.LogTail(4000).Split('\n')
                .Where(l => l.Contains(" warn: ", StringComparison.Ordinal) || l.Contains(" fail: ", StringComparison.Ordinal)).TakeLast(20)));
        }
        Assert.Equal(0, load.Lost);
    }

    [SkippableFact]
    public async Task AHiveKilledUnderLoad_ItsWorkerFinishesItsRequest_TheQueenRestartsTheHive_WhichReadoptsTheSameWorker()
    {
        await using var c = await FailureBed.StartAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        // A request in flight on a worker when its hive dies (found alone in flight; the hive killed is that worker's, and
        // the load starts at once): workers outlive their hive, so the queen must not end it (the worker still answers
        // its /health) and it completes where it is.
        var held = new HeldRequest(c.CompleteAsync(FailureBed.LongAnswer, bound.Token), "request in flight as the hive died");
        var busy = await c.WorkerOfAsync(held.Task);
        var victim = c.Bed.Host(busy.Hive);
        var survivor = c.Bed.Hosts.Single(h => h != victim);
        var before = FailureBed.Hive(await c.ClusterAsync(), victim.Alias);
        var worker = Assert.Single(before.Workers);
        var hivePid = Assert.Single(await c.Bed.PidsAsync(victim, "rbee-hive"));
        // The queen restarts a killed hive at once, so its offline spell can be shorter than a poll: awaited as an event.
        await using var stream = await c.OpenStreamAsync();
        Signals.Send(hivePid, Signals.SIGKILL);
        var load = ChatLoad.Start(c.Chat(), clients: 3, maxTokens: 16);
        var killedAt = load.Now;
        try
        {
            await stream.WaitForStateAsync("hive killed", victim.Alias, "offline", Protocol.OfflineAfter + Slack);
            output.WriteLine($"{victim.Alias} (pid {hivePid}) SIGKILLed: offline after {(load.Now - killedAt).TotalSeconds:0.0} s");
            Assert.True(Signals.IsAlive(worker.Pid), $"the worker (pid {worker.Pid}) died with its hive");

            var answer = await held.SucceededAsync(Budget);
            output.WriteLine($"request in flight as the hive died: {held.Outcome}");
            Assert.Equal(victim.Alias, answer.Hive); // served to the end by the worker that outlived its hive

            // While it is away, requests go to the other hive; the queen restarts it over SSH, and the new hive re-adopts
            // the running worker (the same pid, no second one) and is routed to again.
            var offlineAt = load.Now;
            await Eventually.HoldsAsync("hive away", $"requests sent while {victim.Alias} is away succeed on {survivor.Alias}", Budget,
                () => Task.FromResult((load.SucceededOn(survivor.Alias, offlineAt) >= 3, load.Report())), () => c.Queen.LogTail());
            var back = await c.WaitStateAsync("hive restarted", victim.Alias, "online", Budget, h => h.InstanceId != before.InstanceId);
            var backAt = load.Now;
            output.WriteLine($"{victim.Alias} restarted by the queen: online as a new instance {(backAt - killedAt).TotalSeconds:0.0} s after the kill");
            Assert.Equal(1, back.Entries);
            var hives = await c.Bed.PidsAsync(victim, "rbee-hive");
            Assert.DoesNotContain(hivePid, hives);
            Assert.Single(hives);
            Assert.True(Signals.IsAlive(worker.Pid), $"the worker (pid {worker.Pid}) died when its hive was restarted");

            // A hive that cannot write cgroups (an unprivileged user, as here) watches the process groups it starts and
            // finds them again after a restart by the group file each worker's directory holds.
            back = await c.WaitStateAsync("hive restarted", victim.Alias, "online", Budget, h => h.Workers.Count >= 1);
            Assert.Equal([(worker.Port, worker.Pid)], back.Workers.Select(w => (w.Port, w.Pid)));
            await Eventually.HoldsAsync("hive restarted", $"requests succeed on {victim.Alias} again", Budget,
                () => Task.FromResult((load.SucceededOn(victim.Alias, backAt) >= 1, load.Report())), () => c.Queen.LogTail());
        }
        finally
        {
            await load.StopAsync();
            output.WriteLine(held.Report());
            output.WriteLine("load: " + load.Report());
            output.WriteLine("queen's warnings:\n" + string.Join('\n', c.Queen.LogTail(4000).Split('\n')
                .Where(l => l.Contains(" warn: ", StringComparison.Ordinal) || l.Contains(" fail: ", StringComparison.Ordinal) || l.Contains("UnreachableWorkerSweep", StringComparison.Ordinal)).TakeLast(20)));
        }
        Assert.Equal(0, load.Lost);
    }

    [SkippableFact]
    public async Task AWorkerKilledUnderLoad_ItsRequestFailsOver_NothingIsLost_AndItLeavesNoProcessNorPortLock()
    {
        await using var c = await FailureBed.StartAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        // A request being generated when its worker is killed (found alone in flight, then the load starts at once and
        // meets the dead worker too): nothing of it reached the client, so it fails over.
        var held = new HeldRequest(c.CompleteAsync(FailureBed.LongAnswer, bound.Token), "request on the killed worker");
        var busy = await c.WorkerOfAsync(held.Task);
        Signals.Send(busy.Pid, Signals.SIGKILL);
        var load = ChatLoad.Start(c.Chat(), clients: 3, maxTokens: 16);
        var killedAt = load.Now;
        var victim = c.Bed.Host(busy.Hive);
        var survivor = c.Bed.Hosts.Single(h => h != victim);
        try
        {
            var answer = await held.SucceededAsync(Budget);
            output.WriteLine($"request on the killed worker: {held.Outcome}, {(load.Now - killedAt).TotalSeconds:0.0} s after the kill");
            Assert.Equal(survivor.Alias, answer.Hive);

            // The hive reports the worker gone, and leaves nothing of it: no process of its group, its port lock free.
            await c.WaitStateAsync("worker killed", victim.Alias, "online", Budget, h => h.Workers.All(w => w.Pid != busy.Pid));
            var group = await c.Bed.OnHostAsync(victim, ["pgrep", "-g", busy.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], check: false);
            Assert.True(group.Stdout.Trim().Length == 0, $"processes left in the killed worker's group: {group.Stdout}");
            var portLock = Path.Combine(victim.Home, ".local", "state", "rbee", "run", "ports", $"{busy.Port}.lock");
            await Eventually.HoldsAsync("worker killed", $"the port lock {portLock} is free", Budget, async () =>
            {
                var r = await c.Bed.OnHostAsync(victim, ["flock", "--nonblock", "--exclusive", portLock, "true"], check: false);
                return (r.ExitCode == 0, r.ToString());
            });

            var afterAt = load.Now;
            await Eventually.HoldsAsync("worker killed", $"requests keep succeeding on {survivor.Alias}", Budget,
                () => Task.FromResult((load.SucceededOn(survivor.Alias, afterAt) >= 3, load.Report())), () => c.Queen.LogTail());
        }
        finally
        {
            await load.StopAsync();
            output.WriteLine(held.Report());
            output.WriteLine("load: " + load.Report());
        }
        Assert.Equal(0, load.Lost);
    }

    [SkippableFact]
    public async Task TheQueenKilledUnderLoad_RequestsFailFastWhileItIsAway_WorkersKeepRunning_AndItsRestartHasTheFullViewAtOnce()
    {
        await using var c = await FailureBed.StartAsync();
        var before = await c.HivesAsync();
        var hivePids = new Dictionary<string, int[]>();
        foreach (var host in c.Bed.Hosts) hivePids[host.Alias] = await c.Bed.PidsAsync(host, "rbee-hive");
        var load = ChatLoad.Start(c.Chat(), clients: 3, maxTokens: 16);
        try
        {
            await Eventually.HoldsAsync("load", "requests succeed through the queen", Budget,
                () => Task.FromResult((load.Succeeded >= 3, load.Report())), () => c.Queen.LogTail());
            var killedAt = load.Now;
            await c.KillQueenAsync();

            // Without a queen a request fails at once (connection refused): an error, never a hang. Hives and workers are
            // not the queen's children: they keep running.
            var failedBefore = load.Failed;
            await Eventually.HoldsAsync("queen away", "requests sent while the queen is away fail with an error", Budget,
                () => Task.FromResult((load.Failed >= failedBefore + 3, load.Report())));
            foreach (var (alias, view) in before)
                foreach (var w in view.Workers)
                    Assert.True(Signals.IsAlive(w.Pid), $"{alias}'s worker (pid {w.Pid}) died with the queen");

            var restartAt = load.Now;
            await c.StartQueenAgainAsync();
            var answeredAt = load.Now;
            // The hives learn of the new queen from its SSH config probe (and their own ready sequence, restarted when their
            // stream closed); the first frame of each subscription carries every running worker, so the whole view is back
            // at once: the same hive instances (nobody restarted them) with the same workers, one entry each.
            foreach (var (alias, view) in before)
            {
                var back = await c.WaitStateAsync("queen restarted", alias, "online", Budget, h => h.Workers.Count == view.Workers.Count);
                Assert.Equal(1, back.Entries);
                Assert.Equal(view.InstanceId, back.InstanceId);
                Assert.Equal(view.Workers.Select(w => (w.Port, w.Pid)).Order(), back.Workers.Select(w => (w.Port, w.Pid)).Order());
            }
            var wholeAt = load.Now;
            output.WriteLine($"queen SIGKILLed at {killedAt.TotalSeconds:0.0} s, started again {(restartAt - killedAt).TotalSeconds:0.0} s later, " +
                $"answering after {(answeredAt - restartAt).TotalSeconds:0.00} s; every hive online with its workers {(wholeAt - answeredAt).TotalSeconds:0.00} s after it answered");
            Assert.True(wholeAt - answeredAt <= Protocol.TelemetryInterval + Slack,
                $"the full view took {(wholeAt - answeredAt).TotalSeconds:0.0} s after the restarted queen answered");
            foreach (var host in c.Bed.Hosts) Assert.Equal(hivePids[host.Alias], await c.Bed.PidsAsync(host, "rbee-hive"));

            foreach (var host in c.Bed.Hosts)
                await Eventually.HoldsAsync("queen restarted", $"requests succeed on {host.Alias} again", Budget,
                    () => Task.FromResult((load.SucceededOn(host.Alias, answeredAt) >= 1, load.Report())), () => c.Queen.LogTail());
            // Only the queen's absence failed requests: none sent once its view was whole again.
            Assert.Empty(load.NotSucceededSince(wholeAt));
        }
        finally
        {
            await load.StopAsync();
            output.WriteLine("load: " + load.Report());
        }
        Assert.Equal(0, load.Lost);

        // The restarted queen's shutdown stops every hive it manages with its workers, and verifies on each host that the
        // hive, its workers' processes and all their ports are gone, reporting each.
        var shutdown = await c.Bed.InQueenAsync(["curl", "-fsS", "--max-time", "90", "-X", "POST", "-H", $"Authorization: Bearer {c.Token}",
            c.Bed.QueenUrl + "/v1/shutdown"]);
        output.WriteLine("shutdown: " + shutdown.Stdout.Trim());
        var report = System.Text.Json.JsonDocument.Parse(shutdown.Stdout).RootElement;
        foreach (var (alias, view) in before)
        {
            var line = report.GetProperty(alias).GetString()!;
            var w = Assert.Single(view.Workers);
            Assert.Contains("exited (no rbee-hive runs there, checked over ssh)", line, StringComparison.Ordinal);
            Assert.Contains($"its 1 worker(s) gone and port(s) 7835, {w.Port} free", line, StringComparison.Ordinal);
            Assert.False(Signals.IsAlive(w.Pid), $"{alias}'s worker (pid {w.Pid}) outlived the shutdown");
            Assert.Empty(await c.Bed.PidsAsync(c.Bed.Host(alias), "rbee-hive"));
        }
        Assert.True(await c.Queen.WaitForExitAsync(Budget), "the queen did not exit after its shutdown");
    }

    [SkippableFact]
    public async Task EveryStartOrder_ConvergesToTheSameView_EvenAWorkerThenTheQueenThenItsHive()
    {
        // Order one, the bed's: queen, hives, workers.
        await using var c = await FailureBed.StartAsync();
        var first = await c.HivesAsync();
        output.WriteLine("queen, hives, workers: " + string.Join("; ", first.Select(h => $"{h.Key} {h.Value.State} [{string.Join(", ", h.Value.Workers.Select(w => $"{w.Port}/{w.Pid}"))}]")));
        var load = ChatLoad.Start(c.Chat(), clients: 2, maxTokens: 16);
        try
        {
            await Eventually.HoldsAsync("load", "requests succeed through the queen", Budget,
                () => Task.FromResult((load.Succeeded >= 3, load.Report())), () => c.Queen.LogTail());

            // Order two: the queen and one hive die; that hive's worker runs on alone. The other hive and its worker run before
            // the queen; the lone worker runs before the queen, and its hive comes last: the restarted queen, which has never
            // heard from it, starts it over SSH once liveness has given it up (at the URL the killed queen recorded), and the
            // new hive re-adopts the worker.
            var victim = c.Bed.Hosts[0];
            var survivor = c.Bed.Hosts[1];
            await c.KillQueenAsync();
            var victimPid = Assert.Single(await c.Bed.PidsAsync(victim, "rbee-hive"));
            Signals.Send(victimPid, Signals.SIGKILL);
            var worker = Assert.Single(first[victim.Alias].Workers);
            Assert.True(Signals.IsAlive(worker.Pid), $"the worker (pid {worker.Pid}) died with its hive");
            var restartAt = load.Now;
            await c.StartQueenAgainAsync();

            var survivorBack = await c.WaitStateAsync("queen restarted", survivor.Alias, "online", Budget, h => h.Workers.Count == 1);
            var survivorAt = load.Now;
            var victimBack = await c.WaitStateAsync("hive started by the restarted queen", victim.Alias, "online", Budget + Protocol.OfflineAfter,
                h => h.Workers.Count == 1);
            var victimAt = load.Now;
            output.WriteLine($"worker, hive, then queen: {survivor.Alias} back {(survivorAt - restartAt).TotalSeconds:0.0} s after the queen's start; " +
                $"worker, queen, then hive: {victim.Alias} started by the queen and back {(victimAt - restartAt).TotalSeconds:0.0} s after it");

            // The same view as the first order: every hive online once, with the same workers (the victim's hive is a new
            // instance, its worker the same process).
            var last = await c.HivesAsync();
            foreach (var (alias, view) in first)
            {
                Assert.Equal("online", last[alias].State);
                Assert.Equal(1, last[alias].Entries);
                Assert.Equal(view.Workers.Select(w => (w.Port, w.Pid, w.Url)).Order(), last[alias].Workers.Select(w => (w.Port, w.Pid, w.Url)).Order());
            }
            Assert.Equal(first[survivor.Alias].InstanceId, survivorBack.InstanceId);
            Assert.NotEqual(first[victim.Alias].InstanceId, victimBack.InstanceId);
            var hives = await c.Bed.PidsAsync(victim, "rbee-hive");
            Assert.DoesNotContain(victimPid, hives);
            Assert.Single(hives);
            var audit = await File.ReadAllLinesAsync(Path.Combine(c.Bed.OperatorHome, ".local", "state", "rbee", "queen", "audit.log"));
            Assert.Contains(audit, l => l.Contains("\"action\":\"restart\"", StringComparison.Ordinal) && l.Contains(victim.Alias, StringComparison.Ordinal));

            await Eventually.HoldsAsync("converged", $"requests succeed on {victim.Alias} again", Budget,
                () => Task.FromResult((load.SucceededOn(victim.Alias, victimAt) >= 1, load.Report())), () => c.Queen.LogTail());
            // Once the restarted queen saw the running hive, no request failed, whether its other hive was still down or back.
            Assert.Empty(load.NotSucceededSince(survivorAt));
        }
        finally
        {
            await load.StopAsync();
            output.WriteLine("load: " + load.Report());
        }
        Assert.Equal(0, load.Lost);
    }

    [SkippableFact]
    public async Task ASlowHive_WhoseStreamStallsWithTcpOpen_IsTakenOutByTheTimers_NeverDuplicated_AndComesBackAsItself()
    {
        await using var c = await FailureBed.StartAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        // A request in flight on the hive's worker when the hive stalls: the worker itself is fine, so the queen's probe of
        // it (once the hive is offline) finds it answering and the request completes where it runs.
        var held = new HeldRequest(c.CompleteAsync(FailureBed.LongAnswer, bound.Token), "request in flight as the hive stalled");
        var busy = await c.WorkerOfAsync(held.Task);
        var victim = c.Bed.Host(busy.Hive);
        var survivor = c.Bed.Hosts.Single(h => h != victim);
        var before = FailureBed.Hive(await c.ClusterAsync(), victim.Alias);
        var hivePid = Assert.Single(await c.Bed.PidsAsync(victim, "rbee-hive"));
        var load = ChatLoad.Start(c.Chat(), clients: 3, maxTokens: 16);
        var stalledAt = load.Now;
        // SIGSTOP: the hive's process is frozen; its sockets stay open, the kernel still accepts connections to its port,
        // and its stream sends nothing. The queen's supervisor must see a port that answers and start no second hive.
        Signals.Send(hivePid, Signals.SIGSTOP);
        try
        {
            await c.WaitStateAsync("hive stalled", victim.Alias, "degraded", Protocol.DegradedAfter + Slack);
            var degradedAfter = load.Now - stalledAt;
            var offline = await c.WaitStateAsync("hive stalled", victim.Alias, "offline", Protocol.OfflineAfter + Slack - degradedAfter);
            var offlineAt = load.Now;
            output.WriteLine($"{victim.Alias} stalled (SIGSTOP): degraded after {degradedAfter.TotalSeconds:0.0} s, offline after {(offlineAt - stalledAt).TotalSeconds:0.0} s");
            Assert.Empty(offline.Workers);
            Assert.Equal(1, offline.Entries);

            await held.SucceededAsync(Budget);
            output.WriteLine($"request in flight as the hive stalled: {held.Outcome}");

            await Eventually.HoldsAsync("hive stalled", $"requests sent while {victim.Alias} is offline succeed on {survivor.Alias}", Budget,
                () => Task.FromResult((load.SucceededOn(survivor.Alias, offlineAt) >= 5, load.Report())), () => c.Queen.LogTail());
            Assert.Equal([hivePid], await c.Bed.PidsAsync(victim, "rbee-hive"));
        }
        finally
        {
            Signals.Send(hivePid, Signals.SIGCONT);
        }
        var resumedAt = load.Now;
        try
        {
            var back = await c.WaitStateAsync("hive resumed", victim.Alias, "online", Budget, h => h.Workers.Count == 1);
            output.WriteLine($"{victim.Alias} online again {(load.Now - resumedAt).TotalSeconds:0.0} s after it resumed");
            Assert.Equal(1, back.Entries);
            Assert.Equal(before.InstanceId, back.InstanceId); // the same hive, never a second
            Assert.Equal(before.Workers.Select(w => (w.Port, w.Pid)), back.Workers.Select(w => (w.Port, w.Pid)));
            Assert.Equal([hivePid], await c.Bed.PidsAsync(victim, "rbee-hive"));
            await Eventually.HoldsAsync("hive resumed", $"requests succeed on {victim.Alias} again", Budget,
                () => Task.FromResult((load.SucceededOn(victim.Alias, resumedAt) >= 1, load.Report())), () => c.Queen.LogTail());
        }
        finally
        {
            await load.StopAsync();
            output.WriteLine(held.Report());
            output.WriteLine("load: " + load.Report());
        }
        Assert.Equal(0, load.Lost);
    }
}
