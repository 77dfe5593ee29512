using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Rbee.Hive.Monitoring;
using Rbee.Hosting.Errors;
using Rbee.Hosting.Logs;
using Rbee.Hosting.Security;

namespace Rbee.Hive.Workers;

/// <summary>
/// The hive's logs (DESIGN.md "Logs"), protected by the cluster token: <c>GET /v1/logs</c> (the hive's own) and
/// <c>GET /v1/workers/{port}/logs</c> (a worker's), each <c>?lines=N&amp;follow=true</c>. Only files the hive itself
/// chose are read: a caller names a port, never a path.
/// </summary>
public static class HiveLogEndpoints
{
    public static IEndpointRouteBuilder MapHiveLogs(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/logs", (HttpContext context) => LogResponses.OwnLogAsync(context, "rbee-hive")).RequireClusterToken();
        app.MapGet("/v1/workers/{port:int}/logs", WorkerLogsAsync).RequireClusterToken();
        return app;
    }

    /// <summary>The log of the worker on that port, or of the last one that ran there.</summary>
    private static async Task WorkerLogsAsync(HttpContext context, int port, WorkerMonitor monitor)
    {
        if (LogQuery.Parse(context.Request, out var error) is not { } query)
        {
            await error!.ExecuteAsync(context);
            return;
        }
        if (monitor.LogOf(port) is not { } path)
        {
            await ApiErrors.NotFound("worker_not_found", $"no worker of this hive runs or ran on port {port}: `rbee ps` lists the workers", "port").ExecuteAsync(context);
            return;
        }
        await LogResponses.WriteAsync(context, path, query);
    }
}
