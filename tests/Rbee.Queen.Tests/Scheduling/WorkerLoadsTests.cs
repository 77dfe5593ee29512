using Microsoft.Extensions.Time.Testing;
using Rbee.Queen.Scheduling;

namespace Rbee.Queen.Tests.Scheduling;

public sealed class WorkerLoadsTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddDays(100));
    private readonly SchedulingOptions _options = new() { MaxInFlightPerWorker = 2 };
    private readonly WorkerLoads _loads;
    private readonly List<WorkerHealthChange> _changes = [];
    private static readonly WorkerKey W = new("h", 8080, 42);
    private const string Url = "http://h:8080";

    public WorkerLoadsTests()
    {
        _loads = new WorkerLoads(_options, _time);
        _loads.HealthChanged += _changes.Add;
    }

    private bool Ejected() => _loads.Find(W)?.EjectedUntil is { } until && until > _time.GetUtcNow();

    private void Fail(int times)
    {
        for (var i = 0; i < times; i++)
        {
            Assert.True(_loads.TryAcquire(W, Url));
            _loads.Release(W, RequestOutcome.Failure, "connection refused");
        }
    }

    [Fact]
    public void InFlight_IsCountedAndCapped()
    {
        Assert.True(_loads.TryAcquire(W, Url));
        Assert.True(_loads.TryAcquire(W, Url));
        Assert.False(_loads.TryAcquire(W, Url));
        Assert.Equal(2, _loads.InFlight(W));
        _loads.Release(W, RequestOutcome.Success);
        Assert.Equal(1, _loads.InFlight(W));
        Assert.Equal(_time.GetUtcNow(), _loads.Find(W)!.LastUsedAt);
        Assert.True(_loads.HasRoom(W, Url));
    }

    [Fact]
    public void ThreeConsecutiveFailures_Eject_ForTenSeconds_DoublingOnRepeat_UpToTheMaximum()
    {
        Fail(2);
        Assert.False(Ejected());
        Fail(1);
        Assert.True(Ejected());
        Assert.False(_loads.HasRoom(W, Url));
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(10), Assert.Single(_changes).EjectedUntil);

        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(_loads.HasRoom(W, Url));
        Assert.False(_changes[^1].Ejected);

        Fail(3);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(20), _changes[^1].EjectedUntil);
        for (var i = 0; i < 8; i++)
        {
            _time.Advance(TimeSpan.FromMinutes(10));
            Fail(3);
        }
        Assert.Equal(_time.GetUtcNow() + _options.EjectionMax, _changes[^1].EjectedUntil);
    }

    [Fact]
    public void ASuccessResetsTheCount_AndTheDoubling()
    {
        Fail(2);
        Assert.True(_loads.TryAcquire(W, Url));
        _loads.Release(W, RequestOutcome.Success);
        Fail(2);
        Assert.False(Ejected());
        Fail(1);
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(_loads.TryAcquire(W, Url));
        _loads.Release(W, RequestOutcome.Success);
        Fail(3);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(10), _changes[^1].EjectedUntil);
    }

    [Fact]
    public void AProbeThatSucceeds_PutsTheWorkerBackAtOnce()
    {
        Fail(3);
        Assert.Equal([(W, Url)], _loads.Ejected());
        _loads.ProbeSucceeded(W);
        Assert.False(Ejected());
        Assert.Equal("health probe succeeded", _changes[^1].Reason);
        Assert.Empty(_loads.Ejected());
    }

    [Fact]
    public void ABusyWorker_TakesNothingUntilOneOfItsRequestsEnds_OrAMomentPasses()
    {
        Assert.True(_loads.TryAcquire(W, Url));
        Assert.True(_loads.TryAcquire(W, Url));
        _loads.Release(W, RequestOutcome.Busy);
        Assert.False(_loads.HasRoom(W, Url));
        Assert.Equal(_time.GetUtcNow() + WorkerLoads.BusyBackoff, _loads.NextExpiry());
        _loads.Release(W, RequestOutcome.Success);
        Assert.True(_loads.HasRoom(W, Url));

        Assert.True(_loads.TryAcquire(W, Url));
        _loads.Release(W, RequestOutcome.Busy);
        Assert.False(_loads.HasRoom(W, Url));
        _time.Advance(WorkerLoads.BusyBackoff);
        Assert.True(_loads.HasRoom(W, Url));
        // Busy is not a failure.
        Assert.Empty(_changes);
    }

    [Fact]
    public void ARetiringWorker_TakesNoRequest_AndOneWithARequestCannotRetire()
    {
        Assert.True(_loads.TryAcquire(W, Url));
        Assert.False(_loads.TryRetire(W));
        _loads.Release(W, RequestOutcome.Success);
        Assert.True(_loads.TryRetire(W));
        Assert.False(_loads.TryAcquire(W, Url));
        _loads.Unretire(W);
        Assert.True(_loads.TryAcquire(W, Url));
    }

    [Fact]
    public void RecordsOfWorkersThatLeftTheView_AreForgotten()
    {
        Assert.True(_loads.TryAcquire(W, Url));
        _loads.Release(W, RequestOutcome.Success);
        _loads.Retain(_ => false);
        Assert.Null(_loads.Find(W));
    }
}
