using System.Net.Http.Json;
using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Protocol;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Connection;
using Rbee.Platform.Http;
using Rbee.Platform.Paths;
using Rbee.Platform.Processes;
using Rbee.Platform.Sse;

namespace Rbee.Keeper.Lifecycle;

/// <summary>What <c>rbee up</c> was asked to do.</summary>
public sealed record UpRequest(Uri QueenUrl, int HivePort, TimeSpan Timeout)
{
    /// <summary><c>--ssh-config</c> / <c>RBEE_SSH_CONFIG</c>: handed to a queen this command starts (one already running keeps its own).</summary>
    public string? SshConfig { get; init; }
}

/// <summary>
/// <c>rbee up</c>: attach to a running queen and local hive or start them in the background, wait until the queen
/// shows the hive online (its aggregate stream, not polling), print the endpoint.
/// </summary>
public sealed class UpCommand(TextWriter output, TextWriter error)
{
    public async Task<int> RunAsync(UpRequest request, CancellationToken ct)
    {
        var token = ClusterTokenStore.ReadOrCreate();
        using var client = KeeperHttp.Create(token);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(request.Timeout);
        var hiveUrl = new Uri($"http://127.0.0.1:{request.HivePort}");
        var environment = new Dictionary<string, string>
        {
            [ProtocolConstants.ClusterTokenEnvironmentVariable] = token,
        };

        var started = new List<DaemonLauncher.Started>();
        try
        {
            var queenRunning = await client.IsHealthyAsync(request.QueenUrl, TimeSpan.FromSeconds(1), ct);
            if (!queenRunning)
            {
                var exe = ExecutableSearch.BesideOrOnPath("queen-rbee");
                if (exe is null) return Fail("queen-rbee not found beside rbee or on PATH (use ./rbee from the repository)");
                List<string> args = ["--port", request.QueenUrl.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)];
                if (request.SshConfig is { } ssh) args.AddRange(["--ssh-config", ssh]);
                started.Add(DaemonLauncher.Start("queen-rbee", exe, args, environment));
            }
            var hiveRunning = await client.IsHealthyAsync(hiveUrl, TimeSpan.FromSeconds(1), ct);
            if (!hiveRunning)
            {
                var exe = ExecutableSearch.BesideOrOnPath("rbee-hive");
                if (exe is null) return Fail("rbee-hive not found beside rbee or on PATH (use ./rbee from the repository)");
                started.Add(DaemonLauncher.Start("rbee-hive", exe, [], new Dictionary<string, string>(environment)
                {
                    ["RBEE_QUEEN_URL"] = request.QueenUrl.ToString().TrimEnd('/'),
                    ["RBEE_Hive__Port"] = request.HivePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                }));
            }

            await WaitHealthyAsync(client, request.QueenUrl, "queen-rbee", started, deadline.Token);
            await WaitHealthyAsync(client, hiveUrl, "rbee-hive", started, deadline.Token);
            var caps = await client.Client.GetFromJsonAsync(new Uri(hiveUrl, "/capabilities"), RbeeJsonContext.Default.Capabilities, deadline.Token)
                ?? throw new InvalidOperationException("the hive's /capabilities was empty");
            await WaitOnlineAsync(client, request.QueenUrl, hiveUrl, caps.HiveId, hiveRunning, deadline.Token);

            output.WriteLine($"queen-rbee  {(queenRunning ? "attached" : "started")}  {request.QueenUrl.ToString().TrimEnd('/')}");
            output.WriteLine($"rbee-hive   {(hiveRunning ? "attached" : "started")}  {caps.HiveId} online at {hiveUrl.ToString().TrimEnd('/')}");
            foreach (var s in started) output.WriteLine($"  {s.Program} pid {s.Pid}, log {s.LogPath}");
            output.WriteLine($"rbee is up: {new Uri(request.QueenUrl, "/v1")}");
            return 0;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Fail($"the hive was not online at the queen within {request.Timeout.TotalSeconds:0} s; logs: {RbeePaths.StateDirectory}/logs");
        }
        catch (DaemonExitedException e)
        {
            return Fail($"{e.Program} exited during start-up; see {e.LogPath}");
        }
        catch (HttpRequestException e)
        {
            return Fail($"a daemon did not answer as expected: {e.Message}");
        }
    }

    private int Fail(string message)
    {
        error.WriteLine($"rbee up: {message}");
        return 1;
    }

    private static async Task WaitHealthyAsync(ClusterHttp client, Uri url, string program, List<DaemonLauncher.Started> started, CancellationToken ct)
    {
        // A daemon that has not bound its port yet has nothing to await; health is asked with a short pause,
        // checking on each round that the process we started is still alive (a taken port ends it at once).
        while (!await client.IsHealthyAsync(url, TimeSpan.FromSeconds(1), ct))
        {
            if (started.FirstOrDefault(s => s.Program == program) is { } mine && DaemonLauncher.HasExited(mine.Pid))
                throw new DaemonExitedException(program, mine.LogPath);
            await Task.Delay(50, ct);
        }
    }

    /// <summary>Awaits the hive online on the queen's aggregate stream; the stream is opened before the first check.</summary>
    private static async Task WaitOnlineAsync(ClusterHttp client, Uri queenUrl, Uri hiveUrl, string hiveId, bool hiveWasRunning, CancellationToken ct)
    {
        using var streamRequest = client.Request(HttpMethod.Get, new Uri(queenUrl, "/v1/heartbeats/stream"));
        using var response = await client.Client.SendAsync(streamRequest, HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync(ct);

        using (var clusterRequest = client.Request(HttpMethod.Get, new Uri(queenUrl, "/v1/cluster")))
        using (var clusterResponse = await client.Client.SendAsync(clusterRequest, ct))
        {
            clusterResponse.EnsureSuccessStatusCode();
            var view = await clusterResponse.Content.ReadFromJsonAsync(RbeeJsonContext.Default.ClusterView, ct);
            if (view?.Hives.Any(h => h.HiveId == hiveId && h.State == HiveState.Online) == true) return;
        }
        if (hiveWasRunning)
        {
            // A hive that ran before the queen may have given up its ready tries; point it at this queen.
            using var nudge = client.Request(HttpMethod.Get,
                new Uri(hiveUrl, $"/capabilities?queen_url={Uri.EscapeDataString(queenUrl.ToString().TrimEnd('/'))}"));
            using var _ = await client.Client.SendAsync(nudge, ct);
        }

        using var reader = new SseEventReader(body);
        while (await reader.NextAsync(ct) is { } e)
        {
            if (e.Event != StreamEvents.HiveState) continue;
            var change = JsonSerializer.Deserialize(e.Data, RbeeJsonContext.Default.HiveStateChanged);
            if (change?.HiveId == hiveId && change.NewState == HiveState.Online) return;
        }
        throw new HttpRequestException("the queen closed its stream");
    }

    private sealed class DaemonExitedException(string program, string logPath) : Exception(program)
    {
        public string Program { get; } = program;
        public string LogPath { get; } = logPath;
    }
}
