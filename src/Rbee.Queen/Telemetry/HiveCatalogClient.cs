using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Platform.Http;

namespace Rbee.Queen.Telemetry;

/// <summary><c>GET {hive_url}/v1/catalog</c> with the cluster token (DESIGN.md "Security"), bounded by the caller's token.</summary>
public static class HiveCatalogClient
{
    public static async Task<(CatalogFetchOutcome Outcome, ModelCatalog? Catalog, string? Error)> FetchAsync(
        ClusterHttp http, Uri hiveUrl, CancellationToken ct)
    {
        try
        {
            using var request = http.Request(HttpMethod.Get, new Uri(hiveUrl, HivePaths.Catalog));
            using var response = await http.Client.SendAsync(request, ct).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound) return (CatalogFetchOutcome.NotFound, null, "hive answered 404");
            if (!response.IsSuccessStatusCode) return (CatalogFetchOutcome.Failed, null, $"hive answered {(int)response.StatusCode}");
            var catalog = await response.Content.ReadFromJsonAsync(RbeeJsonContext.Default.ModelCatalog, ct).ConfigureAwait(false);
            return catalog is null ? (CatalogFetchOutcome.Failed, null, "hive answered null") : (CatalogFetchOutcome.Fetched, catalog, null);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or JsonException or IOException or ObjectDisposedException)
        {
            return (CatalogFetchOutcome.Failed, null, e is OperationCanceledException ? "no answer in time" : e.Message);
        }
    }
}
