using System.Globalization;
using System.Text;
using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Workers;

/// <summary>
/// A real rbee-hive with a worker catalog of the tests' own (the real <c>rbee-test-worker</c> as types <c>test</c> and
/// <c>never</c>, from a free base port), on a cgroup root of its own; disposing it also kills and removes anything left
/// in that root, since workers outlive a killed hive by design.
/// </summary>
public sealed class WorkerHive : IAsyncDisposable
{
    public static string TestWorkerPath { get; } =
        Path.Combine(RepoPaths.Root, "tests", "Rbee.TestWorker", "bin", RepoPaths.Configuration, "net10.0", "rbee-test-worker");

    public static string Model { get; } = RepoPaths.Model("aidreams260K.gguf");

    private WorkerHive(DaemonProcess process, Settings settings)
    {
        Process = process;
        Config = settings;
    }

    public sealed record Settings(string Home, string QueenUrl, string Root, int BasePort, int Port, string HiveId, string? Extra = null);

    public DaemonProcess Process { get; private set; }
    public Settings Config { get; }
    public int Port => Config.Port;
    public string Url => $"http://127.0.0.1:{Config.Port}";
    public string CgroupRoot => Path.Combine(CgroupMount, Config.Root);

    public static string CgroupMount { get; } = CgroupRoots.Mount ?? throw new InvalidOperationException("no cgroup2 mount");

    public static Settings Configure(string home, string queenUrl, int? basePort = null) =>
        new(home, queenUrl, $"rbee-test-{Guid.NewGuid():N}.slice", basePort ?? WorkerBasePort(), FreePort.Next(), $"hive-{Guid.NewGuid().ToString("N")[..8]}");

    /// <summary>
    /// Worker ports from above <see cref="FreePort"/>'s range (it hands out 20000-60000), so no daemon port of a test
    /// lands among them and "consecutive ports" is what the allocator chose, not what the harness left free.
    /// </summary>
    public static int WorkerBasePort() => 60100 + Random.Shared.Next(0, 50) * 100;

    public static WorkerHive Start(Settings s) => new(Launch(s), s);

    /// <summary>Starts the hive again on the same settings (a restart after a crash).</summary>
    public void Restart()
    {
        Process = Launch(Config);
    }

