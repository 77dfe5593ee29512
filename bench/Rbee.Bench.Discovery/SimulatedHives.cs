using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;

namespace Rbee.Bench.Discovery;

/// <summary>
/// The load generator of the scale run: N hives, each on its own loopback port, speaking the real protocol —
/// <c>POST /v1/hive/ready</c> to the queen, <c>GET /capabilities</c>, and <c>GET /v1/heartbeats/stream</c> with a
/// snapshot at once and then one frame per interval, each with W workers whose numbers move.
/// </summary>
internal sealed class SimulatedHives : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<int, (string HiveId, string InstanceId)> _byPort = [];
    private readonly int _workers;
    private readonly int _count;
    private readonly TimeSpan _interval;
    private long _framesSent;

    public IReadOnlyList<int> Ports { get; private set; } = [];
    public long FramesSent => Interlocked.Read(ref _framesSent);

    private SimulatedHives(int count, int workers, TimeSpan interval)
    {
        _workers = workers;
        _interval = interval;
        _count = count;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            // Port 0 for each: the kernel picks distinct free ports, read back after start.
            for (var i = 0; i < count; i++) k.Listen(IPAddress.Loopback, 0);
        });
        _app = builder.Build();
        _app.MapGet("/capabilities", (HttpContext c) => Results.Json(Capabilities(c.Connection.LocalPort), RbeeJsonContext.Default.Capabilities));
        _app.MapGet("/v1/heartbeats/stream", StreamAsync);
        _app.MapPost("/v1/shutdown", () => Results.Ok());
    }

    public static async Task<SimulatedHives> StartAsync(int count, int workers, TimeSpan interval)
    {
        var hives = new SimulatedHives(count, workers, interval);
        await hives._app.StartAsync();
        var addresses = hives._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        hives.Ports = addresses.Select(a => new Uri(a).Port).ToList();
        for (var i = 0; i < hives.Ports.Count; i++) hives._byPort[hives.Ports[i]] = ($"sim-{i:D3}", Guid.NewGuid().ToString("N"));
        if (hives.Ports.Count != hives._count) throw new InvalidOperationException($"bound {hives.Ports.Count} of {hives._count} ports");
        return hives;
    }

    /// <summary>Every simulated hive sends its ready to the queen (in parallel, like hives starting together).</summary>
    public async Task SendReadiesAsync(HttpClient http, string queenUrl)
    {
        await Parallel.ForEachAsync(Ports, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (port, ct) =>
        {
            var (id, instance) = _byPort[port];
            var ready = new HiveReady(id, $"http://127.0.0.1:{port}", instance, ProtocolConstants.Version, ProtocolConstants.ProtocolVersion);
            using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(ready, RbeeJsonContext.Default.HiveReady));
            content.Headers.ContentType = new("application/json");
            using var response = await http.PostAsync($"{queenUrl}/v1/hive/ready", content, ct);
            response.EnsureSuccessStatusCode();
        });
    }

    private Capabilities Capabilities(int port)
    {
        var (id, instance) = _byPort[port];
        return new Capabilities(id, $"http://127.0.0.1:{port}", instance, ProtocolConstants.Version, ProtocolConstants.ProtocolVersion,
            new MonitoringInfo(MonitoringInfo.CgroupV2, "/sys/fs/cgroup/rbee.slice"),
            [new DeviceInfo("cpu", "cpu", "simulated", 16, 64L << 30), new DeviceInfo("cuda:0", "cuda", "simulated", VramTotalBytes: 24L << 30)],
            [new WorkerTypeInfo("llm", true, ProtocolConstants.LlmWorkerBasePort)]);
    }

    private async Task StreamAsync(HttpContext context)
    {
        var (id, instance) = _byPort[context.Connection.LocalPort];
        context.Response.ContentType = "text/event-stream";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var ct = context.RequestAborted;
        var random = new Random(context.Connection.LocalPort);
        using var timer = new PeriodicTimer(_interval);
        try
        {
            for (long seq = 0; ; seq++)
            {
                var workers = Enumerable.Range(0, _workers).Select(w => new ProcessStats
                {
                    Pid = 10_000 + w, Group = "llm", Instance = (8080 + w).ToString(System.Globalization.CultureInfo.InvariantCulture), Port = 8080 + w,
                    State = WorkerStates.Ready, Model = "model.gguf", Device = "cuda:0", CpuPct = random.NextDouble() * 100, RssMb = 800 + random.Next(100),
                    IoReadBps = 0, IoWriteBps = 0, UptimeS = seq, GpuUtilPct = random.NextDouble() * 100, VramMb = 2000, TotalVramMb = 24576,
                }).ToList();
                var frame = new TelemetryFrame(id, instance, seq, DateTimeOffset.UtcNow,
                    new NodeStats(random.NextDouble() * 100, 8L << 30, 64L << 30, [new GpuStats("cuda:0", random.NextDouble() * 100, 20L << 30, 24L << 30, 60)]),
                    workers);
                await context.Response.WriteAsync("event: telemetry\ndata: ", ct);
                await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(frame, RbeeJsonContext.Default.TelemetryFrame), ct);
                await context.Response.WriteAsync("\n\n", ct);
                await context.Response.Body.FlushAsync(ct);
                Interlocked.Increment(ref _framesSent);
                if (!await timer.WaitForNextTickAsync(ct)) break;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
}
