using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Platform.Sse;

namespace Rbee.Platform.Tests.Sse;

/// <summary>The exact bytes every rbee SSE stream carries (DESIGN.md "Wire contract": jobs, telemetry, streamed completions).</summary>
public sealed class SseWriterTests
{
    private readonly MemoryStream _wire = new();

    private string Sent => Encoding.UTF8.GetString(_wire.ToArray());

    [Fact]
    public async Task JobStreamFrames_AreTheWireContractsBytes()
    {
        var sse = new SseWriter(_wire);
        await sse.WriteDataAsync("hello", CancellationToken.None);
        await sse.WriteDataAsync("{\"a\":1}", CancellationToken.None, eventName: "data");
        await sse.WriteDataAsync("[DONE]", CancellationToken.None);
        await sse.WriteDataAsync("[ERROR] bad", CancellationToken.None);
        await sse.WriteDataAsync("[CANCELLED]", CancellationToken.None);

        Assert.Equal("data: hello\n\nevent: data\ndata: {\"a\":1}\n\ndata: [DONE]\n\ndata: [ERROR] bad\n\ndata: [CANCELLED]\n\n", Sent);
    }

    [Fact]
    public async Task MultiLineText_BecomesOneDataLinePerLine()
    {
        var sse = new SseWriter(_wire);
        await sse.WriteDataAsync("one\r\ntwo\nthree", CancellationToken.None);
        Assert.Equal("data: one\ndata: two\ndata: three\n\n", Sent);
    }

    [Fact]
    public async Task JsonEvents_AreOneDataLine_WithOrWithoutAName()
    {
        var sse = new SseWriter(_wire);
        await sse.WriteEventAsync("accepted", new JobAccepted("j1", "/v1/jobs/j1/stream"), RbeeJsonContext.Default.JobAccepted, CancellationToken.None);
        await sse.WriteEventAsync(null, new JobAccepted("j2", "/x"), RbeeJsonContext.Default.JobAccepted, CancellationToken.None);
        await sse.WriteEventAsync("telemetry", "{\"seq\":1}"u8.ToArray(), CancellationToken.None);

        Assert.Equal(
            "event: accepted\ndata: {\"job_id\":\"j1\",\"sse_url\":\"/v1/jobs/j1/stream\"}\n\n" +
            "data: {\"job_id\":\"j2\",\"sse_url\":\"/x\"}\n\n" +
            "event: telemetry\ndata: {\"seq\":1}\n\n", Sent);
    }

    [Fact]
    public async Task TheWritersEncoder_DecidesTheEscaping()
    {
        // The worker streams model text: with the relaxed encoder "<" and non-ASCII letters go out as they are.
        var relaxed = new SseWriter(_wire, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        await relaxed.WriteEventAsync(null, new JobAccepted("<é>", "/"), RbeeJsonContext.Default.JobAccepted, CancellationToken.None);
        Assert.Equal("data: {\"job_id\":\"<é>\",\"sse_url\":\"/\"}\n\n", Sent);

        var strict = new MemoryStream();
        await new SseWriter(strict).WriteEventAsync(null, new JobAccepted("<é>", "/"), RbeeJsonContext.Default.JobAccepted, CancellationToken.None);
        Assert.Equal("data: {\"job_id\":\"\\u003C\\u00E9\\u003E\",\"sse_url\":\"/\"}\n\n", Encoding.UTF8.GetString(strict.ToArray()));
    }

    [Fact]
    public async Task Comments_AreOneLine()
    {
        var sse = new SseWriter(_wire);
        await sse.WriteCommentAsync("keep\nalive", CancellationToken.None);
        Assert.Equal(": keep alive\n\n", Sent);
    }

    [Fact]
    public async Task EveryEvent_IsOneWriteAndOneFlush()
    {
        var stream = new CountingStream();
        var sse = new SseWriter(stream);
        await sse.WriteDataAsync("a\nb", CancellationToken.None, "x");
        await sse.WriteEventAsync("accepted", new JobAccepted("j", "/"), RbeeJsonContext.Default.JobAccepted, CancellationToken.None);
        Assert.Equal((2, 2), (stream.Writes, stream.Flushes));
    }

    [Fact]
    public async Task WrittenEvents_ReadBackThroughTheReader()
    {
        var sse = new SseWriter(_wire);
        await sse.WriteCommentAsync("hello", CancellationToken.None);
        await sse.WriteDataAsync("line one\nline two", CancellationToken.None);
        await sse.WriteEventAsync("raw", "{\"a\":1}"u8.ToArray(), CancellationToken.None);
        _wire.Position = 0;
        using var reader = new SseEventReader(_wire);
        Assert.Equal(new SseEvent("message", "line one\nline two"), await reader.NextAsync(CancellationToken.None));
        Assert.Equal(new SseEvent("raw", "{\"a\":1}"), await reader.NextAsync(CancellationToken.None));
        Assert.Null(await reader.NextAsync(CancellationToken.None));
    }

    private sealed class CountingStream : MemoryStream
    {
        public int Writes { get; private set; }
        public int Flushes { get; private set; }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes++;
            return base.WriteAsync(buffer, cancellationToken);
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flushes++;
            return base.FlushAsync(cancellationToken);
        }
    }
}
