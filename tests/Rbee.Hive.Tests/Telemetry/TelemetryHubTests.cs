using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Hive.Devices;
using Rbee.Hive.Identity;
using Rbee.Hive.Models;
using Rbee.Hive.Telemetry;
using Rbee.Hive.Tests.Support;
using Rbee.Hive.Workers;

namespace Rbee.Hive.Tests.Telemetry;

/// <summary>DESIGN.md "Discovery and telemetry" 3: first frame at once, then every interval, plus a frame at once on a worker change.</summary>
public sealed class TelemetryHubTests : IAsyncLifetime
{
    private readonly TimerWatch _clock = new();
    private readonly FakeWorkers _workers = new();
    private readonly FakeModels _models = new();
    private readonly HiveIdentity _identity = new("hive-a", "http://127.0.0.1:7835");
    private readonly TelemetryHub _hub;
    private readonly CancellationTokenSource _stop = new();
    private ulong _cpuTicks = 1000;

    /// <summary>Stands in for the workers capability's view (test double of one seam).</summary>
    private sealed class FakeWorkers : IWorkerView
    {
        public IReadOnlyList<ProcessStats> Current { get; set; } = [];
        public event Action? Changed;
        public void Change(IReadOnlyList<ProcessStats> workers)
        {
            Current = workers;
            Changed?.Invoke();
        }
    }

    /// <summary>Stands in for the model catalog's version (test double of one seam).</summary>
    private sealed class FakeModels : IModelCatalogView
    {
        public long Version { get; private set; }
        public event Action? Changed;
        public void Grow()
        {
            Version++;
            Changed?.Invoke();
        }
    }

    public TelemetryHubTests()
    {
        var services = new ServiceCollection().AddSingleton<IWorkerView>(_workers).AddSingleton<IModelCatalogView>(_models).BuildServiceProvider();
        // /proc/stat advances 100 ticks per read, 25 of them busy: 25 %.
        var sampler = new NodeStatsSampler(new NvidiaSmi(programPath: null),
            () => { _cpuTicks += 100; return $"cpu  {_cpuTicks / 4} 0 0 {_cpuTicks * 3 / 4} 0 0 0 0 0 0\n"; },
            () => "MemTotal: 1000 kB\nMemAvailable: 250 kB\n");
        _hub = new TelemetryHub(_identity, sampler, new ProtocolOptions(), _clock,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<TelemetryHub>.Instance, services);
    }

    // xunit 2 calls IAsyncLifetime.DisposeAsync, not IAsyncDisposable's: as IAsyncDisposable this never ran.
    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _hub.StopAsync(CancellationToken.None);
        _hub.Dispose();
    }

    private static async Task<TelemetryFrame> NextFrame(ChannelReader<ReadOnlyMemory<byte>> frames, string phase)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            var bytes = await frames.ReadAsync(limit.Token);
            return JsonSerializer.Deserialize(bytes.Span, RbeeJsonContext.Default.TelemetryFrame)!;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{phase}: no telemetry frame came");
        }
    }

    [Fact]
    public async Task FirstFrameAtOnce_ThenOnePerInterval_SeqFromZero()
    {
        await _hub.StartAsync(_stop.Token);
        var frames = _hub.Subscribe();
        var first = await NextFrame(frames, "first frame on connect");
        Assert.Equal(0, first.Seq);
        Assert.Equal(TimeSpan.Zero, _clock.Elapsed);
        Assert.Equal("hive-a", first.HiveId);
        Assert.Equal(_identity.InstanceId, first.InstanceId);
        Assert.Equal(25.0, first.Node.CpuPct);
        Assert.Equal(750L * 1024, first.Node.RamUsedBytes);
        Assert.Equal(1000L * 1024, first.Node.RamTotalBytes);
        Assert.Empty(first.Node.Gpus);
        Assert.Empty(first.Workers);

        for (var i = 1; i <= 3; i++)
        {
            await _clock.WaitForTimerAsync(TimeSpan.FromSeconds(i), $"tick {i}");
            _clock.AdvanceTo(TimeSpan.FromSeconds(i));
            var frame = await NextFrame(frames, $"frame of tick {i}");
            Assert.Equal(i, frame.Seq);
            Assert.Equal(TimerWatch.Origin + TimeSpan.FromSeconds(i), frame.Timestamp);
        }
        Assert.Equal(0, frames.Count);
    }

    [Fact]
    public async Task WorkerChange_SendsAFrameAtOnce_WithTheNewWorkers()
    {
        await _hub.StartAsync(_stop.Token);
        var frames = _hub.Subscribe();
        await NextFrame(frames, "first frame");
        await _clock.WaitForTimerAsync(TimeSpan.FromSeconds(1), "armed for the next tick");

        var worker = new ProcessStats { Pid = 4242, Group = "llm", Instance = "8080", Port = 8080, State = WorkerStates.Starting, Model = "m.gguf", Device = "cpu", UptimeS = 0.1 };
        _workers.Change([worker]);
        var frame = await NextFrame(frames, "frame after the worker change");
        Assert.Equal(1, frame.Seq);
        Assert.Equal(TimeSpan.Zero, _clock.Elapsed);
        Assert.Equal(4242, Assert.Single(frame.Workers).Pid);
    }

    [Fact]
    public async Task EveryFrameCarriesTheModelsVersion_AndANewVersionSendsAFrameAtOnce()
    {
        await _hub.StartAsync(_stop.Token);
        var frames = _hub.Subscribe();
        Assert.Equal(0, (await NextFrame(frames, "first frame")).ModelsVersion);
        await _clock.WaitForTimerAsync(TimeSpan.FromSeconds(1), "armed for the next tick");

        _models.Grow();
        var frame = await NextFrame(frames, "frame after the catalog changed");
        Assert.Equal(1, frame.ModelsVersion);
        Assert.Equal(TimeSpan.Zero, _clock.Elapsed); // at once, not at the next tick

        _clock.AdvanceTo(TimeSpan.FromSeconds(1));
        Assert.Equal(1, (await NextFrame(frames, "the next tick")).ModelsVersion);
    }

    [Fact]
    public async Task EverySubscriberGetsTheSameFrames()
    {
        await _hub.StartAsync(_stop.Token);
        var a = _hub.Subscribe();
        var firstOfA = await NextFrame(a, "a's first frame");
        var b = _hub.Subscribe();
        var firstOfB = await NextFrame(b, "b's first frame");
        // b's arrival built a frame for everybody: a sees it too, same seq.
        Assert.Equal(firstOfB.Seq, (await NextFrame(a, "a sees b's first frame")).Seq);
        Assert.Equal(firstOfA.Seq + 1, firstOfB.Seq);

        await _clock.WaitForTimerAsync(TimeSpan.FromSeconds(1), "next tick");
        _clock.AdvanceTo(TimeSpan.FromSeconds(1));
        Assert.Equal((await NextFrame(a, "a tick")).Seq, (await NextFrame(b, "b tick")).Seq);
    }

    [Fact]
    public async Task Unsubscribed_GetsNothingMore()
    {
        await _hub.StartAsync(_stop.Token);
        var frames = _hub.Subscribe();
        await NextFrame(frames, "first frame");
        _hub.Unsubscribe(frames);
        await _clock.WaitForTimerAsync(TimeSpan.FromSeconds(1), "next tick");
        var builtBefore = _hub.FramesBuilt;
        _clock.AdvanceTo(TimeSpan.FromSeconds(5));
        Assert.Equal(0, frames.Count);
        // With nobody listening no frame is built (seq is not spent on nobody).
        Assert.Equal(builtBefore, _hub.FramesBuilt);
    }
}
