using System.Text;
using Rbee.Platform.Sse;

namespace Rbee.Platform.Tests.Sse;

public sealed class SseEventReaderTests
{
    private static async Task<List<SseEvent>> ReadAllAsync(string text)
    {
        using var reader = new SseEventReader(new MemoryStream(Encoding.UTF8.GetBytes(text)));
        var events = new List<SseEvent>();
        while (await reader.NextAsync(CancellationToken.None) is { } e) events.Add(e);
        return events;
    }

    [Fact]
    public async Task NamedEvents_CommentsAndCrLf()
    {
        var events = await ReadAllAsync(": keep-alive\n\nevent: telemetry\r\ndata: {\"seq\":1}\r\n\r\nevent:summary\ndata:{}\n\n");
        Assert.Equal([new SseEvent("telemetry", "{\"seq\":1}"), new SseEvent("summary", "{}")], events);
    }

    [Fact]
    public async Task Comments_GoToTheCommentCallback_InOrderWithTheEvents()
    {
        var seen = new List<string>();
        using var reader = new SseEventReader(new MemoryStream(Encoding.UTF8.GetBytes(": queued position=1\n:raw\n\ndata: a\n\n: loading\n\n")), c => seen.Add("comment " + c));
        while (await reader.NextAsync(CancellationToken.None) is { } e) seen.Add("event " + e.Data);
        Assert.Equal(["comment queued position=1", "comment raw", "event a", "comment loading"], seen);
    }

    [Fact]
    public async Task SeveralDataLines_AreJoinedWithNewlines_AndUnnamedEventsAreMessages()
    {
        var events = await ReadAllAsync("data: one\ndata: two\ndata:  three\n\ndata: four\n\n");
        Assert.Equal([new SseEvent("message", "one\ntwo\n three"), new SseEvent("message", "four")], events);
    }

    [Fact]
    public async Task EmptyDataLine_IsAnEventWithEmptyData()
    {
        // A job's blank narration line is "data: " followed by the blank line: it must reach the reader.
        var events = await ReadAllAsync("data: before\n\ndata: \n\ndata: [DONE]\n\n");
        Assert.Equal(["before", "", "[DONE]"], events.Select(e => e.Data));
    }

    [Fact]
    public async Task NameWithoutData_IsNotAnEvent_AndDoesNotLeakIntoTheNext()
    {
        var events = await ReadAllAsync("event: hive_state\n\ndata: x\n\n");
        Assert.Equal([new SseEvent("message", "x")], events);
    }

    [Fact]
    public async Task StreamEndingMidEvent_EndsWithoutIt()
    {
        Assert.Equal([new SseEvent("a", "1")], await ReadAllAsync("event: a\ndata: 1\n\nevent: b\ndata: 2\n"));
    }

    [Fact]
    public async Task CrLfAndCrEndLines_EvenWhenSplitAcrossReads()
    {
        // 16 Ki chars fill the reader's buffer: the CR of a CRLF ends one read, its LF starts the next.
        var pad = new string('p', 16 * 1024 - "data: ".Length - 1);
        var events = await ReadAllAsync($"data: {pad}\r\n\r\ndata: b\r\rdata: c\n\n");
        Assert.Equal([pad, "b", "c"], events.Select(e => e.Data));
    }

    [Fact]
    public async Task APeerThatNeverEndsALine_IsRefused_NotHeldWithoutBound()
    {
        using var reader = new SseEventReader(new EndlessLine());
        await Assert.ThrowsAsync<InvalidDataException>(async () => await reader.NextAsync(CancellationToken.None));
        using var many = new SseEventReader(new MemoryStream(Encoding.UTF8.GetBytes(
            string.Concat(Enumerable.Repeat("data: " + new string('d', 1 << 20) + "\n", 5)) + "\n")));
        await Assert.ThrowsAsync<InvalidDataException>(async () => await many.NextAsync(CancellationToken.None));
    }

    /// <summary>"data: aaaa…" and never a newline.</summary>
    private sealed class EndlessLine : Stream
    {
        private long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }

        public override int Read(byte[] buffer, int offset, int count)
        {
            // Far more than the bound, so a reader without one would fail the test by running out of time, not pass it.
            if (_read > 64L << 20) throw new InvalidOperationException("the reader kept reading one line past 64 MiB");
            buffer.AsSpan(offset, count).Fill((byte)'a');
            _read += count;
            return count;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
