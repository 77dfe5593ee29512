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
    private readonly string _configDirectory;
    public HttpClient Client { get; }
    public int Port { get; }

    /// <summary>The token in force: the configured one, else the one created in the test's own token file.</summary>
    public string Token { get; }

    /// <summary>The token file a host without a configured token created (in a folder of the test's own).</summary>
    public string TokenFile => Path.Combine(_configDirectory, "rbee", "token");

    private PipelineHost(WebApplication app, int port, string configDirectory, string token)
    {
        _app = app;
        Port = port;
        _configDirectory = configDirectory;
        Token = token;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    /// <param name="token">The configured cluster token; null configures none, and the host creates its token file as a
    /// daemon does (in a folder of the test's own, never the user's ~/.config).</param>
    /// <param name="settings">Configuration keys for the host, such as <c>Limits:MaxConnections</c>.</param>
    public static async Task<PipelineHost> StartAsync(string? token, Action<WebApplication> map, ServerLimits? limits = null,
        IReadOnlyDictionary<string, string?>? settings = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        var config = Directory.CreateTempSubdirectory("rbee-pipeline-").FullName;
        var tokenOptions = new ClusterTokenOptions { ClusterToken = token };
        Assert.Null(tokenOptions.Resolve(_ => null, Path.Combine(config, "rbee", "token")));
        RbeeHost.AddHostingServices(builder.Services, tokenOptions);
        var port = FreePort.Next();
        RbeeHost.Listen(builder, "127.0.0.1", port, limits);
        var app = builder.Build();
        app.UseRbeePipeline();
        map(app);
        await app.StartAsync();
        return new PipelineHost(app, port, config, tokenOptions.Token!);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_configDirectory, recursive: true);
    }
}
