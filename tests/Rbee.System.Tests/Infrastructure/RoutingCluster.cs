using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Rbee.Testing;
using Rbee.Testing.Gguf;

namespace Rbee.SystemTests.Infrastructure;

/// <summary>
/// A queen and two hives (each with its own HOME, models directory and cgroup root) whose <c>llm</c> type is the real
/// llm-worker-rbee: the cluster the queen-routing scenarios run against. Model files are put into a hive's models
/// directory by the test that needs them (under a name of its own, so tests do not share workers).
/// </summary>
public sealed class RoutingCluster : IAsyncDisposable
{
    private readonly TempHome _queenHome = new();
    private readonly TempHome _homeA = new();
    private readonly TempHome _homeB = new();

    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    private RoutingCluster(IReadOnlyDictionary<string, string>? settings)
    {
        Queen = QueenNode.Start(_queenHome.Path, settings: settings);
    }

    public QueenNode Queen { get; }
    public HiveNode A { get; private set; } = null!;
    public HiveNode B { get; private set; } = null!;
    public ClusterStream Stream { get; private set; } = null!;

    /// <summary>The queen's OpenAI base URL.</summary>
    public string V1 => Queen.Url + "/v1";

    public static async Task<RoutingCluster> StartAsync(IReadOnlyDictionary<string, string>? queenSettings = null, bool twoHives = true,
        IReadOnlyDictionary<string, string>? hiveSettings = null)
    {
        var c = new RoutingCluster(queenSettings);
        await c.Queen.WaitHealthyAsync();
        c.Stream = await c.Queen.OpenStreamAsync();
        c.A = HiveNode.Start(c._homeA.Path, c.Queen.Url, testWorkers: true, settings: hiveSettings);
        await c.Stream.WaitForStateAsync("hive A online", c.A.HiveId, "online", Budget);
        if (twoHives)
        {
            c.B = HiveNode.Start(c._homeB.Path, c.Queen.Url, testWorkers: true, settings: hiveSettings);
            await c.Stream.WaitForStateAsync("hive B online", c.B.HiveId, "online", Budget);
        }
        return c;
    }

    /// <summary>The HOME a hive runs with: its models directory, and the stores of other tools it reads in place.</summary>
    public string HomeOf(HiveNode hive) => hive == A ? _homeA.Path : _homeB.Path;

    public string ModelsDir(HiveNode hive) => Path.Combine(HomeOf(hive), ".cache", "rbee", "models");

    /// <summary>Copies a model file into a hive's models directory as <paramref name="id"/>.gguf.</summary>
    public string Put(HiveNode hive, string sourcePath, string id)
    {
        var dir = ModelsDir(hive);
        Directory.CreateDirectory(dir);
        var target = Path.Combine(dir, id + ".gguf");
        // Copied beside, then renamed: the hive sees the file whole, as a download that finishes would appear.
        File.Copy(sourcePath, target + ".tmp", overwrite: true);
        File.Move(target + ".tmp", target, overwrite: true);
        return target;
    }

    /// <summary>The real tiny model (llama.cpp's reference output in <c>aidreams260K.reference.json</c>).</summary>
    public static string TinyModel => RepoPaths.Model("aidreams260K.gguf");

    private static readonly Lazy<string> Slow = new(() =>
    {
        // Random weights of a shape whose 3,000-token answer lasts ~9.5 s on the idle test machine (~3 ms a token), with
        // a long context: the failure scenarios need a request that is still generating when the test acts. Six
        // layers (v1) lasted 4.5 s, and a loaded full run's dashboard stop came after the answer's end.
        var path = Path.Combine(Path.GetTempPath(), "rbee-sys-slow-model-v2.gguf");
        if (!File.Exists(path))
        {
            var tmp = path + "." + Environment.ProcessId + ".tmp";
            RandomLlama.Write(tmp, new RandomLlamaSpec { Embedding = 384, FeedForward = 1024, Layers = 12, Heads = 6, KvHeads = 2, Vocab = 256, Context = 4096, Seed = 7 });
            File.Move(tmp, path, overwrite: true);
        }
        return path;
    });

