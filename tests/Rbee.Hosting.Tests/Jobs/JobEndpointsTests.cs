using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rbee.Hosting.Jobs;
using Rbee.Testing;

namespace Rbee.Hosting.Tests.Jobs;

/// <summary>The job endpoints over a real Kestrel socket on loopback, with operations of the test's own.</summary>
public sealed class JobEndpointsTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private readonly TaskCompletionSource _release = new();

    private sealed class TestOperations(Task release) : IJobOperations
    {
        public JobPlan Plan(string operation, JsonElement request) => operation switch
        {
            "echo" => JobFields.String(request, "text", out var err) is { } text
                ? JobPlan.Run((job, _) => { job.Narrate(text); job.Data("{\"echo\":true}"); return Task.CompletedTask; })
                : JobPlan.Invalid(err ?? "'text' is required", "text"),
            "wait" => JobPlan.Run(async (job, ct) => { job.Narrate("waiting"); await release.WaitAsync(ct); }),
            "fail" => JobPlan.Run((_, _) => throw new JobFailedException("it broke")),
            _ => JobPlan.UnknownOperation(operation),
        };
    }

    public async Task InitializeAsync()
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        builder.Services.AddJobs();
        builder.Services.AddSingleton<IJobOperations>(new TestOperations(_release.Task));
        _app = builder.Build();
        _app.MapJobs();
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public async Task DisposeAsync()
    {
        _release.TrySetResult();
        _http.Dispose();
        await _app.DisposeAsync();
    }

    private async Task<(HttpStatusCode, JsonElement)> Post(string json)
    {
        using var resp = await _http.PostAsync("/v1/jobs", new StringContent(json, Encoding.UTF8, "application/json"));
        return (resp.StatusCode, await resp.Content.ReadFromJsonAsync<JsonElement>());
    }

    private async Task<string> ReadStream(string sseUrl) => await _http.GetStringAsync(sseUrl);

    [Fact]
    public async Task Post_Returns202WithSseUrl_AndStreamEndsWithDone()
    {
        var (status, body) = await Post("{\"operation\":\"echo\",\"text\":\"hello\"}");
        Assert.Equal(HttpStatusCode.Accepted, status);
        var sse = body.GetProperty("sse_url").GetString()!;
        Assert.Equal($"/v1/jobs/{body.GetProperty("job_id").GetString()}/stream", sse);
        var text = await ReadStream(sse);
        Assert.Equal("data: hello\n\nevent: data\ndata: {\"echo\":true}\n\ndata: [DONE]\n\n", text);
        // a second, later subscriber gets the same whole stream
        Assert.Equal(text, await ReadStream(sse));
    }

    [Theory]
    [InlineData("{\"operation\":\"teleport\"}", "operation", "unknown_operation")]
    [InlineData("{\"text\":\"x\"}", "operation", "missing_operation")]
    [InlineData("{\"operation\":\"echo\",\"text\":5}", "text", "invalid_job")]
    [InlineData("{not json", null, "malformed_json")]
    [InlineData("{\"operation\":\"\\ud800\"}", "operation", "invalid_encoding")]
    [InlineData("{\"operation\":\"echo\",\"text\":\"\\ud800\"}", "text", "invalid_job")]
    [InlineData("[1,2]", null, "malformed_json")]
    public async Task InvalidOnItsFace_Is400InOpenAiShape(string json, string? param, string code)
    {
        var (status, body) = await Post(json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = body.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task FailureWhileRunning_EndsWithErrorLine()
    {
        var (_, body) = await Post("{\"operation\":\"fail\"}");
        var text = await ReadStream(body.GetProperty("sse_url").GetString()!);
        Assert.Equal("data: [ERROR] it broke\n\n", text);
    }

    [Fact]
    public async Task Delete_CancelsARunningJob_ThenItIsFinished()
    {
        var (_, body) = await Post("{\"operation\":\"wait\"}");
        var id = body.GetProperty("job_id").GetString()!;
        using var del = await _http.DeleteAsync($"/v1/jobs/{id}");
        Assert.Equal(HttpStatusCode.Accepted, del.StatusCode);
        var text = await ReadStream($"/v1/jobs/{id}/stream");
        Assert.EndsWith("data: [CANCELLED]\n\n", text, StringComparison.Ordinal);
        Assert.StartsWith("data: waiting\n\n", text, StringComparison.Ordinal);
        using var again = await _http.DeleteAsync($"/v1/jobs/{id}");
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
    }

    [Fact]
    public async Task UnknownJob_Is404_ForStreamAndDelete()
    {
        using var get = await _http.GetAsync("/v1/jobs/nope/stream");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal("job_not_found", (await get.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        using var del = await _http.DeleteAsync("/v1/jobs/nope");
        Assert.Equal(HttpStatusCode.NotFound, del.StatusCode);
    }
}
