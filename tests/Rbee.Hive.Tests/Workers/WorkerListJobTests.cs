using Rbee.Hive.Tests.Support;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Hive.Jobs;
using Rbee.Hive.Models;
using Rbee.Hosting.Jobs;

namespace Rbee.Hive.Tests.Workers;

/// <summary><c>worker_list</c> keeps the hive-internal details that left the telemetry frame: every pid and the log file.</summary>
[Collection("Workers")]
public sealed class WorkerListJobTests
{
    [Fact]
    public async Task WorkerList_ReportsEachWorkersPidsAndLogPath_WhichTheTelemetryFrameNoLongerCarries()
    {
        await using var hive = new TestHive();
        await hive.StartAsync();
        var w = await hive.SpawnReadyAsync();
        await hive.WaitForViewAsync(v => v.Any(s => s.Port == w.Port), TimeSpan.FromSeconds(30), "the worker sampled");

        using var catalog = new HiveModelCatalog(Path.Combine(hive.StateDirectory, "models"), new ModelsOptions(), TimeProvider.System, NullLogger<HiveModelCatalog>.Instance);
        var ops = HiveJobs.Operations(hive, catalog);
        using var jobs = new JobRegistry(Microsoft.Extensions.Options.Options.Create(new JobOptions()), TimeProvider.System, NullLogger<JobRegistry>.Instance);
        using var request = JsonDocument.Parse("{\"operation\":\"worker_list\"}");
        var job = jobs.Start("worker_list", ops.Plan("worker_list", request.RootElement.Clone()).Work!)!;
        var events = new List<JobEvent>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var e in job.ReadAllAsync(cts.Token)) events.Add(e);

        Assert.Equal(JobEventKind.Done, events[^1].Kind);
        using var data = JsonDocument.Parse(Assert.Single(events, e => e.Kind == JobEventKind.Data).Text);
        var root = data.RootElement;
        Assert.Equal(w.Port, root.GetProperty("port").GetInt32());
        Assert.Equal(w.MainPid, root.GetProperty("pid").GetInt32());
        Assert.Contains(w.MainPid!.Value, root.GetProperty("pids").EnumerateArray().Select(p => p.GetInt32()));
        Assert.Equal(w.LogPath, root.GetProperty("log_path").GetString());
        Assert.Contains(events, e => e.Kind == JobEventKind.Narration && e.Text.Contains(w.LogPath, StringComparison.Ordinal));
    }
}
