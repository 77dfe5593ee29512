using System.Net.Sockets;
using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Connection;
using Rbee.Platform.Http;
using Rbee.Platform.Processes;

namespace Rbee.Keeper.Lifecycle;

public sealed record DownRequest(Uri QueenUrl, int HivePort, TimeSpan Timeout);

/// <summary>
/// <c>rbee down</c>: the queen's <c>POST /v1/shutdown</c> (which cascades to its hives), the local hive's own
/// shutdown when it is still up, SIGTERM by pid file as the fall-back, then verified: pids gone and ports free,
/// within the time-out.
/// </summary>
public sealed class DownCommand(TextWriter output, TextWriter error)
{
    private static readonly string[] Programs = ["queen-rbee", "rbee-hive"];

    public async Task<int> RunAsync(DownRequest request, CancellationToken ct)
    {
        using var client = KeeperHttp.Create(ClusterTokenStore.Read());
        var hiveUrl = new Uri($"http://127.0.0.1:{request.HivePort}");
        var started = DateTime.UtcNow;
        var pids = Programs.Select(p => (Program: p, Pid: DaemonLauncher.RunningPid(p))).Where(p => p.Pid is not null).ToList();
        var queenUp = await client.IsHealthyAsync(request.QueenUrl, TimeSpan.FromSeconds(1), ct);
        var hiveUp = await client.IsHealthyAsync(hiveUrl, TimeSpan.FromSeconds(1), ct);
        if (!queenUp && !hiveUp && pids.Count == 0)
        {
            output.WriteLine("rbee is not running");
            return 0;
        }

        if (queenUp) await ShutdownAsync(client, request.QueenUrl, "queen-rbee", null, request.Timeout / 2, ct);
        if (hiveUp && await client.IsHealthyAsync(hiveUrl, TimeSpan.FromSeconds(1), ct))
            await ShutdownAsync(client, hiveUrl, "rbee-hive", new ShutdownRequest(StopWorkers: true), request.Timeout / 2, ct);

        var remaining = request.Timeout - (DateTime.UtcNow - started);
        var gone = await WaitGoneAsync(pids, request, remaining / 2, ct);
        if (!gone)
        {
            // Fall-back: the daemons did not stop on request; signal them by pid file.
            foreach (var (program, pid) in pids)
                if (DaemonLauncher.IsProgram(pid!.Value, program)) Signals.Send(pid.Value, Signals.SIGTERM);
            remaining = request.Timeout - (DateTime.UtcNow - started);
            gone = await WaitGoneAsync(pids, request, remaining, ct);
        }
        if (!gone)
        {
            error.WriteLine($"rbee down: still running after {request.Timeout.TotalSeconds:0} s: {Describe(pids, request)}");
            return 1;
        }
        foreach (var p in Programs) DaemonLauncher.ForgetPid(p);
        output.WriteLine($"rbee is down (queen port {request.QueenUrl.Port} and hive port {request.HivePort} free)");
        return 0;
    }

    private async Task ShutdownAsync(ClusterHttp client, Uri baseUrl, string program, ShutdownRequest? body, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            using var request = client.Request(HttpMethod.Post, new Uri(baseUrl, "/v1/shutdown"));
            request.Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body ?? new ShutdownRequest(), RbeeJsonContext.Default.ShutdownRequest));
            request.Content.Headers.ContentType = new("application/json");
            using var response = await client.Client.SendAsync(request, cts.Token);
            if (!response.IsSuccessStatusCode)
                error.WriteLine($"rbee down: {program} answered {(int)response.StatusCode} to shutdown; falling back to SIGTERM");
            else if (body is null)
            {
                // The queen's report: one line per hive it stopped (managed ones verified on their host over SSH).
                var report = JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(cts.Token), RbeeJsonContext.Default.DictionaryStringString);
                foreach (var (hive, outcome) in (report ?? []).OrderBy(r => r.Key, StringComparer.Ordinal))
                    output.WriteLine($"{hive}: {outcome}");
            }
        }
        catch (HttpRequestException e) when (e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
        {
            // Already gone: the queen's shutdown cascade stopped the hive between the health check and this call.
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or JsonException && !ct.IsCancellationRequested)
        {
            error.WriteLine($"rbee down: {program} did not confirm shutdown ({e.Message}); falling back to SIGTERM");
        }
    }

    private static async Task<bool> WaitGoneAsync(List<(string Program, int? Pid)> pids, DownRequest request, TimeSpan within, CancellationToken ct)
    {
        var until = DateTime.UtcNow + (within > TimeSpan.Zero ? within : TimeSpan.Zero);
        // Exit of a process we did not start cannot be awaited (no handle); check pid and port every 50 ms.
        while (true)
        {
            if (Describe(pids, request).Length == 0) return true;
            if (DateTime.UtcNow >= until) return false;
            await Task.Delay(50, ct);
        }
    }

    private static string Describe(List<(string Program, int? Pid)> pids, DownRequest request)
    {
        var left = new List<string>();
        foreach (var (program, pid) in pids)
            if (DaemonLauncher.IsProgram(pid!.Value, program)) left.Add($"{program} pid {pid}");
        if (PortInUse(request.QueenUrl.Port)) left.Add($"port {request.QueenUrl.Port}");
        if (PortInUse(request.HivePort)) left.Add($"port {request.HivePort}");
        return string.Join(", ", left);
    }

    private static bool PortInUse(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Connect(System.Net.IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
