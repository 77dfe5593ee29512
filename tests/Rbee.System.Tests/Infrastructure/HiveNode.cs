using System.Text.Json;
using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>A real rbee-hive on a free port, with its own id and cgroup root (several share one machine).</summary>
public sealed class HiveNode : IAsyncDisposable
{
    private HiveNode(DaemonProcess process, int port, string hiveId, string? token)
    {
        Process = process;
        Port = port;
        HiveId = hiveId;
        Token = token;
    }

    public DaemonProcess Process { get; }
    public int Port { get; }
    public string HiveId { get; }
    public string? Token { get; }
    public string Url => $"http://127.0.0.1:{Port}";

    public static HiveNode Start(string home, string queenUrl, string? token = null, int? port = null, string? hiveId = null)
    {
        var p = port ?? FreePort.Next();
        var id = hiveId ?? $"hive-{p}";
        var env = ScaledTimers.ProtocolEnvironment();
        env["HOME"] = home;
        if (token is not null) env["RBEE_CLUSTER_TOKEN"] = token;
        var process = DaemonProcess.Start("rbee-hive",
        [
            "--port", p.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--hive-id", id,
            "--queen-url", queenUrl,
            "--cgroup-root", $"rbee-test-{id}.slice", // one tree per hive (DESIGN.md "Workers under the hive")
            "--run-dir", Path.Combine(home, "run"),
        ], env);
        return new HiveNode(process, p, id, token);
    }

    public Task WaitHealthyAsync() => Http.WaitHealthyAsync(Url, Process, ScaledTimers.ProcessStart);

    public async Task<JsonElement> HealthAsync()
    {
        using var response = await Http.Client.GetAsync($"{Url}/health");
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    /// <summary>Open telemetry subscriptions the hive counts (the queen must hold exactly one).</summary>
    public async Task<int> SubscriptionsAsync() => (await HealthAsync()).GetProperty("subscriptions").GetInt32();

    public string CgroupRoot => $"rbee-test-{HiveId}.slice";

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        CgroupRoots.Remove(CgroupRoot);
    }
}
