using System.Globalization;
using System.Text.Json;
using Rbee.Testing;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>
/// A real rbee-hive on a free port with its own id, cgroup root and state folder (several share one machine). With
/// <c>testWorkers</c> it gets a worker catalog of the tests' own: the real <c>rbee-test-worker</c> as types <c>test</c>
/// and <c>never</c>, and the real llm-worker-rbee as <c>llm</c>, on base ports of the test's own. Disposing it also
/// kills and removes anything left in its cgroup root, since workers outlive a killed hive by design.
/// </summary>
public sealed class HiveNode : IAsyncDisposable
{
    public static string TestWorkerPath => TestWorkerCatalog.WorkerPath;

    /// <summary>The model the spawn scenarios load.</summary>
    public static string Model => TestWorkerCatalog.Model;

    private readonly string _home;
    private readonly string _queenUrl;
    private readonly string? _bind;
    private readonly bool _testWorkers;
    private readonly bool _servesFixtureModel;
    private readonly IReadOnlyDictionary<string, string>? _settings;

    private HiveNode(string home, string queenUrl, int port, string hiveId, string? token, string? bind, bool testWorkers,
        IReadOnlyDictionary<string, string>? settings, bool servesFixtureModel)
    {
        _servesFixtureModel = servesFixtureModel;
        _settings = settings;
        _home = home;
        _queenUrl = queenUrl;
        Port = port;
        HiveId = hiveId;
        Token = token;
        _bind = bind;
        _testWorkers = testWorkers;
        BasePort = WorkerBasePort();
        Process = Launch();
    }

    public DaemonProcess Process { get; private set; }
    public int Port { get; }
    public string HiveId { get; }
    public string? Token { get; }
    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>The first port of type <c>test</c>; <c>never</c> starts 50 above it, <c>llm</c> 90 above.</summary>
    public int BasePort { get; }

    /// <summary>The name given to <c>--cgroup-root</c>: one tree per hive (DESIGN.md "Workers under the hive").</summary>
    public string CgroupRootName => $"rbee-test-{HiveId}.slice";

    /// <summary>The cgroup root's full path under the cgroup2 mount.</summary>
    public string CgroupRoot => TestCgroups.PathOf(CgroupRootName) ?? throw new InvalidOperationException("no cgroup2 mount");

    /// <param name="bind">The hive's <c>--bind</c>; null leaves the hive's default (every address).</param>
    /// <param name="testWorkers">Configure the tests' worker catalog (types <c>test</c>, <c>never</c>, <c>llm</c>).</param>
    /// <param name="settings">Further configuration as environment variables (<c>RBEE_Workers__…</c>), applied last.</param>
    /// <param name="servesFixtureModel">Configure <see cref="Model"/> (a file outside the models directory) as a model file of
    /// the hive (<c>Models:Paths</c>), so spawns may name it by path: a hive starts workers only on models under the
    /// directories it serves (issue 12). It is then in the hive's catalog too.</param>
    /// <param name="token">The cluster token, passed as <c>RBEE_CLUSTER_TOKEN</c>; null: the hive reads the token file of
    /// <paramref name="home"/> (a <see cref="TempHome"/> holds the run's token), or creates one there.</param>
    public static HiveNode Start(string home, string queenUrl, string? token = null, int? port = null, string? hiveId = null,
        string? bind = "127.0.0.1", bool testWorkers = false, IReadOnlyDictionary<string, string>? settings = null,
        bool servesFixtureModel = false)
    {
        var p = port ?? FreePort.Next();
        return new HiveNode(home, queenUrl, p, hiveId ?? $"hive-{p}", token, bind, testWorkers, settings, servesFixtureModel);
    }

    /// <summary>Starts the hive again on the same settings (a restart after a crash or a shutdown).</summary>
    public void Restart() => Process = Launch();

    /// <summary>
    /// Worker ports from above <see cref="FreePort"/>'s range (it hands out 20000 up to the kernel's ephemeral range) and
    /// above that range too (Linux's default ends at 60999), so neither a daemon port of a test nor the local port of an
    /// outgoing connection lands among them, and "consecutive ports" is what the allocator chose, not what the harness left
    /// free. Each hive's block is 100 ports (its llm type 100 more from +90); the highest ends below 65535.
    /// </summary>
    private static int WorkerBasePort() => 61000 + Random.Shared.Next(0, 43) * 100;

    private DaemonProcess Launch()
    {
        var env = ScaledTimers.ProtocolEnvironment();
        env["HOME"] = _home;
        // The model stores of other tools are found from HOME alone (~/.cache/huggingface/hub, ~/.ollama/models): never the
        // ones the machine's own settings point at.
        foreach (var store in new[] { "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "OLLAMA_MODELS" }) env[store] = null;
        if (Token is not null) env["RBEE_CLUSTER_TOKEN"] = Token;
        if (_testWorkers) AddTestWorkerCatalog(env);
        if (_servesFixtureModel) env["RBEE_Models__Paths__90"] = TestWorkerCatalog.Model;
        foreach (var (key, value) in _settings ?? new Dictionary<string, string>()) env[key] = value;
        List<string> args =
        [
            "--port", Port.ToString(CultureInfo.InvariantCulture),
            "--hive-id", HiveId,
            "--queen-url", _queenUrl,
            "--cgroup-root", CgroupRootName,
            "--run-dir", Path.Combine(_home, "run"),
            "--state-dir", Path.Combine(_home, "state-" + HiveId),
        ];
        if (_bind is not null) args.AddRange(["--bind", _bind]);
        return DaemonProcess.Start("rbee-hive", args, env, Path.Combine(_home, "logs"));
    }

    private void AddTestWorkerCatalog(Dictionary<string, string?> env)
    {
        env["RBEE_Workers__StopGrace"] = "00:00:03";
        env["RBEE_Workers__KillBound"] = "00:00:05";
        foreach (var (key, value) in TestWorkerCatalog.Environment(
        [
            new TestWorkerType("test", BasePort, [], TimeSpan.FromMinutes(1), PortCount: 40),
            new TestWorkerType("never", BasePort + 50, ["--never-ready"], TimeSpan.FromSeconds(3), PortCount: 40),
        ]))
            env[key] = value;
        // The built-in type with the real llm-worker-rbee, found through configuration, on a base port of the test's own.
        env["RBEE_Workers__Types__llm__Executable"] = RepoPaths.Executable("llm-worker-rbee");
        env["RBEE_Workers__Types__llm__BasePort"] = (BasePort + 90).ToString(CultureInfo.InvariantCulture);
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

    /// <summary>Posts a job to this hive and reads its stream to the terminal line.</summary>
    public Task<(List<string> Lines, string Terminal)> RunJobAsync(string json, TimeSpan budget) => Jobs.RunAsync(Url, json, budget);

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
        await TestCgroups.RemoveAsync(CgroupRootName);
    }
}
