using Microsoft.Extensions.Options;
using Prometheus;
using Rbee.Hosting.Security;
using Rbee.Contracts.Protocol;
using Rbee.Hosting;
using Rbee.Hosting.Configuration;
using Rbee.Platform.Configuration;
using Rbee.Platform.Http;
using Rbee.Queen;
using Rbee.Queen.Cluster;
using Rbee.Queen.Configuration;
using Rbee.Queen.Dashboard;
using Rbee.Queen.Discovery;
using Rbee.Queen.Http;
using Rbee.Queen.Jobs;
using Rbee.Queen.Models;
using Rbee.Queen.Routing;
using Rbee.Queen.Scheduling;
using Rbee.Queen.Telemetry;

return await DaemonMain.RunAsync(QueenProgram.Spec, args, QueenProgram.RunAsync);

namespace Rbee.Queen
{
    /// <summary>queen-rbee's start: configuration, services and endpoints (DESIGN.md "Discovery and telemetry").</summary>
    public static partial class QueenProgram
    {
        public static readonly DaemonSpec Spec = new(
            Name: "queen",
            ProgramName: "queen-rbee",
            FlagAliases: new Dictionary<string, string>
            {
                ["--port"] = "Queen:Port",
                ["--bind"] = "Queen:Bind",
                ["--advertise-url"] = "Queen:AdvertiseUrl",
                ["--ssh-config"] = "Queen:SshConfigPath",
                ["--settle-delay"] = "Queen:SettleDelay",
            });

        public static async Task RunAsync(string[] args)
        {
            var builder = RbeeHost.CreateBuilder(Spec, args);
            var queen = OptionsBinding.Bind<QueenOptions>(builder.Configuration, QueenOptions.SectionName, static (c, o) => c.Bind(o), o => o.Validate());
            var protocol = ProtocolBinding.Bind(builder.Configuration);
            builder.Services.AddSingleton(Options.Create(queen));
            builder.Services.AddSingleton(Options.Create(protocol));
            RbeeHost.Listen(builder, queen.Bind, queen.Port, new ServerLimits { MaxRequestBodyBytes = queen.MaxRequestBodyBytes });
            builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = queen.InlineScheduling);
            // Read once by the runtime's socket engine when the first socket is used, which is later than this line.
            if (queen.InlineScheduling) Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");

