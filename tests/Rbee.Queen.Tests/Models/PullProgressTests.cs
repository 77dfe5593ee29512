using Microsoft.Extensions.Time.Testing;
using Rbee.Contracts.Wire;
using Rbee.Queen.Models;

namespace Rbee.Queen.Tests.Models;

/// <summary>What a request waiting for a pull reads in its SSE comments, and how often.</summary>
public sealed class PullProgressTests
{
    [Fact]
    public void AProgressEvent_ReadsAsPercentBytesRateAndEta()
    {
        Assert.Equal("pulling tinyllama on hive-a: 45% (12.3 MB of 27.0 MB, 3.1 MB/s, ETA 5 s)",
            PullProgress.Line("tinyllama", "hive-a", new ModelProgress("tinyllama", "hive-a", 12_300_000, 27_000_000, 3_100_000, 4.7)));
    }

    [Fact]
    public void WithoutATotal_OrARateYet_ItSaysWhatItKnows()
    {
        Assert.Equal("pulling m on a: 950 B", PullProgress.Line("m", "a", new ModelProgress("m", "a", 950, null, null, null)));
        Assert.Equal("pulling m on a: 4.1 GB (2.0 kB/s)", PullProgress.Line("m", "a", new ModelProgress("m", "a", 4_100_000_000, null, 2000, null)));
        Assert.Equal("pulling m on a: 0% (0 B of 1.0 MB)", PullProgress.Line("m", "a", new ModelProgress("m", "a", 0, 1_000_000, null, null)));
    }

    [Theory]
    [InlineData(0.2, "1 s")]
    [InlineData(59, "59 s")]
    [InlineData(200, "3 min 20 s")]
    [InlineData(3900, "1 h 5 min")]
    public void Durations_ReadAsAPersonSaysThem(double seconds, string expected) => Assert.Equal(expected, PullProgress.Duration(seconds));

    [Fact]
    public void AtMostOneLineASecond_ButTheLastOneAlwaysShows()
    {
        var time = new FakeTimeProvider();
        var progress = new PullProgress("m", "a", time);
        ModelProgress At(long bytes) => new("m", "a", bytes, 100, 10, 1);

        Assert.NotNull(progress.Next(At(10)));
        Assert.Null(progress.Next(At(20)));
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Null(progress.Next(At(30)));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("pulling m on a: 40% (40 B of 100 B, 10 B/s, ETA 1 s)", progress.Next(At(40)));
        Assert.NotNull(progress.Next(At(100)));
    }
}
