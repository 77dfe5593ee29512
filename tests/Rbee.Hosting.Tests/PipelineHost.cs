using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Rbee.Hosting.Security;
using Rbee.Testing;

namespace Rbee.Hosting.Tests;

/// <summary>A real Kestrel on a free loopback port with the shared pipeline and whatever endpoints a test maps.</summary>
internal sealed class PipelineHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    public HttpClient Client { get; }
    public int Port { get; }

    private PipelineHost(WebApplication app, int port)
    {
        _app = app;
        Port = port;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    /// <param name="settings">Configuration keys for the host, such as <c>Limits:MaxConnections</c>.</param>
    public static async Task<PipelineHost> StartAsync(string? token, Action<WebApplication> map, ServerLimits? limits = null,
        IReadOnlyDictionary<string, string?>? settings = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        var tokenOptions = new ClusterTokenOptions { ClusterToken = token };
        Assert.Null(tokenOptions.Resolve(_ => null));
        RbeeHost.AddHostingServices(builder.Services, tokenOptions);
        var port = FreePort.Next();
        RbeeHost.Listen(builder, "127.0.0.1", port, limits);
        var app = builder.Build();
        app.UseRbeePipeline();
        map(app);
        await app.StartAsync();
        return new PipelineHost(app, port);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
