using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Rbee.Hosting.Jobs;
using Rbee.Platform.Sse;

namespace Rbee.Hosting.Tests.Jobs;

public sealed class JobRegistryTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly JobRegistry _registry;

    public JobRegistryTests()
    {
        _registry = new JobRegistry(Options.Create(new JobOptions { RetainFinishedFor = TimeSpan.FromMinutes(5) }), _time, NullLogger<JobRegistry>.Instance);
    }

    public void Dispose() => _registry.Dispose();

    private static async Task<List<JobEvent>> ReadAll(Job job)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var list = new List<JobEvent>();
        await foreach (var e in job.ReadAllAsync(cts.Token)) list.Add(e);
        return list;
    }

    [Fact]
    public async Task LateSubscriber_GetsEveryEventFromTheFirst_AndExactlyOneTerminal()
    {
        var job = _registry.Start("test", (j, _) =>
        {
            j.Narrate("one");
            j.Data("{\"x\":1}");
            j.Narrate("two\nthree");
            return Task.CompletedTask;
        })!;
        var early = await ReadAll(job);
        var late = await ReadAll(job);

        string[] expected = ["Narration:one", "Data:{\"x\":1}", "Narration:two", "Narration:three", "Done:"];
        Assert.Equal(expected, early.Select(e => $"{e.Kind}:{e.Text}"));
        Assert.Equal(expected, late.Select(e => $"{e.Kind}:{e.Text}"));
        Assert.Single(late, e => e.IsTerminal);
    }

    [Fact]
    public async Task SubscriberWaitingBeforeEvents_SeesThemAsTheyCome()
    {
        var gate = new TaskCompletionSource();
        var job = _registry.Start("test", async (j, _) =>
        {
            await gate.Task;
            j.Narrate("after gate");
        })!;
        var reading = ReadAll(job);
        Assert.False(reading.IsCompleted);
        gate.SetResult();
        var events = await reading;
        Assert.Equal(["after gate", ""], events.Select(e => e.Text));
        Assert.Equal(JobEventKind.Done, events[^1].Kind);
    }

    [Fact]
    public async Task FailingWork_EndsWithOneErrorLineCarryingTheReason()
    {
        var job = _registry.Start("test", (_, _) => throw new JobFailedException("model file missing:\n/x.gguf"))!;
        var events = await ReadAll(job);
        var terminal = Assert.Single(events);
        Assert.Equal(JobEventKind.Error, terminal.Kind);
        Assert.Equal("model file missing: /x.gguf", terminal.Text);
    }

    [Fact]
    public async Task Cancel_EndsWithCancelled_AndLaterNarrationIsDropped()
    {
        var started = new TaskCompletionSource();
        var job = _registry.Start("test", async (j, ct) =>
        {
            j.Narrate("waiting");
            started.SetResult();
            try { await Task.Delay(Timeout.Infinite, ct); }
            finally { j.Narrate("cleanup done"); }
        })!;
        await started.Task;
        Assert.True(_registry.Cancel(job.Id));
        var events = await ReadAll(job);
        Assert.Equal(JobEventKind.Cancelled, events[^1].Kind);
        Assert.Single(events, e => e.IsTerminal);
    }

    [Fact]
    public void UnknownId_IsNotFound()
    {
        Assert.False(_registry.TryGet("nope", out _));
        Assert.False(_registry.Cancel("nope"));
    }

    [Fact]
    public async Task FinishedJobs_ExpireAfterTheRetention()
    {
        var job = _registry.Start("test", (_, _) => Task.CompletedTask)!;
        await ReadAll(job);
        _time.Advance(TimeSpan.FromMinutes(4));
        _registry.Start("other", (_, _) => Task.CompletedTask);
        Assert.True(_registry.TryGet(job.Id, out _));
        _time.Advance(TimeSpan.FromMinutes(2));
        _registry.Start("other", (_, _) => Task.CompletedTask);
        Assert.False(_registry.TryGet(job.Id, out _));
    }

    [Fact]
    public async Task FinishedJobs_AreSweptByTheTimer_WithNoNewJobToTriggerIt()
    {
        var job = _registry.Start("test", (_, _) => Task.CompletedTask)!;
        await ReadAll(job);
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.True(_registry.TryGet(job.Id, out _)); // kept for exactly the retention
        _time.Advance(TimeSpan.FromMinutes(1)); // the next sweep (every minute) finds it past the retention
        Assert.False(_registry.TryGet(job.Id, out _));
        Assert.Equal(0, _registry.Count);
    }

    [Fact]
    public async Task JobStream_SendsTheWireContractsBytes()
    {
        // The events go through the mapping and the writer the stream endpoint uses, onto a stream whose bytes are checked.
        var wire = new MemoryStream();
        var sse = new SseWriter(wire);
        foreach (var e in new[]
                 {
                     new JobEvent(JobEventKind.Narration, "hello"), new JobEvent(JobEventKind.Data, "{\"a\":1}"),
                     new JobEvent(JobEventKind.Done, ""), new JobEvent(JobEventKind.Error, "bad"), new JobEvent(JobEventKind.Cancelled, ""),
                 })
        {
            var (name, data) = JobEndpoints.ToSse(e);
            await sse.WriteDataAsync(data, CancellationToken.None, name);
        }
        Assert.Equal("data: hello\n\nevent: data\ndata: {\"a\":1}\n\ndata: [DONE]\n\ndata: [ERROR] bad\n\ndata: [CANCELLED]\n\n",
            System.Text.Encoding.UTF8.GetString(wire.ToArray()));
    }
}
