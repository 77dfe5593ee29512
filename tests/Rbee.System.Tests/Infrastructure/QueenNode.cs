using System.Text.Json;
using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>A real queen-rbee on a free port with a HOME of its own (for ~/.ssh/config) and scaled timers.</summary>
public sealed class QueenNode : IAsyncDisposable
{
    private QueenNode(DaemonProcess process, int port, string home, string? token)
    {
        Process = process;
        Port = port;
        Home = home;
        Token = token;
    }

    public DaemonProcess Process { get; }
    public int Port { get; }
    public string Home { get; }
    public string? Token { get; }
    public string Url => $"http://127.0.0.1:{Port}";
    public string SshConfigPath => Path.Combine(Home, ".ssh", "config");

    /// <summary>Writes <c>~/.ssh/config</c> naming each hive by alias with <c>HostName 127.0.0.1</c>.</summary>
    public static void WriteSshConfig(string home, IEnumerable<string> aliases)
    {
        Directory.CreateDirectory(Path.Combine(home, ".ssh"));
        var text = string.Concat(aliases.Select(a => $"Host {a}\n  HostName 127.0.0.1\n  User root\n\n")) + "Host *\n  ServerAliveInterval 30\n";
        File.WriteAllText(Path.Combine(home, ".ssh", "config"), text);
    }

    /// <summary>Starts a queen. <paramref name="hivePorts"/> maps SSH aliases to hive ports (Queen:HivePorts).</summary>
    /// <param name="settings">Further configuration as environment variables (<c>RBEE_Scheduling__MaxQueued</c>…).</param>
    /// <param name="launcher">A command that execs the queen (<c>prlimit --nofile=1024:1024</c>): <see cref="DaemonProcess.Start"/>.</param>
    public static QueenNode Start(string home, int? port = null, string? token = null, IReadOnlyDictionary<string, int>? hivePorts = null,
        IReadOnlyDictionary<string, string>? settings = null, IReadOnlyList<string>? launcher = null)
    {
        var p = port ?? FreePort.Next();
        var env = ScaledTimers.QueenEnvironment();
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) env[key] = value;
        env["HOME"] = home;
        if (token is not null) env["RBEE_CLUSTER_TOKEN"] = token;
        foreach (var (alias, hivePort) in hivePorts ?? new Dictionary<string, int>())
            env[$"RBEE_Queen__HivePorts__{alias}"] = hivePort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = DaemonProcess.Start("queen-rbee", ["--port", p.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1"], env, Path.Combine(home, "logs"), launcher);
        return new QueenNode(process, p, home, token);
    }

    public Task WaitHealthyAsync() => Http.WaitHealthyAsync(Url, Process, ScaledTimers.ProcessStart);

    /// <summary>Opens the aggregate stream; events are collected from this moment on.</summary>
    public Task<ClusterStream> OpenStreamAsync() => ClusterStream.OpenAsync($"{Url}/v1/heartbeats/stream", Token, Process);

    public async Task<JsonElement> ClusterAsync()
    {
        using var request = Http.Request(HttpMethod.Get, $"{Url}/v1/cluster", Token);
        using var response = await Http.Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    /// <summary>The state of <paramref name="hiveId"/> in /v1/cluster, or null when the queen does not list it.</summary>
    public async Task<string?> HiveStateAsync(string hiveId)
    {
        foreach (var h in (await ClusterAsync()).GetProperty("hives").EnumerateArray())
            if (h.GetProperty("hive_id").GetString() == hiveId) return h.GetProperty("state").GetString();
        return null;
    }

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
