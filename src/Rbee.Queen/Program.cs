using System.Net;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using Rbee.Contracts.Protocol;
using Rbee.Queen;
using Rbee.Queen.Cluster;
using Rbee.Queen.Configuration;
using Rbee.Queen.Discovery;
using Rbee.Queen.Http;
using Rbee.Queen.Security;
using Rbee.Queen.Telemetry;

var builder = WebApplication.CreateBuilder(args);
// Later sources win: appsettings < RBEE_ env (RBEE_Queen__Port, RBEE_Protocol__TelemetryInterval) < flags.
builder.Configuration.AddEnvironmentVariables(ProtocolConstants.EnvironmentPrefix);
builder.Configuration.AddCommandLine(args, QueenFlags.SwitchMappings);
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
    o.UseUtcTimestamp = true;
});
builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
builder.Logging.AddFilter("System.Net.Http", LogLevel.Warning);

builder.Services.Configure<QueenOptions>(builder.Configuration.GetSection(QueenOptions.SectionName));
builder.Services.Configure<ProtocolOptions>(builder.Configuration.GetSection(ProtocolOptions.SectionName));
var queenOptions = builder.Configuration.GetSection(QueenOptions.SectionName).Get<QueenOptions>() ?? new QueenOptions();
var protocolOptions = builder.Configuration.GetSection(ProtocolOptions.SectionName).Get<ProtocolOptions>() ?? new ProtocolOptions();
if ((queenOptions.Validate() ?? protocolOptions.Validate()) is { } problem)
{
    Console.Error.WriteLine($"queen-rbee: invalid configuration: {problem}");
    return 2;
}

builder.WebHost.ConfigureKestrel(k =>
{
    k.Listen(queenOptions.Bind == "localhost" ? IPAddress.Loopback : IPAddress.Parse(queenOptions.Bind), queenOptions.Port);
    k.Limits.MaxRequestBodySize = queenOptions.MaxRequestBodyBytes;
    k.AddServerHeader = false;
});

builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(ClusterToken.From(queenOptions));
builder.Services.AddSingleton<ClusterTokenFilter>();
builder.Services.AddSingleton<HiveHttp>();
builder.Services.AddSingleton<ClusterEventHub>();
builder.Services.AddSingleton(sp => new HiveLiveness(sp.GetRequiredService<IOptions<ProtocolOptions>>().Value));
builder.Services.AddSingleton<ClusterRegistry>();
builder.Services.AddSingleton<HiveSubscriptions>();
builder.Services.AddSingleton<QueenAddress>();
builder.Services.AddHostedService<LivenessMonitor>();
builder.Services.AddHostedService<SummaryPublisher>();
builder.Services.AddHostedService<SshConfigDiscovery>();
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));

var app = builder.Build();

// Every failure answers in OpenAI's error shape, including the framework's own 404/405/413 and exceptions.
app.UseExceptionHandler(new ExceptionHandlerOptions
{
    ExceptionHandler = context =>
    {
        var status = context.Features.Get<IExceptionHandlerFeature>()?.Error is BadHttpRequestException bad ? bad.StatusCode : 500;
        var (type, code, message) = ErrorResults.ForStatus(status);
        return ErrorResults.WriteAsync(context, status, message, type, code);
    },
});
app.UseStatusCodePages(context =>
{
    var (type, code, message) = ErrorResults.ForStatus(context.HttpContext.Response.StatusCode);
    return ErrorResults.WriteAsync(context.HttpContext, context.HttpContext.Response.StatusCode, message, type, code);
});
app.MapQueenEndpoints();

var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Rbee.Queen");
app.Lifetime.ApplicationStarted.Register(() => QueenLog.Started(logger, queenOptions.Bind, queenOptions.Port,
    ProtocolConstants.Version, app.Services.GetRequiredService<ClusterToken>().Value is not null));
await app.RunAsync();
return 0;

namespace Rbee.Queen
{
    /// <summary>Command-line flags of queen-rbee, mapped onto configuration keys.</summary>
    public static class QueenFlags
    {
        public static readonly Dictionary<string, string> SwitchMappings = new()
        {
            ["--port"] = "Queen:Port",
            ["--bind"] = "Queen:Bind",
            ["--advertise-url"] = "Queen:AdvertiseUrl",
            ["--ssh-config"] = "Queen:SshConfigPath",
            ["--settle-delay"] = "Queen:SettleDelay",
        };
    }

    internal static partial class QueenLog
    {
        [LoggerMessage(EventId = QueenEventIds.Started, Level = LogLevel.Information, Message = "queen-rbee listening on {Bind}:{Port} (version {Version}, cluster token {TokenConfigured})")]
        public static partial void Started(ILogger logger, string bind, int port, string version, bool tokenConfigured);
    }
}
