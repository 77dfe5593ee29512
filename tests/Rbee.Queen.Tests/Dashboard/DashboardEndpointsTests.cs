using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rbee.Hosting;
using Rbee.Hosting.Security;
using Rbee.Queen.Dashboard;
using Rbee.Testing;

namespace Rbee.Queen.Tests.Dashboard;

/// <summary>The dashboard's files over real Kestrel, behind the queen's pipeline with a cluster token configured.</summary>
public sealed class DashboardEndpointsTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var port = FreePort.Next();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, port));
        var token = new ClusterTokenOptions { ClusterToken = "s3cret-token-for-the-dashboard-test" };
        Assert.Null(token.Resolve(_ => null));
        RbeeHost.AddHostingServices(builder.Services, token);
        _app = builder.Build();
        _app.UseRbeePipeline();
        // A guarded endpoint beside the page: the same pipeline refuses it without the token.
        _app.MapGroup("").RequireClusterToken().MapGet("/v1/cluster", () => Results.Ok());
        _app.MapDashboard();
        await _app.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    [Theory]
    [InlineData("/", "text/html")]
    [InlineData("/dashboard/index.html", "text/html")]
    [InlineData("/dashboard/app.js", "text/javascript")]
    [InlineData("/dashboard/app.css", "text/css")]
    [InlineData("/dashboard/favicon.svg", "image/svg+xml")]
    public async Task PageAndAssets_AreServedWithoutTheToken_WithTheirContentTypeAndRevalidation(string path, string mediaType)
    {
        using var response = await _client.GetAsync(path);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.NotEmpty(body);
        Assert.True(response.Headers.CacheControl?.NoCache, $"{path}: Cache-Control {response.Headers.CacheControl}");
        Assert.NotNull(response.Headers.ETag);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());

        // Revalidation with the ETag costs no body.
        using var again = new HttpRequestMessage(HttpMethod.Get, path);
        again.Headers.IfNoneMatch.Add(response.Headers.ETag!);
        using var notModified = await _client.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Empty(await notModified.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task ThePage_RunsOnlyItsOwnScript_AndLoadsItsAssetsFromTheQueen()
    {
        using var response = await _client.GetAsync("/");
        var html = await response.Content.ReadAsStringAsync();

        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("connect-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("src=\"/dashboard/app.js\"", html, StringComparison.Ordinal);
        Assert.Contains("href=\"/dashboard/app.css\"", html, StringComparison.Ordinal);
        // No CDN: nothing the page loads comes from another origin.
        Assert.DoesNotMatch("(src|href)=\"(https?:)?//", html);
        // The guarded surface beside it still wants the token.
        using var guarded = await _client.GetAsync("/v1/cluster");
        Assert.Equal(HttpStatusCode.Unauthorized, guarded.StatusCode);
    }

    [Theory]
    [InlineData("/dashboard/nope.js")]
    [InlineData("/dashboard/")]
    [InlineData("/dashboard/../Program.cs")]
    [InlineData("/dashboard/sub/app.js")]
    public async Task UnknownDashboardPaths_Are404_InTheOpenAiErrorShape(string path)
    {
        using var response = await _client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()), body);
        Assert.Equal("not_found_error", error.GetProperty("type").GetString());
        Assert.True(error.TryGetProperty("code", out _), body);
    }
}
