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
using Rbee.Hosting.Errors;
using Rbee.Hosting.Logging;
using Rbee.Hosting.Security;
using Rbee.Platform.Configuration;
using Rbee.Platform.Http;

namespace Rbee.Hosting;

/// <summary>Server limits shared by the daemons: small bodies, short header time-outs (DESIGN.md "Security").</summary>
public sealed class ServerLimits
{
    /// <summary>Largest request body accepted; larger → 413 in the error shape.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1024 * 1024;

    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(130);
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

    /// <summary>Listens on <paramref name="bind"/>:<paramref name="port"/> with the shared limits.</summary>
    public static void Listen(WebApplicationBuilder builder, string bind, int port, ServerLimits? limits = null)
    {
        limits ??= new ServerLimits();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = limits.MaxRequestBodyBytes;
            k.Limits.RequestHeadersTimeout = limits.RequestHeadersTimeout;
            k.Limits.KeepAliveTimeout = limits.KeepAliveTimeout;
            ListenOn(k, bind, port);
        });
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
