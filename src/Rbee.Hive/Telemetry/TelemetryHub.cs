using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Hive.Identity;
using Rbee.Hive.Models;
using Rbee.Hive.Workers;

namespace Rbee.Hive.Telemetry;

/// <summary>
/// The hive's telemetry (DESIGN.md "Discovery and telemetry" 3): one loop builds a frame every
/// <see cref="ProtocolOptions.TelemetryInterval"/>, at once when a subscriber connects, at once when the worker
/// set changes (<see cref="IWorkerView.Changed"/>), and at once when the model catalog's version grows
/// (<see cref="IModelCatalogView.Changed"/>: every frame carries <c>models_version</c>, so the queen learns of a new model
/// within milliseconds and fetches <c>/v1/catalog</c>). Each frame is serialized once and handed to every subscriber;
/// <c>seq</c> counts from 0 per hive process. A slow subscriber loses its oldest frames, never slows the others.
/// </summary>
public sealed partial class TelemetryHub : BackgroundService
{
    private const int SubscriberBacklog = 8;
    private readonly HiveIdentity _identity;
    private readonly NodeStatsSampler _sampler;
    private readonly IWorkerView? _workers;
    private readonly IModelCatalogView? _models;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly ILogger<TelemetryHub> _logger;
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly object _gate = new();
    private readonly HashSet<Channel<ReadOnlyMemory<byte>>> _subscribers = [];
    private long _seq;

    public TelemetryHub(HiveIdentity identity, NodeStatsSampler sampler, ProtocolOptions protocol, TimeProvider time,
        ILogger<TelemetryHub> logger, IServiceProvider services)
    {
        _identity = identity;
        _sampler = sampler;
        _interval = protocol.TelemetryInterval;
        _time = time;
        _logger = logger;
        // The worker view comes from the workers capability; a hive without it reports no workers.
        _workers = services.GetService<IWorkerView>();
        if (_workers is not null) _workers.Changed += RequestFrame;
        // Likewise the model catalog: a hive without it sends no models_version.
        _models = services.GetService<IModelCatalogView>();
        if (_models is not null) _models.Changed += RequestFrame;
    }

    /// <summary>Frames built so far (the next frame's <c>seq</c>).</summary>
    public long FramesBuilt => Interlocked.Read(ref _seq);

    /// <summary>Asks for a frame now (coalesced: several requests before the loop wakes give one frame).</summary>
    public void RequestFrame() => _wake.Writer.TryWrite(true);

    /// <summary>Adds a subscriber; its first frame is built at once.</summary>
    public ChannelReader<ReadOnlyMemory<byte>> Subscribe()
    {
        var channel = Channel.CreateBounded<ReadOnlyMemory<byte>>(new BoundedChannelOptions(SubscriberBacklog)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = true,
        });
        lock (_gate) _subscribers.Add(channel);
        RequestFrame();
        return channel.Reader;
    }

    public void Unsubscribe(ChannelReader<ReadOnlyMemory<byte>> reader)
    {
        lock (_gate) _subscribers.RemoveWhere(c => c.Reader == reader);
    }

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        var next = _time.GetUtcNow() + _interval;
        while (!ct.IsCancellationRequested)
        {
            var wait = next - _time.GetUtcNow();
            var tick = true;
            if (wait > TimeSpan.Zero)
            {
                using var sleep = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var delay = Task.Delay(wait, _time, sleep.Token);
                var woken = _wake.Reader.WaitToReadAsync(sleep.Token).AsTask();
                try
                {
                    await Task.WhenAny(delay, woken);
                }
                finally
                {
                    // Synchronous: the callbacks (a timer, a channel waiter) are trivial, and CancelAsync would hop to
                    // another thread-pool thread every tick only to run them.
                    sleep.Cancel();
                }
                if (ct.IsCancellationRequested) break;
                // The timer, not the wall clock, decides what a tick is: the two drift apart by a few ms, and
                // comparing them would turn one tick into a burst of frames.
                tick = delay.IsCompletedSuccessfully;
            }
            // This frame answers every request made so far.
            _wake.Reader.TryRead(out _);
            if (tick)
            {
                next += _interval;
                // A hive that was frozen (SIGSTOP) resumes the beat from now instead of sending a burst.
                var now = _time.GetUtcNow();
                if (next <= now) next = now + _interval;
            }
            await PublishAsync(ct);
        }
    }

    private async Task PublishAsync(CancellationToken ct)
    {
        bool any;
        lock (_gate) any = _subscribers.Count > 0;
        if (!any)
        {
            // Keep the CPU baseline fresh so the first frame of the next subscriber measures the last interval.
            _sampler.SampleCpuPercent();
            return;
        }
        byte[] payload;
        try
        {
            var node = await _sampler.SampleAsync(ct);
            var frame = new TelemetryFrame(_identity.HiveId, _identity.InstanceId, Interlocked.Increment(ref _seq) - 1,
                _time.GetUtcNow(), node, _workers?.Current ?? [])
            {
                ModelsVersion = _models?.Version,
            };
            payload = JsonSerializer.SerializeToUtf8Bytes(frame, RbeeJsonContext.Default.TelemetryFrame);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.FrameFailed(_logger, e);
            return;
        }
        lock (_gate)
            foreach (var s in _subscribers) s.Writer.TryWrite(payload);
    }

    public override void Dispose()
    {
        if (_workers is not null) _workers.Changed -= RequestFrame;
        if (_models is not null) _models.Changed -= RequestFrame;
        lock (_gate)
            foreach (var s in _subscribers) s.Writer.TryComplete();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = HiveEventIds.TelemetryFrameFailed, Level = LogLevel.Error, Message = "Could not build a telemetry frame")]
        public static partial void FrameFailed(ILogger logger, Exception exception);
    }
}
