using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rbee.Hive.Capabilities;
using Rbee.Hive.Jobs;
using Rbee.Hive.Monitoring;
using Rbee.Hosting.Jobs;

namespace Rbee.Hive.Workers;

public static class WorkersServiceCollectionExtensions
{
    /// <summary>
    /// Workers under the hive: options (section <c>Workers</c>), catalog, port locks,
    /// monitor (also the <see cref="IWorkerView"/> telemetry reads), supervisor, the hive's job operations, and the
    /// lifetime that adopts at start and stops workers at shutdown.
    /// </summary>
    public static IServiceCollection AddHiveWorkers(this IServiceCollection services)
    {
        services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.SectionName)
            .PostConfigure<IServiceProvider>((o, sp) =>
            {
                // The hive's own flags (--cgroup-root, --run-dir, --state-dir, --bind) are the
                // operator's words for these; they win over the Workers section. The models directory is Hive:ModelsDir
                // alone (the model catalog's first source), so spawn and catalog cannot disagree about it.
                if (sp.GetService<HiveOptions>() is { } hive)
                {
                    o.CgroupRoot = hive.CgroupRoot;
                    o.RunDirectory = hive.ResolvedRunDir;
                    o.StateDirectory = hive.ResolvedStateDir;
                    o.Host = WorkerHost(hive.BindAddress);
                }
                o.MergeDefaults();
            })
            .Validate(o => o.Validate() is null, "invalid Workers options (see the first problem logged)")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<WorkerOptions>, WorkerOptionsValidator>();
        services.AddSingleton(sp => new WorkerCatalog(sp.GetRequiredService<IOptions<WorkerOptions>>().Value));
        services.AddSingleton(sp => new PortAllocator(sp.GetRequiredService<IOptions<WorkerOptions>>().Value.RunDirectory));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<HealthProber>();
        // Every worker the hive starts gets its key (DESIGN.md "Security"); a hive wired without a token (tests) starts open ones.
        services.AddSingleton(sp => sp.GetService<Rbee.Hosting.Security.ClusterTokenOptions>()?.Token is { } token && sp.GetService<HiveOptions>() is { } hive
            ? new WorkerKeys(token, hive.HiveId) : new WorkerKeys(null, ""));
        services.AddSingleton<WorkerMonitor>();
        services.AddSingleton<IWorkerView>(sp => sp.GetRequiredService<WorkerMonitor>());
        services.AddSingleton<WorkerSupervisor>();
        services.AddSingleton<SpawnAdmission>();
        services.AddSingleton<WorkersLifetime>();
        services.AddHostedService(sp => sp.GetRequiredService<WorkersLifetime>());
        services.AddJobs();
        services.AddSingleton<ModelJobOperations>();
        services.AddSingleton<HiveMetrics>();
        services.AddSingleton<IJobOperations, HiveJobOperations>();
        // Replace the hive foundation's seams (last registration wins): the real catalog and monitoring mode.
        services.AddSingleton<IWorkerTypeCatalog>(sp => new CatalogAdapter(sp.GetRequiredService<WorkerCatalog>()));
        services.AddSingleton<IMonitoringProbe>(sp => new MonitorProbe(sp.GetRequiredService<WorkerMonitor>()));
        services.AddOptions<HostOptions>().Configure<IOptions<WorkerOptions>>((h, w) =>
        {
            // The host must wait for the workers to stop (grace + kill) before it gives up on the hive's stop.
            var bound = WorkersLifetime.StopBound(w.Value) + TimeSpan.FromSeconds(5);
            if (h.ShutdownTimeout < bound) h.ShutdownTimeout = bound;
        });
        return services;
    }

    /// <summary>The <c>--host</c> a worker gets: the hive's bind address; "any" spelled the hive's way becomes 0.0.0.0.</summary>
    public static string WorkerHost(string bindAddress) => bindAddress switch
    {
        "*" => "0.0.0.0",
        "localhost" => "127.0.0.1",
        _ => bindAddress,
    };

    private sealed class CatalogAdapter(WorkerCatalog catalog) : IWorkerTypeCatalog
    {
        public IReadOnlyList<Contracts.Wire.WorkerTypeInfo> Describe() => catalog.Describe();
    }

    private sealed class MonitorProbe(WorkerMonitor monitor) : IMonitoringProbe
    {
        public Contracts.Wire.MonitoringInfo Describe() => monitor.Mode;
    }

    /// <summary>Fails start-up with the first problem, worded for the operator.</summary>
    private sealed class WorkerOptionsValidator : IValidateOptions<WorkerOptions>
    {
        public ValidateOptionsResult Validate(string? name, WorkerOptions options) =>
            options.Validate() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
    }
}
