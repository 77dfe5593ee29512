using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Rbee.Hosting.Jobs;
using Rbee.Hosting.Security;

namespace Rbee.Queen.Jobs;

public static class QueenJobsExtensions
{
    /// <summary>The job registry and the queen's operations (forwarding to hives).</summary>
    public static IServiceCollection AddQueenJobs(this IServiceCollection services)
    {
        services.AddJobs();
        services.AddOptions<QueenJobOptions>().BindConfiguration(QueenJobOptions.SectionName)
            .Validate(o => o.ViewTimeout > TimeSpan.Zero && o.ForwardTimeout > TimeSpan.Zero, "QueenJobs:ViewTimeout and QueenJobs:ForwardTimeout must be positive")
            .ValidateOnStart();
        services.AddSingleton<HiveForwarder>();
        services.AddSingleton<IJobOperations, QueenJobOperations>();
        return services;
    }

    /// <summary><c>/v1/jobs*</c> on the queen, protected by the cluster token (DESIGN.md "Security").</summary>
    public static RouteGroupBuilder MapQueenJobs(this IEndpointRouteBuilder app) => app.MapJobs().RequireClusterToken();
}
