using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Rbee.Worker.Serving;

namespace Rbee.Worker.Tests.Serving;

/// <summary>The endpoints hosted in-process on a loopback port over <see cref="ScriptedModel"/>.</summary>
public sealed class InferenceEndpointsTests
{
    /// <summary>One slot over a three-token <see cref="ScriptedModel"/> ("a" is token 1), served on a free port.</summary>
    private static async Task<(WebApplication App, LoadedWorker Loaded)> StartAsync(Func<int, int> next)
    {
        var options = new WorkerOptions { ModelPath = "scripted.gguf", ModelId = "scripted", Parallel = 1 };
        var state = new WorkerState(options);
        var loaded = LoadedWorker.Create(new ScriptedModel(["<eos>", "a", "b"], next), options);
        state.Ready(loaded);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton(state).AddSingleton(new WorkerMetrics()).AddSingleton<InferenceEndpoints>();
        var app = builder.Build();
        InferenceEndpoints.Map(app);
        await app.StartAsync();
        return (app, loaded);
    }

    [Fact]
    public async Task RequestWaitingForASlot_WhenTheWorkerStops_Gets503InOpenAiShape()
    {
        var (app, loaded) = await StartAsync(t => t == 1 ? 2 : 1);
        using var __ = loaded; // disposed after the app has stopped
        await using var _ = app;

        // The only slot is held, so the request queues; arm the wait before sending it.
        var held = await loaded.Pool.AcquireAsync(new[] { 1 }, default);
        var queued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loaded.Pool.Changed += () => { if (loaded.Pool.QueueDepth == 1) queued.TrySetResult(); };
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        var response = http.PostAsync("/v1/completions",
            new StringContent("""{"prompt":"a","max_tokens":2}""", Encoding.UTF8, "application/json"));
        await queued.Task.WaitAsync(TimeSpan.FromSeconds(30));

        var stopping = app.StopAsync();
        using var r = await response.WaitAsync(TimeSpan.FromSeconds(30));
        held.Dispose();
        await stopping;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        using var body = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.Equal("worker_stopping", body.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task FailureMidStream_EndsWithAnErrorFrame_AndNoDone()
    {
        // a -> b, then the "engine" fails on b.
        var (app, loaded) = await StartAsync(t => t == 1 ? 2 : throw new InvalidOperationException("engine failure"));
        using var __ = loaded; // disposed after the app has stopped
        await using var _ = app;

        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        using var r = await http.PostAsync("/v1/completions",
            new StringContent("""{"prompt":"a","max_tokens":8,"stream":true}""", Encoding.UTF8, "application/json"));
        var frames = (await r.Content.ReadAsStringAsync())
            .Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(f => f["data: ".Length..]).ToList();
        await app.StopAsync();

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.DoesNotContain("[DONE]", frames);
        using var last = JsonDocument.Parse(frames[^1]);
        Assert.Equal("internal_error", last.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    // Issue 12 §4: routing answers these with no body; every status of every daemon carries OpenAI's error shape.
    [Theory]
    [InlineData("DELETE", "/v1/chat/completions", 405, "method_not_allowed")]
    [InlineData("GET", "/v1/completions", 405, "method_not_allowed")]
    [InlineData("GET", "/v1/no-such-thing", 404, "not_found")]
    public async Task StatusesRoutingAnswers_CarryOpenAisErrorShape(string method, string path, int status, string code)
    {
        var (app, loaded) = await StartAsync(t => 1);
        using var __ = loaded;
        await using var _ = app;
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        using var r = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        Assert.Equal(status, (int)r.StatusCode);
        Assert.Equal("application/json", r.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.Equal(code, body.RootElement.GetProperty("error").GetProperty("code").GetString());
        await app.StopAsync();
    }

    [Fact]
    public async Task InvalidUtf8InAChatMessage_Is400NamingMessages_Not500()
    {
        var (app, loaded) = await StartAsync(t => 1);
        using var __ = loaded;
        await using var _ = app;
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        byte[] json = [.. "{\"messages\":[{\"role\":\"user\",\"content\":\""u8, 0xff, .. " hi\"}]}"u8];
        using var content = new ByteArrayContent(json);
        content.Headers.ContentType = new("application/json");
        using var r = await http.PostAsync("/v1/chat/completions", content);
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        using var body = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.Equal("messages[0].content", body.RootElement.GetProperty("error").GetProperty("param").GetString());
        await app.StopAsync();
    }
}
