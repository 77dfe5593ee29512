using System.Net.Http.Headers;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>One pooled client for every system test.</summary>
public static class Http
{
    public static HttpClient Client { get; } = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public static HttpRequestMessage Request(HttpMethod method, string url, string? token)
    {
        var request = new HttpRequestMessage(method, url);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    /// <summary>Awaits a daemon's /health after its start: nothing to subscribe to before it listens, so it asks
    /// every 50 ms, failing early (with the log) when the process exits.</summary>
    public static async Task WaitHealthyAsync(string baseUrl, Rbee.Testing.DaemonProcess process, TimeSpan budget)
    {
        var until = DateTime.UtcNow + budget;
        while (DateTime.UtcNow < until)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{process.Name} exited with {process.ExitCode} during start-up:\n{process.LogTail()}");
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                using var response = await Client.GetAsync(baseUrl + "/health", cts.Token);
                if (response.IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
            {
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"phase start-up: {process.Name} did not answer /health at {baseUrl} within {budget.TotalSeconds} s:\n{process.LogTail()}");
    }
}
