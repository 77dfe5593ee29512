using System.Text;
using System.Text.Json;
using CsCheck;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Platform.Sse;
using Rbee.Queen.Cluster;

namespace Rbee.Fuzz.Tests;

/// <summary>What the queen reads from a hive's stream, and the SSE reader every stream goes through.</summary>
public sealed class StreamFuzzTests
{
    private static readonly string Frame = JsonSerializer.Serialize(new TelemetryFrame("h", "i1", 1, DateTimeOffset.UnixEpoch,
        new NodeStats(12.5, 1L << 30, 8L << 30, [new GpuStats("cuda:0", 50, 1L << 30, 8L << 30, 60)]),
        [
            new ProcessStats
            {
                Pid = 42, Group = "llm", Instance = "8080", Port = 8080, State = WorkerStates.Ready, Model = "/m.gguf", ModelId = "m",
                Device = "cpu", CpuPct = 1.5, RssMb = 100, VramMb = 10, UptimeS = 3,
            },
        ]) { ModelsVersion = 3 }, RbeeJsonContext.Default.TelemetryFrame);

    /// <summary>
    /// A frame as the queen's subscription takes it (deserialized, then applied when its hive and instance match) and
    /// as its views show it afterwards: <c>/v1/cluster</c> and the aggregate stream's events. A hive that sends nulls,
    /// negative numbers or wrong kinds must not stop the queen's loop for it.
    /// </summary>
    [Fact]
    public void TelemetryFrames_AppliedAndShown()
    {
        var registry = new ClusterRegistry(new HiveLiveness(new ProtocolOptions()), TimeProvider.System, NullLogger<ClusterRegistry>.Instance);
        var changes = registry.Subscribe();
        registry.Ready(new HiveReady("h", "http://10.0.0.5:7835", "i1", "0.1.0", ProtocolConstants.ProtocolVersion), new Uri("http://10.0.0.5:7835"));
        long seq = 1;
        Fuzz.MutatedJson(Frame).Check(json =>
        {
            TelemetryFrame? frame;
            try { frame = JsonSerializer.Deserialize(json, RbeeJsonContext.Default.TelemetryFrame); }
            catch (JsonException) { return; }
            if (frame is null) return;
            registry.ApplyFrame(frame with { HiveId = "h", InstanceId = "i1", Seq = ++seq }, Encoding.UTF8.GetBytes(json));
            JsonSerializer.Serialize(ClusterViews.View(registry.Current, DateTimeOffset.UtcNow), RbeeJsonContext.Default.ClusterView);
            while (changes.Reader.TryRead(out var change)) _ = Rbee.Queen.Telemetry.ClusterEventHub.ToEvent(change);
        });
    }

    /// <summary>Any bytes, in any chunks: events or the end, never an exception, and no line held past the reader's bound.</summary>
    [Fact]
    public void SseStreams()
    {
        var valid = Encoding.UTF8.GetBytes($"event: telemetry\ndata: {Frame}\n\n: queued position=1\n\nid: 7\nretry: 10\ndata: a\ndata: b\n\nevent: data\r\ndata: {{\"event\":\"done\"}}\r\n\r\ndata: [DONE]\n\n");
        Gen.Select(Fuzz.MutatedBytes(valid), Gen.Int[1, 64]).Check(c =>
        {
            var (bytes, chunk) = c;
            using var reader = new SseEventReader(new ChunkedStream(bytes, chunk), _ => { });
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var events = 0;
            try
            {
                while (reader.NextAsync(cts.Token).AsTask().GetAwaiter().GetResult() is not null) events++;
            }
            catch (InvalidDataException)
            {
                // The reader's own refusal (a line past its bound): the stream's end, said clearly.
            }
            Assert.InRange(events, 0, bytes.Length);
        });
    }

    /// <summary>Hands out a buffer at most <paramref name="chunk"/> bytes per read, as a network does.</summary>
    private sealed class ChunkedStream(byte[] data, int chunk) : Stream
    {
        private int _pos;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => data.Length;
        public override long Position { get => _pos; set => throw new NotSupportedException(); }
        public override void Flush() { }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, chunk), data.Length - _pos);
            Array.Copy(data, _pos, buffer, offset, n);
            _pos += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
