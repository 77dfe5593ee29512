using Microsoft.Extensions.Options;
using Rbee.Hive.Workers;

namespace Rbee.Hive.Monitoring;

/// <summary>
/// Readiness of external engines (and of adopted workers not ready by file): <c>GET</c> on the type's health path
/// with a short local backoff (DESIGN.md "Workers under the hive": milliseconds, by the hive, never the queen). It only
/// answers "healthy now"; the scan loop decides what that means for the worker's state.
/// </summary>
public sealed class HealthProber : IDisposable
{
    private readonly WorkerOptions _options;
    private readonly TimeProvider _time;
    private readonly HttpMessageInvoker _http;

    public HealthProber(IOptions<WorkerOptions> options, TimeProvider time, HttpMessageHandler? handler = null)
    {
        _options = options.Value;
        _time = time;
        // The hive's own workers: never through an HTTP_PROXY meant for the internet, and never with the cluster token
        // (an external engine is not a daemon of the cluster), so not through ClusterHttp either.
        _http = new HttpMessageInvoker(handler ?? new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false });
    }

    /// <summary>Per try: a worker that does not answer within this is asked again after the backoff.</summary>
    public static readonly TimeSpan TryTimeout = TimeSpan.FromSeconds(2);

    public Uri UrlOf(int port, string? healthPath)
    {
        var host = _options.Host is "0.0.0.0" or "::" or "*" ? "127.0.0.1" : _options.Host;
        return new Uri($"http://{(host.Contains(':', StringComparison.Ordinal) ? "[" + host + "]" : host)}:{port}{healthPath ?? "/health"}");
    }

    /// <summary>Completes true at the first 2xx, false when <paramref name="ct"/> is cancelled (the worker left).</summary>
    public async Task<bool> WaitHealthyAsync(Uri url, CancellationToken ct)
    {
        using var delays = Backoff(_options.HealthBackoffMin, _options.HealthBackoffMax).GetEnumerator();
        try
        {
            while (true)
            {
                using (var timeout = new CancellationTokenSource(TryTimeout, _time))
                using (var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token))
                {
                    try
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Get, url);
                        using var response = await _http.SendAsync(request, attempt.Token).ConfigureAwait(false);
                        if (response.IsSuccessStatusCode) return true;
                    }
                    catch (HttpRequestException) { }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
                }
                delays.MoveNext();
                await Task.Delay(delays.Current, _time, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>The waits between tries: from <paramref name="min"/>, doubling, capped at <paramref name="max"/>, forever.</summary>
    public static IEnumerable<TimeSpan> Backoff(TimeSpan min, TimeSpan max)
    {
        for (var delay = min; ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, max.Ticks))) yield return delay;
    }

    public void Dispose() => _http.Dispose();
}
