using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Rbee.Hosting.Logging;

/// <summary>
/// One line per event on the console, UTC timestamps, no scopes (STYLE.md §4). Framework chatter that would repeat
/// per request or per outgoing call (request logs, HttpClient's per-call lines) is held at Warning, so a daemon
/// that has nothing to say is silent.
/// </summary>
public static class RbeeLogging
{
    public static void Configure(ILoggingBuilder logging, IConfiguration configuration)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(LogLevel.Information);
        logging.AddFilter("Microsoft", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        logging.AddFilter("System.Net.Http", LogLevel.Warning);
        // One Warning per connection refused at Limits:MaxConnections would flood the log during a connection flood:
        // RefusedConnectionsLog says it once per interval with the count.
        logging.AddFilter("Microsoft.AspNetCore.Server.Kestrel.Connections", LogLevel.Error);
        // A failed start (port in use) is reported by DaemonMain as one line; the host's own report is a stack trace.
        logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        logging.AddConfiguration(configuration.GetSection("Logging"));
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.IncludeScopes = false;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.ColorBehavior = LoggerColorBehavior.Disabled;
        });
    }
}