            var cluster = OptionsBinding.Bind<ClusterOptions>(builder.Configuration, ClusterOptions.SectionName, static (c, o) => c.Bind(o), o => o.Validate());
            builder.Services.AddSingleton(cluster);
            builder.Services.AddClusterView(protocol);
            builder.Services.AddSingleton<ClusterEventHub>();
            builder.Services.AddSingleton<HiveSubscriptions>();
            builder.Services.AddSingleton<QueenAddress>();
            builder.Services.AddHostedService<SummaryPublisher>();
            builder.Services.AddHostedService<SshConfigDiscovery>();
            builder.Services.AddHostedService<ClientWarmup>();
            builder.Services.AddQueenJobs();
            AddScheduling(builder);
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));

            var app = builder.Build();
            app.UseRbeePipeline();
            app.MapQueenEndpoints();
            app.MapQueenJobs();
            app.MapInferenceEndpoints();
            app.MapQueenLogs();
            app.MapConfigReport(Spec);
            // Prometheus text; the cluster's shape and traffic are for those who hold the token (scrape with it as bearer).
            app.MapMetrics("/metrics", app.Services.GetRequiredService<Rbee.Queen.Telemetry.QueenMetrics>().Registry).RequireClusterToken();
            app.MapDashboard();

            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Rbee.Queen");
            var token = app.Services.GetRequiredService<Rbee.Hosting.Security.ClusterTokenOptions>();
            var keys = app.Services.GetRequiredService<ApiKeyAuthorizer>();
            app.Lifetime.ApplicationStarted.Register(() =>
            {
                Log.Started(logger, queen.Bind, queen.Port, ProtocolConstants.Version, token.TokenRequired);
                if (keys.KeysConfigured) Log.ApiKeysRequired(logger, queen.Port);
                else Log.ApiLocalOnly(logger, queen.Port);
            });
            await app.RunAsync();
        }

        /// <summary>The OpenAI surface: scheduling, admission, the forwarder, API keys (DESIGN.md "Scheduling and routing"); models
        /// across the cluster: aliases, pulls on demand, the model jobs (issue 10).</summary>
        private static void AddScheduling(WebApplicationBuilder builder)
        {
            var scheduling = OptionsBinding.Bind<SchedulingOptions>(builder.Configuration, SchedulingOptions.SectionName, SchedulingOptions.BindFrom, o => o.Validate());
            var api = OptionsBinding.Bind<ApiOptions>(builder.Configuration, ApiOptions.SectionName, static (c, o) => c.Bind(o), o => o.Validate());
            var models = OptionsBinding.Bind<ModelOptions>(builder.Configuration, ModelOptions.SectionName, static (c, o) => c.Bind(o), o => o.Validate());
            var keys = api.LoadKeys();
            var services = builder.Services;
            services.AddSingleton(models);
            services.AddSingleton<IPullPlacement, MostFreeMemoryPullPlacement>();
            services.AddSingleton(sp => ActivatorUtilities.CreateInstance<ModelPulls>(sp,
                sp.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping));
            services.AddSingleton<ModelJobs>();
            services.AddSingleton(scheduling);
            services.AddSingleton(api);
            services.AddSingleton(sp => new ApiKeyAuthorizer(keys, sp.GetRequiredService<Rbee.Hosting.Security.ClusterTokenOptions>(),
                sp.GetRequiredService<Rbee.Hosting.Security.LocalAddresses>(), sp.GetRequiredService<ILogger<ApiKeyAuthorizer>>()));
            services.AddSingleton(sp => new WorkerLoads(scheduling, sp.GetRequiredService<TimeProvider>()));
            // Registered after the cluster view's default (which knows no load), so /v1/cluster shows the scheduler's figures.
            services.AddSingleton<IWorkerLoadView, SchedulerLoadView>();
            services.AddSingleton(sp => new ModelIndex(() => sp.GetRequiredService<ClusterRegistry>().Current, scheduling, models.Aliases));
            services.AddSingleton(LoadBalancingPolicies.Create(scheduling.Policy));
            services.AddSingleton<IPlacementPolicy, MostFreeMemoryPlacement>();
            services.AddSingleton<HiveJobClient>();
            services.AddSingleton<IColdStarter>(sp => ActivatorUtilities.CreateInstance<HiveColdStarter>(sp,
                (Func<Rbee.Contracts.Wire.ModelInfo, string, long>)WorkerMemory.Estimate));
            services.AddSingleton<IDiscoveryWindow>(sp => ActivatorUtilities.CreateInstance<DiscoveryWindow>(sp,
                new DateTimeOffset(System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime())));
            services.AddSingleton(sp => ActivatorUtilities.CreateInstance<Scheduler>(sp,
                sp.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping));
            services.AddSingleton(sp => new WorkerForwarder(connectTimeout: TimeSpan.FromSeconds(5),
                clusterToken: sp.GetRequiredService<Rbee.Hosting.Security.ClusterTokenOptions>().Token));
            services.AddSingleton<IWorkerProbe>(sp => sp.GetRequiredService<WorkerForwarder>());
            services.AddSingleton<InFlightRequests>();
            services.AddSingleton(sp => new InferencePipeline(sp.GetRequiredService<Scheduler>(), scheduling, sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ModelPulls>(), sp.GetRequiredService<InFlightRequests>()));
            services.AddSingleton<InferJob>();
            services.AddSingleton(sp => new Rbee.Queen.Telemetry.QueenMetrics(sp.GetRequiredService<ClusterRegistry>(),
                () => sp.GetRequiredService<Scheduler>().QueuedTotal, sp.GetRequiredService<WorkerLoads>(), sp.GetRequiredService<TimeProvider>()));
            services.AddHostedService<SchedulerPump>();
            services.AddHostedService<WorkerHealthProber>();
            services.AddHostedService<UnreachableWorkerSweep>();
            services.AddHostedService<IdleReaper>();
            // Hives on other machines, managed over SSH (issue 14).
            services.AddSingleton(sp => new Rbee.Queen.Remote.ManagedHives(sp.GetRequiredService<IOptions<QueenOptions>>().Value.ResolvedStateDir));
            services.AddSingleton(sp => new Rbee.Queen.Audit.AuditLog(sp.GetRequiredService<IOptions<QueenOptions>>().Value.ResolvedStateDir, sp.GetRequiredService<TimeProvider>()));
            services.AddSingleton<Rbee.Queen.Remote.ManagedHiveJobs>();
            services.AddSingleton<Rbee.Queen.Remote.HiveSupervisor>();
            services.AddHostedService(sp => sp.GetRequiredService<Rbee.Queen.Remote.HiveSupervisor>());
        }

        private static partial class Log
        {
            [LoggerMessage(EventId = QueenEventIds.ApiOpenness, Level = LogLevel.Information, Message = "OpenAI endpoints at :{Port}/v1 require an API key (Api:Keys)")]
            public static partial void ApiKeysRequired(ILogger logger, int port);

            [LoggerMessage(EventId = QueenEventIds.ApiOpenness, Level = LogLevel.Information, Message = "OpenAI endpoints at :{Port}/v1 answer only callers on this machine; set Api:Keys (or Api:KeysFile) to serve the network")]
            public static partial void ApiLocalOnly(ILogger logger, int port);

            [LoggerMessage(EventId = QueenEventIds.Started, Level = LogLevel.Information, Message = "queen-rbee listening on {Bind}:{Port} (version {Version}, cluster token required: {TokenRequired})")]
            public static partial void Started(ILogger logger, string bind, int port, string version, bool tokenRequired);
        }
    }
}