    private static DaemonProcess Launch(Settings s)
    {
        var env = ScaledTimers.ProtocolEnvironment();
        env["HOME"] = s.Home;
        env["RBEE_Workers__StopGrace"] = "00:00:03";
        env["RBEE_Workers__KillBound"] = "00:00:05";
        AddType(env, "test", s.BasePort, [], "00:01:00");
        AddType(env, "never", s.BasePort + 50, ["--never-ready"], "00:00:03");
        // The built-in type with the real llm-worker-rbee, found through configuration, on a base port of the test's own.
        env["RBEE_Workers__Types__llm__Executable"] = RepoPaths.Executable("llm-worker-rbee");
        env["RBEE_Workers__Types__llm__BasePort"] = (s.BasePort + 90).ToString(CultureInfo.InvariantCulture);
        return DaemonProcess.Start("rbee-hive",
        [
            "--port", s.Port.ToString(CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--hive-id", s.HiveId,
            "--queen-url", s.QueenUrl,
            "--cgroup-root", s.Root,
            "--run-dir", Path.Combine(s.Home, "run"),
            "--state-dir", Path.Combine(s.Home, "state-" + s.HiveId),
        ], env, Path.Combine(s.Home, "logs"));
    }

    private static void AddType(Dictionary<string, string?> env, string name, int basePort, string[] extra, string loadTimeout)
    {
        var prefix = $"RBEE_Workers__Types__{name}__";
        env[prefix + "Executable"] = TestWorkerPath;
        env[prefix + "BasePort"] = basePort.ToString(CultureInfo.InvariantCulture);
        env[prefix + "PortCount"] = "40";
        env[prefix + "Readiness"] = "ready_file";
        env[prefix + "LoadTimeout"] = loadTimeout;
        string[] args = ["--model", "{model}", "--port", "{port}", "--host", "{host}", "--worker-id", "{worker_id}", "--ready-file", "{ready_file}", .. extra];
        for (var i = 0; i < args.Length; i++) env[prefix + "Arguments__" + i.ToString(CultureInfo.InvariantCulture)] = args[i];
    }

    public Task WaitHealthyAsync() => Http.WaitHealthyAsync(Url, Process, ScaledTimers.ProcessStart);

    /// <summary>Posts a job and reads its stream to the terminal line: (every line's payload, the terminal payload).</summary>
    public Task<(List<string> Lines, string Terminal)> RunJobAsync(string json, TimeSpan budget) => RunJobAsync(Url, json, budget);

    /// <summary>Posts a job to <paramref name="baseUrl"/> (queen or hive) and reads its stream to the terminal line.</summary>
    public static async Task<(List<string> Lines, string Terminal)> RunJobAsync(string baseUrl, string json, TimeSpan budget)
    {
        var Url = baseUrl;
        using var post = await Http.Client.PostAsync($"{Url}/v1/jobs", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await post.Content.ReadAsStringAsync();
        Assert.True(post.StatusCode == System.Net.HttpStatusCode.Accepted, $"POST /v1/jobs {json}: {(int)post.StatusCode} {body}");
        var sse = JsonDocument.Parse(body).RootElement.GetProperty("sse_url").GetString()!;
        using var cts = new CancellationTokenSource(budget);
        using var response = await Http.Client.GetAsync(Url + sse, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var lines = new List<string>();
        await foreach (var e in SseReader.ReadAsync(await response.Content.ReadAsStreamAsync(cts.Token), cts.Token))
        {
            lines.Add(e.Data);
            if (e.Data == "[DONE]" || e.Data == "[CANCELLED]" || e.Data.StartsWith("[ERROR]", StringComparison.Ordinal)) return (lines, e.Data);
        }
        throw new InvalidOperationException($"job stream closed without a terminal line: {string.Join(" | ", lines)}");
    }

    /// <summary>Spawns a worker of <paramref name="type"/> and returns its port and pid from the job's ready event.</summary>
    public async Task<(int Port, int Pid)> SpawnAsync(string type = "test")
    {
        var (lines, terminal) = await RunJobAsync($"{{\"operation\":\"worker_spawn\",\"model\":\"{Model}\",\"worker_type\":\"{type}\",\"device\":\"cpu\"}}", TimeSpan.FromSeconds(60));
        Assert.True(terminal == "[DONE]", $"spawn ended {terminal}: {string.Join(" | ", lines)}\n{Process.LogTail()}");
        var ready = lines.Select(TryJson).Last(j => j is { } d && d.TryGetProperty("event", out var ev) && ev.GetString() == "ready")!.Value;
        return (ready.GetProperty("port").GetInt32(), ready.GetProperty("pid").GetInt32());
    }

    private static JsonElement? TryJson(string s)
    {
        if (!s.StartsWith('{')) return null;
        try { return JsonDocument.Parse(s).RootElement.Clone(); }
        catch (JsonException) { return null; }
    }

    /// <summary>Every pid anywhere in this hive's cgroup tree.</summary>
    public List<int> PidsInTree()
    {
        var list = new List<int>();
        if (!Directory.Exists(CgroupRoot)) return list;
        foreach (var dir in Directory.GetDirectories(CgroupRoot, "*", SearchOption.AllDirectories).Append(CgroupRoot))
        {
            try { list.AddRange(File.ReadAllLines(Path.Combine(dir, "cgroup.procs")).Where(l => l.Length > 0).Select(l => int.Parse(l, CultureInfo.InvariantCulture))); }
            catch (IOException) { }
        }
        return list;
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        await CgroupRoots.RemoveAsync(Config.Root);
    }
}
