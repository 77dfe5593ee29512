using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Rbee.Contracts.Wire;
using Rbee.Queen.Routing;
using Rbee.Queen.Scheduling;
using Rbee.Queen.Telemetry;
using Rbee.Queen.Tests.Cluster;
using Rbee.Queen.Tests.Scheduling;

namespace Rbee.Queen.Tests.Routing;

/// <summary>
/// "No per-token allocation in the queen's path": the copy loop that hands a worker's SSE frames to the client allocates
/// nothing per frame. Measured as allocation that grows with the number of frames (Garnet's habit: allocations are
/// stable where wall time is not), with an upstream and a client that complete synchronously so the test thread does all
/// the work.
/// </summary>
public sealed class ForwardingAllocationTests
{
    private static readonly byte[] Frame = Encoding.UTF8.GetBytes(
        "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"text\":\" tok\",\"index\":0,\"finish_reason\":null}]}\n\n");

    /// <summary>A worker's response body: one SSE frame per read, as a worker writes one frame per token.</summary>
    private sealed class FrameStream(int frames) : Stream
    {
        private int _left = frames;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            if (_left-- <= 0) return 0;
            Frame.CopyTo(buffer);
            return Frame.Length;
        }
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => new(Read(buffer.Span));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static async Task<long> AllocatedForAsync(int frames)
    {
        var time = new FakeTimeProvider();
        var options = new SchedulingOptions();
        var cluster = new TestCluster().Hive("a", workers: [TestCluster.Worker(8080, "m")]);
        var scheduler = new Scheduler(new ModelIndex(() => cluster.Snapshot, options), new WorkerLoads(options, time), new LeastRequestsPolicy(),
            new SchedulerTests.FakeColdStarter(), options, time, NullLogger<Scheduler>.Instance);
        var lease = await scheduler.AcquireAsync("m", null, false, options.MaxWait, CancellationToken.None);
        var timeline = new RequestTimeline(new ClusterEventHub(ClusterFixtures.Registry(time)), time, NullLogger.Instance, "r", "/v1/completions");

        var context = new DefaultHttpContext();
        context.Response.Body = Stream.Null;
        var requestBody = new DefaultHttpContext();
        requestBody.Request.Body = new MemoryStream("{\"model\":\"m\",\"stream\":true}"u8.ToArray());
        using var body = await InferenceBody.ReadAsync(requestBody.Request, 1 << 20, CancellationToken.None);
        var client = new HttpInferenceClient(context, body, null!, "r");
        using var upstream = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new FrameStream(frames)) };
        upstream.Content.Headers.ContentType = new("text/event-stream");

        using var deadline = new WorkerDeadline(TimeSpan.FromMinutes(1), CancellationToken.None);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var delivering = client.DeliverAsync(upstream, lease, timeline, deadline);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // Completed on this thread, or the count above would have missed work done elsewhere.
        Assert.True(delivering.IsCompletedSuccessfully);
        Assert.Equal(DeliveryOutcome.Delivered, (await delivering).Outcome);
        lease.Release(RequestOutcome.Success);
        return allocated;
    }

    [Fact]
    public async Task HandingOnFrames_AllocatesNothingPerFrame()
    {
        await AllocatedForAsync(100); // warm-up: first calls initialise statics and pools
        var few = await AllocatedForAsync(1_000);
        var many = await AllocatedForAsync(11_000);
        var perFrame = (many - few) / 10_000.0;
        Assert.True(perFrame < 1, $"{perFrame:0.##} bytes allocated per frame ({few} bytes for 1,000 frames, {many} for 11,000)");
    }
}
