using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;
using Rbee.Hosting.Jobs;
using Rbee.Hosting.Security;

namespace Rbee.Hive.Jobs;

public static class HiveJobEndpoints
{
    /// <summary>
    /// Maps <c>/v1/jobs*</c> (DESIGN.md "Jobs"), protected by the cluster token (DESIGN.md "Security"). The hive's
    /// <c>POST /v1/shutdown</c> belongs to its foundation (Shutdown/); the workers' lifetime honours its
    /// <c>stop_workers</c>.
    /// </summary>
    public static RouteGroupBuilder MapHiveJobs(this IEndpointRouteBuilder app)
    {
        // Prometheus text, for those who hold the token (scrape with it as bearer), like every control endpoint.
        app.MapMetrics("/metrics", app.ServiceProvider.GetRequiredService<Workers.HiveMetrics>().Registry).RequireClusterToken();
        return app.MapJobs().RequireClusterToken();
    }
}
