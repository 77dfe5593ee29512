using System.Net;
using Microsoft.Extensions.Time.Testing;
using Rbee.Hive.Monitoring;
using Rbee.Hive.Workers;

namespace Rbee.Hive.Tests.Monitoring;

/// <summary>The local health backoff of external engines, on a fake clock: no real waiting, exact delays.</summary>
public sealed class HealthProberTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _clock = new();

    private sealed class Answers(params HttpStatusCode[] codes) : HttpMessageHandler
    {
        private int _n;
        public readonly List<Uri> Asked = [];
        public readonly SemaphoreSlim Called = new(0);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            lock (Asked) Asked.Add(request.RequestUri!);
            var code = codes[Math.Min(Interlocked.Increment(ref _n) - 1, codes.Length - 1)];
            Called.Release();
            return code == 0 ? throw new HttpRequestException("connection refused") : Task.FromResult(new HttpResponseMessage(code));
        }
    }

    private HealthProber Prober(HttpMessageHandler handler, string host = "0.0.0.0") => new(
        Microsoft.Extensions.Options.Options.Create(new WorkerOptions
        {
            Host = host,
            HealthBackoffMin = TimeSpan.FromMilliseconds(20),
            HealthBackoffMax = TimeSpan.FromMilliseconds(50),
        }), _clock, handler);

    [Fact]
    public void TheUrl_IsTheWorkersPortOnALocalAddress_WithTheTypesHealthPath()
    {
        using var any = Prober(new Answers(HttpStatusCode.OK));
        Assert.Equal("http://127.0.0.1:8080/system_stats", any.UrlOf(8080, "/system_stats").ToString());
        using var v6 = Prober(new Answers(HttpStatusCode.OK), host: "fd00::5");
        Assert.Equal("http://[fd00::5]:9000/health", v6.UrlOf(9000, null).ToString());
    }

    [Fact]
    public void TheBackoff_DoublesFromItsMinimum_UpToItsMaximum()
    {
        var delays = HealthProber.Backoff(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(500)).Take(8).Select(d => d.TotalMilliseconds);
        Assert.Equal([20.0, 40, 80, 160, 320, 500, 500, 500], delays);
    }

    [Fact]
    public async Task RefusedThenFailingThenOk_KeepsAsking_AndAnswersTrue_WaitingOnlyOnItsClock()
    {
        var answers = new Answers(0, HttpStatusCode.ServiceUnavailable, 0, HttpStatusCode.OK);
        using var prober = Prober(answers);
        var healthy = prober.WaitHealthyAsync(new Uri("http://127.0.0.1:1/health"), CancellationToken.None);
        Assert.True(await answers.Called.WaitAsync(Bound), "no first try");
        for (var tries = 1; tries < 4; tries++)
        {
            // Nothing happens until the clock moves past the backoff (at most 50 ms here); each try is made only then.
            Assert.False(healthy.IsCompleted);
            var next = answers.Called.WaitAsync(Bound);
            while (!next.IsCompleted)
            {
                _clock.Advance(TimeSpan.FromMilliseconds(10));
                await Task.WhenAny(next, Task.Delay(5));
            }
            Assert.True(await next, $"try {tries + 1} was not made");
        }
        Assert.True(await healthy.WaitAsync(Bound));
        Assert.Equal(4, answers.Asked.Count);
        Assert.All(answers.Asked, u => Assert.Equal("http://127.0.0.1:1/health", u.ToString()));
    }

    [Fact]
    public async Task ACancelledProbe_AnswersFalse()
    {
        var answers = new Answers(0);
        using var prober = Prober(answers);
        using var cts = new CancellationTokenSource();
        var healthy = prober.WaitHealthyAsync(new Uri("http://127.0.0.1:1/health"), cts.Token);
        Assert.True(await answers.Called.WaitAsync(Bound));
        await cts.CancelAsync();
        Assert.False(await healthy.WaitAsync(Bound));
    }
}
