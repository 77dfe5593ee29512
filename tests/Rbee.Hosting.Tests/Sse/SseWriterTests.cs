using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Sse;
using Rbee.Testing;

namespace Rbee.Hosting.Tests.Sse;

public class SseWriterTests
{
    [Fact]
    public async Task EventsArriveOneByOne_InOrder_WithNamesAndJson()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await PipelineHost.StartAsync(null, app => app.MapGet("/sse", async (HttpContext ctx) =>
        {
            var sse = await SseResponse.StartAsync(ctx.Response, ctx.RequestAborted);
            await sse.WriteCommentAsync("hello", ctx.RequestAborted);
            await sse.WriteEventAsync("accepted", new JobAccepted("j1", "/v1/jobs/j1/stream"), RbeeJsonContext.Default.JobAccepted, ctx.RequestAborted);
            // The first event must reach the reader while the handler still runs: no buffering.
            await release.Task.WaitAsync(ctx.RequestAborted);
            await sse.WriteEventAsync("raw", Encoding.UTF8.GetBytes("{\"a\":1}"), ctx.RequestAborted);
            await sse.WriteDataAsync("line one\nline two", ctx.RequestAborted);
            await sse.WriteDataAsync("[DONE]", ctx.RequestAborted);
        }));

        using var response = await host.Client.GetAsync("/sse", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        await using var stream = await response.Content.ReadAsStreamAsync();
        await using var events = SseReader.ReadAsync(stream).GetAsyncEnumerator();

        Assert.True(await events.MoveNextAsync());
        Assert.Equal("accepted", events.Current.Event);
        Assert.Equal("{\"job_id\":\"j1\",\"sse_url\":\"/v1/jobs/j1/stream\"}", events.Current.Data);
        release.SetResult();

        Assert.True(await events.MoveNextAsync());
        Assert.Equal(new SseEvent("raw", "{\"a\":1}"), events.Current);
        Assert.True(await events.MoveNextAsync());
        Assert.Equal(new SseEvent("message", "line one\nline two"), events.Current);
        Assert.True(await events.MoveNextAsync());
        Assert.Equal("[DONE]", events.Current.Data);
        Assert.False(await events.MoveNextAsync());
    }
}

public class SseKeepAliveTests
{
    [Fact]
    public async Task KeepAlive_SendsCommentsBesideEvents_WithoutInterleavingThem()
    {
        // The handler ends once the reader has seen a keep-alive (awaited, not slept for: under a loaded test run a fixed
        // 200 ms window sometimes held no timer tick at all).
        var keepAliveSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await PipelineHost.StartAsync(null, app => app.MapGet("/sse", async (HttpContext ctx) =>
        {
            var sse = await SseResponse.StartAsync(ctx.Response, ctx.RequestAborted);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
            var keepAlive = sse.KeepAliveAsync(TimeSpan.FromMilliseconds(20), stop.Token);
            for (var i = 0; i < 20; i++)
            {
                await sse.WriteDataAsync($"event {i}", ctx.RequestAborted);
                await Task.Yield();
            }
            await keepAliveSeen.Task.WaitAsync(TimeSpan.FromSeconds(30), ctx.RequestAborted);
            await stop.CancelAsync();
            await keepAlive;
            await sse.WriteDataAsync("[DONE]", ctx.RequestAborted);
        }));

        using var response = await host.Client.GetAsync("/sse", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var lines = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
        {
            lines.Add(line);
            if (line == ": keep-alive") keepAliveSeen.TrySetResult();
        }

        Assert.Contains(": keep-alive", lines);
        // Every non-blank line is a whole field: comments and data lines never run into each other.
        Assert.All(lines.Where(l => l.Length > 0), l => Assert.True(l == ": keep-alive" || l.StartsWith("data: ", StringComparison.Ordinal), l));
        var data = lines.Where(l => l.StartsWith("data: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"data: event {i}").Append("data: [DONE]"), data);
    }
}
