using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Rbee.Contracts.Protocol;

namespace Rbee.Queen.Cluster;

public static class ClusterViewServices
{
    /// <summary>
    /// The cluster view (STYLE.md §3): its one writer <see cref="ClusterRegistry"/>, the liveness judge and the monitor that
    /// ticks it, and the default <see cref="IWorkerLoadView"/> (knows nothing). A scheduler that registers its own
    /// <see cref="IWorkerLoadView"/> before this call keeps it.
    /// </summary>
    public static IServiceCollection AddClusterView(this IServiceCollection services, ProtocolOptions protocol)
    {
        services.AddSingleton(new HiveLiveness(protocol));
        services.AddSingleton<ClusterRegistry>();
        services.TryAddSingleton<IWorkerLoadView>(NoWorkerLoad.Instance);
        services.AddHostedService<LivenessMonitor>();
        return services;
    }
}
