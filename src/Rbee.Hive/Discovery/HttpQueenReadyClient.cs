using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Platform.Http;

namespace Rbee.Hive.Discovery;

/// <summary>Sends the hive's ready to a queen over the daemon's one <see cref="ClusterHttp"/> (cluster token as bearer).</summary>
public sealed class HttpQueenReadyClient(ClusterHttp http) : IQueenReadyClient
{
    public async Task<ReadyOutcome> PostReadyAsync(Uri queen, HiveReady ready, CancellationToken ct)
    {
        // The ready sequence bounds every try (ProtocolOptions.ReadyTryTimeout).
        using var request = http.Request(HttpMethod.Post, ReadyUri(queen));
        request.Content = JsonContent.Create(ready, RbeeJsonContext.Default.HiveReady);
        try
        {
            using var response = await http.Client.SendAsync(request, ct);
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
}
