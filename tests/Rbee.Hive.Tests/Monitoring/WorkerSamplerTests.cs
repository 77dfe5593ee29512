using Microsoft.Extensions.Time.Testing;
using Rbee.Hive.Monitoring;

namespace Rbee.Hive.Tests.Monitoring;

/// <summary>The rate arithmetic of one worker's sample, on a fake clock (STYLE.md §8).</summary>
public sealed class WorkerSamplerTests
{
    private readonly FakeTimeProvider _clock = new();
    private readonly WorkerSampler _sampler;

    public WorkerSamplerTests() => _sampler = new WorkerSampler(_clock);

    [Fact]
    public void TheFirstSample_HasNoRates_ButSetsTheBaseline()
    {
        var f = _sampler.Rates(default, _clock.GetTimestamp(), 5_000_000, (100, 200), out var next);
        Assert.Equal((null, null, null), (f.CpuPct, f.IoReadBps, f.IoWriteBps));
        Assert.False(next.IsEmpty);
        Assert.Equal(5_000_000, next.CpuUsec);
    }

    [Fact]
    public void AFullWindow_GivesCpuAsAPercentOfOneCore_AndIoPerSecond()
    {
        _sampler.Rates(default, _clock.GetTimestamp(), 1_000_000, (0, 0), out var baseline);
        _clock.Advance(TimeSpan.FromSeconds(2));
        // 3 s of CPU in 2 s of wall time: 150 % of one core (a worker busy on two cores reads 200)
        var f = _sampler.Rates(baseline, _clock.GetTimestamp(), 4_000_000, (4096, 8192), out _);
        Assert.Equal(150.0, f.CpuPct);
        Assert.Equal(2048.0, f.IoReadBps);
        Assert.Equal(4096.0, f.IoWriteBps);
    }

    [Fact]
    public void AShortWindow_KeepsTheLastRatesAndBaseline()
    {
        _sampler.Rates(default, _clock.GetTimestamp(), 0, (0, 0), out var b0);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var full = _sampler.Rates(b0, _clock.GetTimestamp(), 500_000, (1000, 0), out var b1);
        _clock.Advance(TimeSpan.FromMilliseconds(10)); // a scan woken by inotify right after
        var quick = _sampler.Rates(b1, _clock.GetTimestamp(), 900_000, (5000, 0), out var b2);
        Assert.Equal(50.0, full.CpuPct);
        Assert.Equal(full.CpuPct, quick.CpuPct);
        Assert.Equal(full.IoReadBps, quick.IoReadBps);
        Assert.Equal(b1, b2);
    }

    [Fact]
    public void ACounterThatWentBackwards_OrCannotBeRead_IsNull_NeverNegativeOrZero()
    {
        _sampler.Rates(default, _clock.GetTimestamp(), 9_000_000, (500, 500), out var b0);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var f = _sampler.Rates(b0, _clock.GetTimestamp(), 1_000, (10, 10), out var b1);
        Assert.Null(f.CpuPct);
        Assert.Null(f.IoReadBps);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var unread = _sampler.Rates(b1, _clock.GetTimestamp(), null, null, out _);
        Assert.Equal((null, null, null), (unread.CpuPct, unread.IoReadBps, unread.IoWriteBps));
    }

    [Fact]
    public void Uptime_IsBootUptimeLessTheStartTime_AndVram_IsNullWithoutAGpuTool()
    {
        Assert.Equal(90.0, WorkerSampler.UptimeS(100.0, 10 * Libc.ClockTicks));
        Assert.Null(WorkerSampler.UptimeS(null, 10));
        Assert.Null(WorkerSampler.VramMb(null, [1, 2]));
        Assert.Null(WorkerSampler.VramMb(new Dictionary<int, long> { [9] = 100 }, [1, 2]));
        Assert.Equal(300, WorkerSampler.VramMb(new Dictionary<int, long> { [1] = 100, [2] = 200 }, [1, 2]));
    }
}
