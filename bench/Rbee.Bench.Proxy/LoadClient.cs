using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace Rbee.Bench.Proxy;

/// <summary>One request body the benchmark sends: a short completion, streamed (SSE) or not.</summary>
internal sealed record Shape(string Name, byte[] Body, bool Stream);

/// <summary>Where requests go: the worker itself, the queen, or nginx; and the processes whose CPU is the proxy's cost.</summary>
internal sealed record Target(string Name, Uri CompletionsUrl, IReadOnlyList<int> ProxyPids);

/// <summary>One request as the client saw it. Times are in milliseconds from just before the send.</summary>
internal readonly record struct Sample(double FirstByteMs, double TotalMs, bool Ok, string? Error);

/// <summary>A batch of requests to one target at one concurrency: its samples, wall time and the CPU ticks spent meanwhile.</summary>
internal sealed record Batch(Sample[] Samples, TimeSpan Wall, long ProxyTicks, long WorkerTicks);

/// <summary>
/// The measuring client: one pooled <see cref="SocketsHttpHandler"/> (no proxy, connections kept) for every target, so
/// each target sees the same client. Each request is timed from the send to the first byte of its body
/// (<see cref="HttpCompletionOption.ResponseHeadersRead"/>, then the first read of the content stream) and to its end; every
/// body is read whole and checked: status 200, and for a stream the closing <c>data: [DONE]</c>.
/// </summary>
internal sealed class LoadClient : IDisposable
{
    private const int BufferSize = 16 * 1024;
    private readonly HttpMessageInvoker _invoker = new(new SocketsHttpHandler
    {
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        // No traceparent header on the benchmark's requests: it would be one more header for each hop to copy.
        ActivityHeadersPropagator = null,
    }, disposeHandler: true);

    private readonly int _workerPid;

    public LoadClient(int workerPid) => _workerPid = workerPid;

    /// <summary>Sends <paramref name="count"/> requests of <paramref name="shape"/> to <paramref name="target"/>, keeping
    /// <paramref name="concurrency"/> in flight, and counts the CPU the target's proxy and the worker spent meanwhile.</summary>
    public async Task<Batch> RunAsync(Target target, Shape shape, int concurrency, int count, CancellationToken ct)
    {
        var samples = new Sample[count];
        var next = -1;
        int[] worker = [_workerPid];
        var proxy0 = ProcCpu.Ticks(target.ProxyPids);
        var worker0 = ProcCpu.Ticks(worker);
        var t0 = Stopwatch.GetTimestamp();
        var lanes = new Task[concurrency];
        for (var lane = 0; lane < concurrency; lane++)
        {
            lanes[lane] = Task.Run(async () =>
            {
                var buffer = new byte[BufferSize];
                int i;
                while ((i = Interlocked.Increment(ref next)) < count) samples[i] = await SendAsync(target.CompletionsUrl, shape, buffer, ct);
            }, ct);
        }
        await Task.WhenAll(lanes);
        var wall = Stopwatch.GetElapsedTime(t0);
        return new Batch(samples, wall, ProcCpu.Ticks(target.ProxyPids) - proxy0, ProcCpu.Ticks(worker) - worker0);
    }

    private async Task<Sample> SendAsync(Uri url, Shape shape, byte[] buffer, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(shape.Body), Version = HttpVersion.Version11 };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var t0 = Stopwatch.GetTimestamp();
        try
        {
            using var response = await _invoker.SendAsync(request, ct);
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            var n = await body.ReadAsync(buffer, ct);
            var firstByte = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            var length = 0L;
            var tailBytes = new TailWindow();
            while (n > 0)
            {
                length += n;
                tailBytes.Append(buffer.AsSpan(0, n));
                n = await body.ReadAsync(buffer, ct);
            }
            var total = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            string? error = null;
            if (response.StatusCode != HttpStatusCode.OK) error = $"status {(int)response.StatusCode}";
            else if (length == 0) error = "empty body";
            else if (shape.Stream && !tailBytes.EndsWithDone()) error = "stream without data: [DONE]";
            return new Sample(firstByte, total, error is null, error);
        }
        catch (Exception e) when (e is HttpRequestException or IOException && !ct.IsCancellationRequested)
        {
            return new Sample(double.NaN, Stopwatch.GetElapsedTime(t0).TotalMilliseconds, false, e.GetType().Name + ": " + e.Message);
        }
    }

    public void Dispose() => _invoker.Dispose();

    /// <summary>The last bytes of a body, across reads, to see how a stream ended without keeping the body.</summary>
    private struct TailWindow
    {
        private const int Size = 32;
        private byte[]? _bytes;
        private int _length;

        public void Append(ReadOnlySpan<byte> chunk)
        {
            _bytes ??= new byte[Size];
            if (chunk.Length >= Size)
            {
                chunk[^Size..].CopyTo(_bytes);
                _length = Size;
                return;
            }
            var keep = Math.Min(_length, Size - chunk.Length);
            _bytes.AsSpan(_length - keep, keep).CopyTo(_bytes);
            chunk.CopyTo(_bytes.AsSpan(keep));
            _length = keep + chunk.Length;
        }

        public readonly bool EndsWithDone() => _bytes is not null && _bytes.AsSpan(0, _length).TrimEnd("\r\n "u8).EndsWith("data: [DONE]"u8);
    }
}
