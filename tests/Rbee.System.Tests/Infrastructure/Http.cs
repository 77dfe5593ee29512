using System.Net.Http.Headers;
using System.Text.Json;
using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>
/// One pooled client for every system test, and the one wait for a daemon's /health. <see cref="Client"/> sends the run's
/// cluster token (<see cref="TestClusterToken"/>) unless a request carries its own <c>Authorization</c>, as an operator's
/// tools would; <see cref="Anonymous"/> sends none, for the scenarios about callers without it.
/// </summary>
public static class Http
{
    public static HttpClient Client { get; } = Create(TestClusterToken.Value);

    public static HttpClient Anonymous { get; } = Create(null);

    private static HttpClient Create(string? token)
    {
        var client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            // Only requests that ask for 100-continue wait for it; on the loaded machine a refusal may take a while.
            Expect100ContinueTimeout = TimeSpan.FromSeconds(10),
            // A response disposed before its end closes the connection, as a client that leaves does. The default
            // drains it first, to reuse the connection: up to 1 MB or 2 s, while the server, still streaming to an open
            // socket, cannot know the client has gone.
            MaxResponseDrainSize = 0,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        if (token is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>A request with <paramref name="token"/> as its bearer; null leaves the client's own (the run's token).</summary>
    public static HttpRequestMessage Request(HttpMethod method, string url, string? token)
    {
        var request = new HttpRequestMessage(method, url);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    /// <summary>GETs <paramref name="url"/> and parses its JSON body, whatever the status.</summary>
    public static async Task<(System.Net.HttpStatusCode Status, JsonElement Body)> GetJsonAsync(string url, string? token = null)
    {
        using var request = Request(HttpMethod.Get, url, token);
        using var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Awaits a daemon's /health after its start: nothing announces that it listens, so this polls
    /// (<see cref="Eventually"/>), failing at once, with the log, when the process exits.</summary>
    public static Task WaitHealthyAsync(string baseUrl, DaemonProcess process, TimeSpan budget) =>
        Eventually.HoldsAsync("start-up", $"{process.Name} answering /health at {baseUrl}", budget, async () =>
        {
            if (process.HasExited)
                throw new InvalidOperationException($"phase start-up: {process.Name} exited with {process.ExitCode}:\n{process.LogTail()}");
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            using var response = await Client.GetAsync(baseUrl + "/health", cts.Token);
            return (response.IsSuccessStatusCode, $"HTTP {(int)response.StatusCode}");
        }, () => process.LogTail());
}
