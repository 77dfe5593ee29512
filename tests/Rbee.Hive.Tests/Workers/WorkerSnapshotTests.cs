using Rbee.Contracts.Wire;
using Rbee.Hive.Monitoring;
using Rbee.Hive.Workers;

namespace Rbee.Hive.Tests.Workers;

public sealed class WorkerSnapshotTests
{
    private static WorkerRecord Worker(int port, long generation, int? pid = null, int[]? pids = null, bool sampled = true) => new()
    {
        Name = new WorkerCgroupName("llm", port),
        Generation = generation,
        WorkerDirectory = $"/state/workers/rbee.slice/llm/{port}",
        ReadyDirectory = $"/run/rbee/workers/rbee.slice/llm/{port}",
        State = WorkerStates.Ready,
        MainPid = pid,
        Pids = [.. pids ?? []],
        Stats = sampled ? new ProcessStats { Pid = pid ?? 0, Group = "llm", Instance = $"{port}", Port = port, State = WorkerStates.Ready } : null,
        Exited = new TaskCompletionSource<WorkerExit>().Task,
    };

    [Fact]
    public void FindsByPortAndByAnyPidOfTheCgroup_AndTellsGenerationsApart()
    {
        var a = Worker(8080, 1, pid: 100, pids: [100, 101]);
        var b = Worker(8081, 2, pid: 200, pids: [200]);
        var s = new WorkerSnapshot(3, [a, b], []);
        Assert.Same(b, s.FindByPort(8081));
        Assert.Same(a, s.FindByPid(101));
        Assert.Null(s.FindByPid(300));
        Assert.True(s.Holds(a));
        Assert.False(s.Holds(a with { Generation = 9 })); // a later worker on the same port is another worker
        Assert.Equal("/state/workers/rbee.slice/llm/8080/worker.log", a.LogPath);
    }

    [Fact]
    public void Stats_HoldOnlySampledWorkers_InOrder()
    {
        var s = new WorkerSnapshot(1, [Worker(8080, 1, pid: 1), Worker(8081, 2, sampled: false), Worker(8082, 3, pid: 3)], []);
        Assert.Equal([8080, 8082], s.Stats.Select(w => w.Port));
        Assert.Empty(WorkerSnapshot.Empty.Stats);
    }
}
