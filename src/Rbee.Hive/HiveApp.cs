using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Hive.Capabilities;
using Rbee.Hive.Devices;
using Rbee.Hive.Discovery;
using Rbee.Hive.Identity;
using Rbee.Hive.Shutdown;
using Rbee.Hive.Telemetry;
using Rbee.Hosting;
using Rbee.Hosting.Security;
using Rbee.Platform.Configuration;

namespace Rbee.Hive;

/// <summary>
/// rbee-hive's wiring: its flags, options, services and endpoints. Program.cs stays a few calls long so other
/// capabilities (workers, models, jobs) add theirs beside these: <c>builder.Services.AddHiveWorkers()</c>,
/// <c>builder.AddHiveModels()</c>, <c>app.MapHiveJobs()</c>.
/// </summary>
public static class HiveApp
{
    public static readonly DaemonSpec Spec = new(
        "hive",
        "rbee-hive",
        new Dictionary<string, string>
        {
            ["--port"] = "Hive:Port",
            ["--bind"] = "Hive:BindAddress",
            ["--hive-id"] = "Hive:HiveId",
            ["--queen-url"] = "Hive:QueenUrl",
            ["--advertise-url"] = "Hive:AdvertiseUrl",
            ["--cgroup-root"] = "Hive:CgroupRoot",
            ["--models-dir"] = "Hive:ModelsDir",
            ["--run-dir"] = "Hive:RunDir",
            ["--state-dir"] = "Hive:StateDir",
            ["--stop-workers-on-exit"] = "Hive:StopWorkersOnExit",
            ["--telemetry-interval"] = "Protocol:TelemetryInterval",
        },
        new Dictionary<string, string>
        {
            ["RBEE_QUEEN_URL"] = "Hive:QueenUrl",
            ["RBEE_HIVE_ID"] = "Hive:HiveId",
        });

    /// <summary>Binds and validates the hive's options (exit 2 on a problem), listens, and registers the hive's services.</summary>
    public static HiveOptions AddHive(this WebApplicationBuilder builder)
    {
        var hive = OptionsBinding.Bind<HiveOptions>(builder.Configuration, HiveOptions.SectionName, static (c, o) => c.Bind(o), o => o.Validate());
        var protocol = ProtocolBinding.Bind(builder.Configuration);
        RbeeHost.Listen(builder, hive.BindAddress, hive.Port, new ServerLimits { MaxRequestBodyBytes = hive.MaxRequestBodyBytes });

        var services = builder.Services;
        services.AddSingleton(hive);
        services.AddSingleton(protocol);
        services.AddSingleton(sp => new HiveIdentity(hive.HiveId, HiveUrlResolver.Resolve(hive,
            sp.GetRequiredService<ClusterTokenOptions>().TokenRequired, () => sp.GetRequiredService<LocalAddresses>().FirstNonLoopback())));
        // The hive's one inotify instance, shared by worker monitoring and the model catalog (DESIGN.md "Workers under
        // the hive", Monitor: 128 instances per user).
        services.AddSingleton(sp => new Monitoring.Inotify(sp.GetRequiredService<ILogger<Monitoring.Inotify>>()));
        services.AddSingleton<NvidiaSmi>(_ => new NvidiaSmi());
        services.AddSingleton<DeviceInventory>();
        services.AddSingleton<IWorkerTypeCatalog, NoWorkerTypes>();
        services.AddSingleton<CapabilitiesBuilder>();
        services.AddSingleton<NodeStatsSampler>();
        services.AddSingleton<StreamSubscriptions>();
        services.AddSingleton<TelemetryHub>();
        services.AddHostedService(sp => sp.GetRequiredService<TelemetryHub>());
        services.AddSingleton<IQueenReadyClient, HttpQueenReadyClient>();
        services.AddSingleton(sp => new ReadySequence(
            sp.GetRequiredService<IQueenReadyClient>(),
            sp.GetRequiredService<HiveIdentity>().ToReady,
            sp.GetRequiredService<StreamSubscriptions>(),
            new Uri(hive.QueenUrl),
            protocol,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ReadySequence>>()));
        services.AddHostedService<DiscoveryService>();
        services.AddSingleton<HiveShutdown>();
        services.AddHostedService(sp => sp.GetRequiredService<HiveShutdown>());
        services.Configure<Microsoft.AspNetCore.Http.Json.JsonOptions>(o => o.SerializerOptions.TypeInfoResolverChain.Add(HiveJsonContext.Default));
        return hive;
    }

    /// <summary>The hive's own endpoints (DESIGN.md "Discovery and telemetry", "Security").</summary>
    public static WebApplication MapHive(this WebApplication app)
    {
        app.MapGet("/health", (HiveIdentity identity, ReadySequence ready, StreamSubscriptions subscriptions, TelemetryHub hub) =>
            Results.Json(new HiveHealth("ok", identity.HiveId, identity.InstanceId, identity.HiveUrl, identity.Version, identity.Protocol,
                ready.QueenUrl.ToString(), JsonNamingPolicy.SnakeCaseLower.ConvertName(ready.State.ToString()), subscriptions.OpenCount, hub.FramesBuilt),
                HiveJsonContext.Default.HiveHealth));
        app.MapGet("/capabilities", CapabilitiesEndpoint.HandleAsync);
        app.MapGet("/v1/capabilities", CapabilitiesEndpoint.HandleAsync);
        app.MapGet("/v1/heartbeats/stream", HeartbeatStreamEndpoint.HandleAsync).RequireClusterToken();
        app.MapPost("/v1/shutdown", (HttpContext context, HiveShutdown shutdown, ShutdownRequest? request) => shutdown.Handle(context, request))
            .RequireClusterToken();
        return app;
    }
}
