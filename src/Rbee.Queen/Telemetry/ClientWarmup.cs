using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Platform.Http;
using Rbee.Platform.Sse;

namespace Rbee.Queen.Telemetry;

/// <summary>
/// Runs the queen's hive-facing paths once at start-up (the pooled HTTP client against the queen's own listener,
/// the wire types' JSON, the SSE reader), so the first hive's subscription does not pay for compiling them: on a
/// loaded machine that is a few hundred milliseconds of the "hive start → online" budget.
/// </summary>
public sealed class ClientWarmup(ClusterHttp http, IServer server, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
                await started.Task.WaitAsync(stoppingToken);

            var frame = new TelemetryFrame("warmup", "warmup", 0, DateTimeOffset.UtcNow, new NodeStats(1, 1, 1, [new GpuStats("cuda:0", 1, 1, 1, 1)]),
                [new ProcessStats { Pid = 1, Group = "llm", Instance = "8080", Port = 8080, State = WorkerStates.Ready, Model = "m", Device = "cpu", CpuPct = 1, RssMb = 1, IoReadBps = 1, IoWriteBps = 1, UptimeS = 1 }]);
            var json = JsonSerializer.Serialize(frame, RbeeJsonContext.Default.TelemetryFrame);
            using (var reader = new SseEventReader(new MemoryStream(Encoding.UTF8.GetBytes($"event: telemetry\ndata: {json}\n\n"))))
                if (await reader.NextAsync(stoppingToken) is { } e) JsonSerializer.Deserialize(e.Data, RbeeJsonContext.Default.TelemetryFrame);
            JsonSerializer.Deserialize(JsonSerializer.Serialize(
                new HiveReady("w", "http://127.0.0.1:1", "w", ProtocolConstants.Version, 1), RbeeJsonContext.Default.HiveReady), RbeeJsonContext.Default.HiveReady);

            var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
            if (address is null || !Uri.TryCreate(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)
                    .Replace("[::]", "127.0.0.1", StringComparison.Ordinal), UriKind.Absolute, out var self)) return;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            using var request = http.Request(HttpMethod.Get, new Uri(self, "/health"));
            using var response = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
            await body.CopyToAsync(Stream.Null, timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or HttpRequestException or IOException or JsonException)
        {
            // Warm-up is an optimisation; the queen works the same without it.
        }
    }
}
