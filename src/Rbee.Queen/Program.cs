using Microsoft.Extensions.Options;
using Rbee.Contracts.Protocol;
using Rbee.Hosting;
using Rbee.Hosting.Configuration;
using Rbee.Hosting.Http;
using Rbee.Queen;
using Rbee.Queen.Cluster;
using Rbee.Queen.Configuration;
using Rbee.Queen.Discovery;
using Rbee.Queen.Http;
using Rbee.Queen.Jobs;
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
            var queen = OptionsBinding.Bind<QueenOptions>(builder.Configuration, QueenOptions.SectionName, o => o.Validate());
            var protocol = ProtocolBinding.Bind(builder.Configuration);
            builder.Services.AddSingleton(Options.Create(queen));
            builder.Services.AddSingleton(Options.Create(protocol));
            RbeeHost.Listen(builder, queen.Bind, queen.Port, new ServerLimits { MaxRequestBodyBytes = queen.MaxRequestBodyBytes });

            builder.Services.AddClusterView(protocol);
            builder.Services.AddSingleton<ClusterEventHub>();
            builder.Services.AddSingleton<HiveSubscriptions>();
            builder.Services.AddSingleton<QueenAddress>();
            builder.Services.AddHostedService<SummaryPublisher>();
            builder.Services.AddHostedService<SshConfigDiscovery>();
            builder.Services.AddHostedService<ClientWarmup>();
            builder.Services.AddQueenJobs();
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));

            var app = builder.Build();
            app.UseRbeePipeline();
            app.MapQueenEndpoints();
            app.MapQueenJobs();

            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Rbee.Queen");
            var token = app.Services.GetRequiredService<Rbee.Hosting.Security.ClusterTokenOptions>();
            app.Lifetime.ApplicationStarted.Register(() => Log.Started(logger, queen.Bind, queen.Port, ProtocolConstants.Version, token.TokenRequired));
            await app.RunAsync();
        }

        private static partial class Log
        {
            [LoggerMessage(EventId = QueenEventIds.Started, Level = LogLevel.Information, Message = "queen-rbee listening on {Bind}:{Port} (version {Version}, cluster token required: {TokenRequired})")]
            public static partial void Started(ILogger logger, string bind, int port, string version, bool tokenRequired);
        }
    }
}
