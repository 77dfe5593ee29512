using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Errors;
using Microsoft.Extensions.Logging;
using Rbee.Hosting.Security;

namespace Rbee.Hosting.Tests.Errors;

public class ErrorShapeTests
{
    private static void Map(WebApplication app)
    {
        app.MapPost("/echo", (ShutdownRequest body) => Results.Ok(body));
        app.MapGet("/boom", IResult () => throw new InvalidOperationException("secret internals"));
        app.MapGet("/conflict", () => ApiErrors.Conflict("hive_id_taken", "held by another hive", "hive_id"));
        app.MapGet("/protected", () => "ok").RequireClusterToken();
        app.MapPost("/protected-body", (ShutdownRequest body) => Results.Ok(body)).RequireClusterToken();
    }

    private static async Task<(HttpStatusCode Status, JsonElement Error)> ErrorOf(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = doc.RootElement.GetProperty("error").Clone();
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.Equal(JsonValueKind.String, error.GetProperty("code").ValueKind);
        Assert.True(error.TryGetProperty("param", out _), "error.param missing");
        return (response.StatusCode, error);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    [Fact]
    public async Task UnknownRoute_Is404InErrorShape()
    {
        await using var host = await PipelineHost.StartAsync(null, Map);
        var (status, error) = await ErrorOf(await host.Client.GetAsync("/no/such/thing"));
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("not_found", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task WrongMethod_Is405InErrorShape()
    {
        await using var host = await PipelineHost.StartAsync(null, Map);
        var (status, _) = await ErrorOf(await host.Client.GetAsync("/echo"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, status);
    }

    [Fact]
    public async Task MalformedJson_Is400InErrorShape()
    {
        await using var host = await PipelineHost.StartAsync(null, Map);
        var (status, error) = await ErrorOf(await host.Client.PostAsync("/echo", Json("{\"stop_workers\": tru")));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task WellFormedJson_IsBoundSnakeCase()
    {
        await using var host = await PipelineHost.StartAsync(null, Map);
        var response = await host.Client.PostAsync("/echo", Json("{\"stop_workers\": false}"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"stop_workers\":false", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task OversizedBody_Is413InErrorShape()
    {
        await using var host = await PipelineHost.StartAsync(null, Map, new ServerLimits { MaxRequestBodyBytes = 1024 });
        var big = "{\"stop_workers\": true, \"pad\": \"" + new string('x', 4096) + "\"}";
        var (status, error) = await ErrorOf(await host.Client.PostAsync("/echo", Json(big)));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("payload_too_large", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task UnhandledException_Is500WithoutInternals()
    {
        await using var host = await PipelineHost.StartAsync(null, Map);
        var response = await host.Client.GetAsync("/boom");
        var (status, error) = await ErrorOf(response);
        Assert.Equal(HttpStatusCode.InternalServerError, status);
        Assert.DoesNotContain("secret internals", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task HandlerErrors_KeepTheirCodeAndParam()
    {
        await using var host = await PipelineHost.StartAsync(null, Map);
        var (status, error) = await ErrorOf(await host.Client.GetAsync("/conflict"));
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("hive_id_taken", error.GetProperty("code").GetString());
        Assert.Equal("hive_id", error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task ProtectedEndpoint_WithTokenConfigured_Is401WithoutIt_And200WithIt()
    {
        await using var host = await PipelineHost.StartAsync("t0ken", Map);
        var (status, error) = await ErrorOf(await host.Client.GetAsync("/protected"));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("authentication_error", error.GetProperty("type").GetString());

        using var request = new HttpRequestMessage(HttpMethod.Get, "/protected");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "t0ken");
        Assert.Equal(HttpStatusCode.OK, (await host.Client.SendAsync(request)).StatusCode);
    }

    [Fact]
    public async Task ProtectedEndpoint_RefusesBeforeReadingTheBody()
    {
        await using var host = await PipelineHost.StartAsync("t0ken", Map);
        var (status, _) = await ErrorOf(await host.Client.PostAsync("/protected-body", Json("{ not json")));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [Fact]
    public async Task ProtectedEndpoint_WithNoTokenConfigured_RefusesThisMachineToo_AndAcceptsTheCreatedFilesToken()
    {
        // Issue 12 §1: an unprivileged local user is a caller from this machine; loopback is no exemption.
        await using var host = await PipelineHost.StartAsync(null, Map);
        var (status, error) = await ErrorOf(await host.Client.GetAsync("/protected"));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("invalid_cluster_token", error.GetProperty("code").GetString());

        using var request = new HttpRequestMessage(HttpMethod.Get, "/protected");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(host.TokenFile).Trim());
        Assert.Equal(HttpStatusCode.OK, (await host.Client.SendAsync(request)).StatusCode);
    }
}

public class ClusterTokenWithoutMiddlewareTests
{
    [Fact]
    public async Task ProtectedRouteHandler_IsStillProtected_WhenTheDaemonForgotTheMiddleware()
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var token = new ClusterTokenOptions { ClusterToken = "t0ken" };
        Assert.Null(token.Resolve(_ => null));
        RbeeHost.AddHostingServices(builder.Services, token);
        var port = Rbee.Testing.FreePort.Next();
        RbeeHost.Listen(builder, "127.0.0.1", port);
        await using var app = builder.Build();
        app.MapGet("/protected", () => "ok").RequireClusterToken();
        await app.StartAsync();
        using var client = new HttpClient();
        var response = await client.GetAsync($"http://127.0.0.1:{port}/protected");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        await app.StopAsync();
    }
}
