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
        // Spawns are confined to the model directories: the test worker's model file is put in this hive's.
        var models = Directory.CreateDirectory(Path.Combine(hive.StateDirectory, "models")).FullName;
        File.Copy(TestHive.Model, Path.Combine(models, "admission-test.gguf"));
        using var catalog = new HiveModelCatalog(models, new ModelsOptions(), TimeProvider.System, NullLogger<HiveModelCatalog>.Instance);
        var admission = new SpawnAdmission(hive.Options, () => File.ReadAllText("/proc/meminfo"), _ => Task.FromResult<IReadOnlyList<Rbee.Hive.Devices.NvidiaGpu>?>(null));
        var ops = HiveJobs.Operations(hive, catalog, admission: admission);
        using var jobs = new JobRegistry(Microsoft.Extensions.Options.Options.Create(new JobOptions()), TimeProvider.System, NullLogger<JobRegistry>.Instance);

        Job Spawn()
        {
            using var request = JsonDocument.Parse(JsonSerializer.Serialize(new { operation = "worker_spawn", model = "admission-test.gguf", worker_type = "test", device = "cpu" }));
            var plan = ops.Plan("worker_spawn", request.RootElement.Clone());
            Assert.True(plan.Work is not null, plan.Error);
            return jobs.Start("worker_spawn", plan.Work!)!;
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
