using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Rbee.Contracts.Json;
using Rbee.Hosting.Connections;
using Rbee.Hosting.Errors;
using Rbee.Hosting.Logging;
using Rbee.Hosting.Security;
using Rbee.Platform.Configuration;
using Rbee.Platform.Http;
using Rbee.Platform.Processes;

namespace Rbee.Hosting;

/// <summary>Server limits a daemon sets in code: small bodies (DESIGN.md "Security"). Connection limits and time-outs
/// are the operator's, section <c>Limits</c> (<see cref="ConnectionLimits"/>).</summary>
public sealed class ServerLimits
{
    /// <summary>Largest request body accepted; larger → 413 in the error shape.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1024 * 1024;
}

/// <summary>
/// The common start of a queen or hive: configuration (<see cref="DaemonConfiguration"/>), logging
/// (<see cref="RbeeLogging"/>), JSON through <see cref="RbeeJsonContext"/>, the cluster token (resolved and checked
/// at start-up), and the error shape. The daemon then binds its own options and calls <see cref="Listen"/>.
/// </summary>
public static class RbeeHost
{
    public static WebApplicationBuilder CreateBuilder(DaemonSpec spec, string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = spec.ProgramName,
            ContentRootPath = AppContext.BaseDirectory,
        });
        DaemonConfiguration.Apply(builder.Configuration, spec, args);
        RbeeLogging.Configure(builder.Logging, builder.Configuration);

        var token = OptionsBinding.Bind<ClusterTokenOptions>(builder.Configuration, section: null, static (c, o) => c.Bind(o));
        if (token.Resolve() is { } problem) throw new StartupException(problem);
        AddHostingServices(builder.Services, token);
        return builder;
    }

    /// <summary>The services behind the shared plumbing; public so tests can host an endpoint with them.</summary>
    public static IServiceCollection AddHostingServices(IServiceCollection services, ClusterTokenOptions token)
    {
        services.AddSingleton(token);
        services.TryAddSingleton<LocalAddresses>();
        services.TryAddSingleton<ClusterTokenAuthorizer>();
        services.TryAddSingleton(_ => new ClusterHttp(token.Token));
        services.TryAddSingleton(TimeProvider.System);
        services.Configure<JsonOptions>(o =>
        {
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, RbeeJsonContext.Default);
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
        });
        // Malformed bodies throw BadHttpRequestException with the parser's message, which the error-shape
        // middleware answers as 400 in OpenAI's shape (instead of an empty 400).
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return services;
    }

    /// <summary>
    /// Listens on <paramref name="bind"/>:<paramref name="port"/> with the shared limits and the operator's
    /// <see cref="ConnectionLimits"/> (section <c>Limits</c>, validated here: a bad value stops start-up with one line).
    /// Raises the soft descriptor limit to the hard one first, so the default connection limit is half of what the
    /// process may really open.
    /// </summary>
    public static ConnectionLimits Listen(WebApplicationBuilder builder, string bind, int port, ServerLimits? limits = null)
    {
        limits ??= new ServerLimits();
        var connections = OptionsBinding.Bind<ConnectionLimits>(builder.Configuration, ConnectionLimits.SectionName, static (c, o) => c.Bind(o), o => o.Validate());
        var maxConnections = connections.EffectiveMaxConnections(DescriptorLimit.RaiseSoftToHard());
        builder.WebHost.ConfigureKestrel(k => ApplyLimits(k, limits, connections, maxConnections));
        builder.WebHost.ConfigureKestrel(k => ListenOn(k, bind, port));
        builder.WebHost.UseSockets(o => o.Backlog = ListenBacklog);
        builder.Services.TryAddSingleton(connections);
        builder.Services.TryAddSingleton(new ConnectionLimitInForce(maxConnections, DescriptorLimit.Soft));
        builder.Services.AddHostedService<RefusedConnectionsLog>();
        return connections;
    }

    /// <summary>
    /// The kernel's queue of connections not yet accepted (clamped by <c>net.core.somaxconn</c>, 4096 on current
    /// kernels). Kestrel's default, 512, fills under a flood faster than a loaded 2-core machine accepts; Linux then
    /// drops the handshake's last ACK, so a client believes it is connected while the daemon has not seen it, until a
    /// SYN-ACK retransmission 1, 3 or 7 s later. A deep queue lets the daemon see, and close at once, every connection
    /// over its limit.
    /// </summary>
    public const int ListenBacklog = 4096;

    /// <summary>The Kestrel side of <see cref="Listen"/>; at <paramref name="maxConnections"/> Kestrel accepts a new
    /// connection and closes it at once (its <c>MaxConcurrentConnections</c>), so the daemon keeps accepting.</summary>
    public static void ApplyLimits(KestrelServerOptions k, ServerLimits limits, ConnectionLimits connections, long maxConnections)
    {
        k.AddServerHeader = false;
        k.Limits.MaxRequestBodySize = limits.MaxRequestBodyBytes;
        k.Limits.MaxConcurrentConnections = maxConnections;
        k.Limits.RequestHeadersTimeout = connections.RequestHeadersTimeout;
        k.Limits.KeepAliveTimeout = connections.KeepAliveTimeout;
    }

    private static void ListenOn(KestrelServerOptions k, string bind, int port)
    {
        switch (bind)
        {
            case "*" or "::" or "[::]":
                k.ListenAnyIP(port);
                break;
            case "localhost":
                k.ListenLocalhost(port);
                break;
            default:
                k.Listen(IPAddress.Parse(bind.Trim('[', ']')), port);
                break;
        }
    }

    /// <summary>True when <paramref name="bind"/> is a bind address <see cref="Listen"/> understands.</summary>
    public static bool IsValidBindAddress(string? bind) =>
        bind is "*" or "::" or "[::]" or "localhost" || (bind is not null && IPAddress.TryParse(bind.Trim('[', ']'), out _));

    /// <summary>The middleware every daemon runs: error shape first (it wraps everything), then cluster-token auth.</summary>
    public static WebApplication UseRbeePipeline(this WebApplication app)
    {
        ClusterTokenLog.Announce(app.Services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>().CreateLogger("Rbee.Hosting.Security"),
            app.Services.GetRequiredService<ClusterTokenOptions>());
        app.UseRbeeErrorShape();
        app.UseClusterTokenAuth();
        return app;
    }
}