    /// <summary>A generated model whose generation lasts long enough to be interrupted (ignore_eos, many tokens).</summary>
    public static string SlowModel => Slow.Value;

    /// <summary>Awaits the queen listing <paramref name="model"/> in /v1/models; returns the milliseconds it took.</summary>
    public async Task WaitListedAsync(string model, TimeSpan budget) =>
        await Eventually.HoldsAsync("model listed", $"{model} in the queen's /v1/models", budget, async () =>
        {
            var (_, body) = await Http.GetJsonAsync(V1 + "/models");
            var ids = body.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
            return (ids.Contains(model), string.Join(",", ids));
        }, () => Queen.Process.LogTail());

    /// <summary>Spawns a worker of <paramref name="model"/> on <paramref name="hive"/> through the queen (a person's spawn).</summary>
    public async Task<(int Port, int Pid)> SpawnAsync(HiveNode hive, string model)
    {
        var (lines, terminal) = await Jobs.RunAsync(Queen.Url,
            $"{{\"operation\":\"worker_spawn\",\"hive_id\":\"{hive.HiveId}\",\"model\":\"{model}\",\"worker_type\":\"llm\",\"device\":\"cpu\"}}", Budget);
        Assert.True(terminal == "[DONE]", $"spawn of {model} on {hive.HiveId} ended {terminal}: {string.Join(" | ", lines)}\n{hive.Process.LogTail()}");
        var worker = (await WorkersAsync(model)).Single(w => w.Hive == hive.HiveId);
        return (worker.Port, worker.Pid);
    }

    public sealed record WorkerInfo(string Hive, int Port, int Pid, string State, string Url, string? ModelId, string? StartedBy);

    /// <summary>Workers of the queen's /v1/cluster serving <paramref name="model"/>.</summary>
    public async Task<List<WorkerInfo>> WorkersAsync(string model)
    {
        var cluster = await Queen.ClusterAsync();
        return cluster.GetProperty("hives").EnumerateArray()
            .SelectMany(h => h.GetProperty("workers").EnumerateArray().Select(w => (Hive: h.GetProperty("hive_id").GetString()!, W: w)))
            .Where(x => x.W.TryGetProperty("model_id", out var id) && id.GetString() == model)
            .Select(x => new WorkerInfo(x.Hive, x.W.GetProperty("port").GetInt32(), x.W.GetProperty("pid").GetInt32(),
                x.W.GetProperty("state").GetString()!, x.W.GetProperty("url").GetString()!, x.W.GetProperty("model_id").GetString(),
                x.W.TryGetProperty("started_by", out var s) ? s.GetString() : null))
            .ToList();
    }

    /// <summary>POSTs JSON to a path of <paramref name="baseUrl"/>; returns the response (headers read) for the caller to consume.</summary>
    public static Task<HttpResponseMessage> PostAsync(string baseUrl, string path, string json, string? bearer = null, CancellationToken ct = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, baseUrl + path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (bearer is not null) request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        return Http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
    }

    /// <summary>A greedy completion's text from <paramref name="baseUrl"/> (queen or worker).</summary>
    public static async Task<string> CompleteAsync(string baseUrl, string model, string prompt, int maxTokens)
    {
        using var response = await PostAsync(baseUrl, "/v1/completions",
            JsonSerializer.Serialize(new { model, prompt, max_tokens = maxTokens, temperature = 0 }));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"completion at {baseUrl}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
    }

    /// <summary>The worker's own slot gauge (<c>rbee_worker_slots_busy</c> of its /metrics).</summary>
    public static async Task<int> SlotsBusyAsync(string workerUrl)
    {
        var text = await Http.Client.GetStringAsync(workerUrl + "/metrics");
        var line = text.Split('\n').First(l => l.StartsWith("rbee_worker_slots_busy ", StringComparison.Ordinal));
        return (int)double.Parse(line["rbee_worker_slots_busy ".Length..], CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        if (B is not null) await B.DisposeAsync();
        await A.DisposeAsync();
        await Queen.DisposeAsync();
        _queenHome.Dispose();
        _homeA.Dispose();
        _homeB.Dispose();
    }
}
