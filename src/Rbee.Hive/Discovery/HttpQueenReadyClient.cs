using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Security;

namespace Rbee.Hive.Discovery;

/// <summary>Sends the hive's ready to a queen over HTTP, with the cluster token as bearer when one is configured.</summary>
public sealed class HttpQueenReadyClient(ClusterTokenOptions token) : IQueenReadyClient, IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        // A queen that moved to another address must be found again, not pinned by a pooled connection.
        PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        ConnectTimeout = TimeSpan.FromSeconds(5),
    })
    {
        // The ready sequence bounds every try (ProtocolOptions.ReadyTryTimeout).
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public async Task<ReadyOutcome> PostReadyAsync(Uri queen, HiveReady ready, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, ReadyUri(queen))
        {
            Content = JsonContent.Create(ready, RbeeJsonContext.Default.HiveReady),
        };
        if (token.Token is { } t) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", t);
        try
        {
            using var response = await _http.SendAsync(request, ct);
            if (response.IsSuccessStatusCode) return ReadyOutcome.Accepted();
            var message = await ErrorMessageAsync(response, ct);
            return response.StatusCode == HttpStatusCode.Conflict
                ? ReadyOutcome.Conflict(message)
                : ReadyOutcome.Failed($"HTTP {(int)response.StatusCode}: {message}");
        }
        catch (HttpRequestException e)
        {
            return ReadyOutcome.Failed(e.Message);
        }
    }

    internal static Uri ReadyUri(Uri queen) => new(queen.AbsoluteUri.TrimEnd('/') + "/v1/hive/ready");

    private static async Task<string> ErrorMessageAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var error = await response.Content.ReadFromJsonAsync(RbeeJsonContext.Default.ErrorResponse, ct);
            if (error?.Error?.Message is { Length: > 0 } m) return m;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or HttpRequestException)
        {
            // Not our error shape; the status says enough.
        }
        return response.ReasonPhrase ?? "no reason given";
    }

    public void Dispose() => _http.Dispose();
}
