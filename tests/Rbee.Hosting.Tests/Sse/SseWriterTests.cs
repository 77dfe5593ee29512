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
            var sse = await SseWriter.StartAsync(ctx.Response, ctx.RequestAborted);
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
