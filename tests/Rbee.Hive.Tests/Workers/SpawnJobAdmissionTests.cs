using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Hive.Models;
using Rbee.Hive.Tests.Support;
using Rbee.Hive.Workers;
using Rbee.Hosting.Jobs;

namespace Rbee.Hive.Tests.Workers;

/// <summary><c>worker_spawn</c> jobs pass <see cref="SpawnAdmission"/>: beyond the limit a spawn waits, says so, then runs.</summary>
[Collection("Workers")]
public sealed class SpawnJobAdmissionTests
{
    [Fact]
    public async Task TwoSpawnsWithOneSlot_TheSecondWaitsForTheFirstToBeReady_ThenBothRun()
    {
        await using var hive = new TestHive();
        hive.Options.MaxConcurrentSpawns = 1;
        await hive.StartAsync();
        using var catalog = new HiveModelCatalog(Path.Combine(hive.StateDirectory, "models"), new ModelsOptions(), TimeProvider.System, NullLogger<HiveModelCatalog>.Instance);
        var admission = new SpawnAdmission(hive.Options, () => File.ReadAllText("/proc/meminfo"), _ => Task.FromResult<IReadOnlyList<Rbee.Hive.Devices.NvidiaGpu>?>(null));
        var ops = HiveJobs.Operations(hive, catalog, admission: admission);
        using var jobs = new JobRegistry(Microsoft.Extensions.Options.Options.Create(new JobOptions()), TimeProvider.System, NullLogger<JobRegistry>.Instance);

        Job Spawn()
        {
            using var request = JsonDocument.Parse(JsonSerializer.Serialize(new { operation = "worker_spawn", model = TestHive.Model, worker_type = "test", device = "cpu" }));
            return jobs.Start("worker_spawn", ops.Plan("worker_spawn", request.RootElement.Clone()).Work!)!;
        }

        var first = Spawn();
        var second = Spawn();
        var events = await Task.WhenAll(EventsAsync(first), EventsAsync(second));

        foreach (var e in events) Assert.True(e[^1].Kind == JobEventKind.Done, string.Join(" | ", e.Select(x => x.Text)));
        var waited = events.Where(e => e.Any(x => x.Text.StartsWith("waiting for a spawn slot: 1 spawn(s) ahead", StringComparison.Ordinal))).ToList();
        var lines = Assert.Single(waited);
        // It waited before its process was started: the slot came only once the other worker was ready.
        var waitedAt = lines.FindIndex(x => x.Text.StartsWith("waiting for a spawn slot", StringComparison.Ordinal));
        var startedAt = lines.FindIndex(x => x.Text.StartsWith("port ", StringComparison.Ordinal));
        Assert.InRange(waitedAt, 0, startedAt - 1);
        Assert.Equal(0, admission.Running);
        Assert.Equal(2, hive.Monitor.Snapshot.Workers.Count());
    }

    private static async Task<List<JobEvent>> EventsAsync(Job job)
    {
        var list = new List<JobEvent>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var e in job.ReadAllAsync(cts.Token)) list.Add(e);
        return list;
    }
}
