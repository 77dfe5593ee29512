using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rbee.Hosting.Errors;
using Rbee.Hosting.Logs;
using Rbee.Hosting.Security;
using Rbee.Platform.Http;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Http;

/// <summary>
/// A hive's logs and configuration through the queen (DESIGN.md "Logs"), protected by the cluster token:
/// <c>GET /v1/hives/{hiveId}/logs</c>, <c>GET /v1/hives/{hiveId}/workers/{port}/logs</c> and
/// <c>GET /v1/hives/{hiveId}/config</c> are relayed from that hive with the queen's token, byte for byte as the hive
/// writes them, so <c>rbee logs -f</c> follows a worker on any machine. The queen's own are <c>GET /v1/logs</c> and
/// <c>GET /v1/config</c>.
/// </summary>
public static class HiveRelay
{
    public static IEndpointRouteBuilder MapQueenLogs(this IEndpointRouteBuilder app)
    {
        var guarded = app.MapGroup("").RequireClusterToken();
        guarded.MapGet("/v1/logs", (HttpContext context) => LogResponses.OwnLogAsync(context, "queen-rbee"));
        guarded.MapGet("/v1/hives/{hiveId}/logs", (HttpContext context, string hiveId, ClusterRegistry registry, ClusterHttp http) =>
            RelayLogAsync(context, hiveId, "/v1/logs", registry, http));
        guarded.MapGet("/v1/hives/{hiveId}/workers/{port:int}/logs", (HttpContext context, string hiveId, int port, ClusterRegistry registry, ClusterHttp http) =>
            RelayLogAsync(context, hiveId, $"/v1/workers/{port}/logs", registry, http));
        guarded.MapGet("/v1/hives/{hiveId}/config", (HttpContext context, string hiveId, ClusterRegistry registry, ClusterHttp http) =>
            RelayAsync(context, hiveId, "/v1/config", registry, http));
        return app;
    }

    private static async Task RelayLogAsync(HttpContext context, string hiveId, string path, ClusterRegistry registry, ClusterHttp http)
    {
        // Checked here too, so a bad query is the queen's 400 and never reaches a hive.
        if (LogQuery.Parse(context.Request, out var error) is not { } query)
        {
            await error!.ExecuteAsync(context);
            return;
        }
        await RelayAsync(context, hiveId, path + query.ToQueryString(), registry, http);
    }

    private static async Task RelayAsync(HttpContext context, string hiveId, string pathAndQuery, ClusterRegistry registry, ClusterHttp http)
    {
        if (registry.Current.Find(hiveId) is not { } hive)
        {
            await ApiErrors.NotFound("unknown_hive", $"no hive '{hiveId}' is known to the queen (see GET /v1/cluster)", "hive_id").ExecuteAsync(context);
            return;
        }
        var lifetime = context.RequestServices.GetRequiredService<IHostApplicationLifetime>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        HttpResponseMessage upstream;
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(stop.Token))
        {
            connect.CancelAfter(TimeSpan.FromSeconds(10));
            try
            {
                using var request = http.Request(HttpMethod.Get, new Uri(hive.HiveUrl, pathAndQuery));
                upstream = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, connect.Token);
            }
            catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !stop.IsCancellationRequested))
            {
                await ApiErrors.Create(StatusCodes.Status502BadGateway, Contracts.Wire.ErrorTypes.Unavailable, "hive_unreachable",
                    $"hive {hiveId} at {hive.HiveUrl} did not answer: {e.Message}").ExecuteAsync(context);
                return;
            }
        }
        using (upstream)
        {
            var response = context.Response;
            response.StatusCode = (int)upstream.StatusCode;
            response.ContentType = upstream.Content.Headers.ContentType?.ToString();
            if (upstream.Headers.TryGetValues(LogResponses.PathHeader, out var logPath)) response.Headers[LogResponses.PathHeader] = logPath.First();
            response.Headers.CacheControl = "no-store";
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            try
            {
                await using var body = await upstream.Content.ReadAsStreamAsync(stop.Token);
                await body.CopyToAsync(response.Body, stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or HttpRequestException)
            {
                // The reader left, the queen is stopping, or the hive went away mid-log: the stream simply ends.
            }
        }
    }
}
