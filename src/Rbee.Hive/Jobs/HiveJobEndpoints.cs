using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
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
    public static RouteGroupBuilder MapHiveJobs(this IEndpointRouteBuilder app) => app.MapJobs().RequireClusterToken();
}
