using Microsoft.Extensions.Hosting;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Hive.Discovery;
using Rbee.Hive.Telemetry;
using Rbee.Hive.Tests.Support;

namespace Rbee.Hive.Tests.Discovery;

/// <summary>DESIGN.md "Discovery and telemetry" 5: the ready sequence runs at start and again when the queen's stream closes.</summary>
public sealed class DiscoveryServiceTests : IDisposable
{
    private readonly TimerWatch _clock = new();
    private readonly CountingQueen _queen = new();
    private readonly StreamSubscriptions _subscriptions = new();
    private readonly Lifetime _lifetime = new();
    private readonly ReadySequence _sequence;
    private readonly DiscoveryService _service;

    public DiscoveryServiceTests()
    {
        _sequence = new ReadySequence(_queen, () => new HiveReady("h", "http://127.0.0.1:7835", "i", "0.1.0", 1), _subscriptions,
            new Uri("http://127.0.0.1:7833"), new ProtocolOptions(), _clock, new RecordingLogger<ReadySequence>());
        _service = new DiscoveryService(_sequence, _subscriptions, _lifetime);
    }

    public void Dispose() => _sequence.Dispose();

    private sealed class CountingQueen : IQueenReadyClient
    {
        private int _calls;
        public int Calls => Volatile.Read(ref _calls);

        public Task<ReadyOutcome> PostReadyAsync(Uri queen, HiveReady ready, CancellationToken ct)
        {
            Interlocked.Increment(ref _calls);
            return Task.FromResult(ReadyOutcome.Accepted());
        }
    }

    private sealed class Lifetime : IHostApplicationLifetime
    {
        public CancellationTokenSource Started { get; } = new();
        public CancellationTokenSource Stopping { get; } = new();
        public CancellationToken ApplicationStarted => Started.Token;
        public CancellationToken ApplicationStopping => Stopping.Token;
        public CancellationToken ApplicationStopped => CancellationToken.None;
        public void StopApplication() => Stopping.Cancel();
    }

    private async Task Subscribed(string phase)
    {
        _subscriptions.Opened();
        await _sequence.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(_sequence.State == ReadyState.Subscribed, $"{phase}: state {_sequence.State}");
    }

    [Fact]
    public async Task RunsWhenTheHiveHasStarted_AndAgainWhenTheLastStreamCloses()
    {
        await _service.StartAsync(CancellationToken.None);
        Assert.Equal(0, _queen.Calls);
        _lifetime.Started.Cancel();
        await Subscribed("after start");
        Assert.Equal(1, _queen.Calls);

        _subscriptions.Closed();
        await Subscribed("after the stream closed");
        Assert.Equal(2, _queen.Calls);
    }

    [Fact]
    public async Task StreamsClosingBecauseTheHiveStops_DoNotStartIt()
    {
        await _service.StartAsync(CancellationToken.None);
        _lifetime.Started.Cancel();
        await Subscribed("after start");

        _lifetime.StopApplication();
        _subscriptions.Closed();
        await _service.StopAsync(CancellationToken.None);
        Assert.Equal(1, _queen.Calls);
        Assert.False(_sequence.Trigger(null, "after stop"));
    }
}
