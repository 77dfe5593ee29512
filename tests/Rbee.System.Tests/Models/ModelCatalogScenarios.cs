using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using Xunit.Abstractions;

namespace Rbee.SystemTests.Models;

/// <summary>
/// The hive's model catalog with the real programs: a real rbee-hive watching its models directory (the default,
/// <c>$HOME/.cache/rbee/models</c> of the test's HOME), files copied and deleted as an operator would, and the real
/// llm-worker-rbee started by catalog id. Waits read the hive's own telemetry stream; nothing sleeps.
/// </summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class ModelCatalogScenarios(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(30);

    /// <summary>The catalog's promise, a change reaches the queen within 2 s (debounce 100 ms + a frame at once), with the
    /// system tests' 3x headroom for a loaded machine (DESIGN.md "Testing on 2 cores").</summary>
    private static readonly TimeSpan SeenWithin = TimeSpan.FromSeconds(2) * ScaledTimers.Headroom;

    private static string ModelsDir(TempHome home) => Path.Combine(home.Path, ".cache", "rbee", "models");

    /// <summary>The hive's telemetry stream, read frame by frame.</summary>
    private sealed class Frames(HttpResponseMessage response, IAsyncEnumerator<SseEvent> events) : IAsyncDisposable
    {
        public static async Task<Frames> OpenAsync(HiveNode hive)
        {
            using var request = Http.Request(HttpMethod.Get, $"{hive.Url}/v1/heartbeats/stream", hive.Token);
            var response = await Http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return new Frames(response, SseReader.ReadAsync(await response.Content.ReadAsStreamAsync()).GetAsyncEnumerator());
        }

        /// <summary>The next frame that satisfies <paramref name="match"/>, within <paramref name="budget"/>.</summary>
        public async Task<JsonElement> WaitForAsync(string phase, string expected, TimeSpan budget, Func<JsonElement, bool> match)
        {
            var clock = Stopwatch.StartNew();
            var seen = "no frame";
            while (clock.Elapsed < budget)
            {
                bool more;
                try { more = await events.MoveNextAsync().AsTask().WaitAsync(budget - clock.Elapsed); }
                catch (TimeoutException) { break; }
                if (!more) throw new InvalidOperationException($"phase {phase}: the hive's stream ended; expected {expected}; last seen: {seen}");
                if (events.Current.Event != "telemetry") continue;
                var frame = JsonDocument.Parse(events.Current.Data).RootElement.Clone();
                seen = $"seq {frame.GetProperty("seq")}, models_version {frame.GetProperty("models_version")}, workers {frame.GetProperty("workers")}";
                if (match(frame)) return frame;
            }
            throw new TimeoutException($"phase {phase}: expected {expected} within {budget.TotalSeconds} s; last seen: {seen}");
        }

        public async ValueTask DisposeAsync()
        {
            // The stream never ends by itself: close the connection first, so the pending read ends instead of hanging.
            response.Dispose();
            try { await events.DisposeAsync(); }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException) { }
        }
    }

    private static async Task<JsonElement> CatalogAsync(HiveNode hive)
    {
        var (status, body) = await Http.GetJsonAsync($"{hive.Url}/v1/catalog", hive.Token);
        Assert.True(status == HttpStatusCode.OK, $"GET /v1/catalog: {(int)status} {body}");
        return body;
    }

    private static List<string> Ids(JsonElement catalog) =>
        catalog.GetProperty("models").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToList();

    private static long ModelsVersion(JsonElement frame) => frame.GetProperty("models_version").GetInt64();

    [Fact]
    public async Task AModelCopiedIntoARunningHive_IsInItsCatalogAndFramesWithin2s_AndGoneAsFastWhenDeleted()
    {
        using var home = new TempHome();
        Directory.CreateDirectory(ModelsDir(home));
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{FreePort.Next()}", token: "catalog-test-token");
        await hive.WaitHealthyAsync();

        // A control endpoint: the cluster token is required (DESIGN.md "Security").
        var (refused, _) = await Http.GetJsonAsync($"{hive.Url}/v1/catalog");
        Assert.Equal(HttpStatusCode.Unauthorized, refused);
        var empty = await CatalogAsync(hive);
        Assert.Equal(hive.HiveId, empty.GetProperty("hive_id").GetString());
        Assert.Equal((await hive.HealthAsync()).GetProperty("instance_id").GetString(), empty.GetProperty("instance_id").GetString());
        Assert.Empty(Ids(empty));
        var before = empty.GetProperty("version").GetInt64();

        await using var frames = await Frames.OpenAsync(hive);
        await frames.WaitForAsync("first frame", $"models_version {before}", Budget, f => ModelsVersion(f) == before);

        var target = Path.Combine(ModelsDir(home), "dreams.gguf");
        var sw = Stopwatch.StartNew();
        File.Copy(HiveNode.Model, target);
        var added = await frames.WaitForAsync("copied in", $"models_version above {before}", SeenWithin, f => ModelsVersion(f) > before);
        sw.Stop();
        var catalog = await CatalogAsync(hive);
        Assert.Equal(ModelsVersion(added), catalog.GetProperty("version").GetInt64());
        var model = Assert.Single(catalog.GetProperty("models").EnumerateArray());
        Assert.Equal("dreams", model.GetProperty("id").GetString());
        Assert.Equal(target, model.GetProperty("path").GetString());
        Assert.Equal("llama", model.GetProperty("architecture").GetString());
        Assert.Equal(263_744, model.GetProperty("parameter_count").GetInt64());
        Assert.Equal(128, model.GetProperty("context_length").GetInt32());
        Assert.True(sw.Elapsed < SeenWithin, $"the new models_version came {sw.ElapsedMilliseconds} ms after the copy");
        output.WriteLine($"copy -> new models_version in a frame: {sw.ElapsedMilliseconds} ms");

        sw.Restart();
        File.Delete(target);
        var removed = await frames.WaitForAsync("deleted", $"models_version above {ModelsVersion(added)}", SeenWithin,
            f => ModelsVersion(f) > ModelsVersion(added));
        sw.Stop();
        var after = await CatalogAsync(hive);
        Assert.Empty(Ids(after));
        Assert.Equal(ModelsVersion(removed), after.GetProperty("version").GetInt64());
        Assert.True(sw.Elapsed < SeenWithin, $"the removal came {sw.ElapsedMilliseconds} ms after the delete");
        output.WriteLine($"delete -> new models_version in a frame: {sw.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task SpawnByCatalogId_StartsTheRealWorkerUnderThatId_AndAHiveRestartedKeepingWorkersReAdoptsItWithIt()
    {
        using var home = new TempHome();
        Directory.CreateDirectory(ModelsDir(home));
        // Named unlike the fixture, so the id the worker answers to can only have come from the catalog.
        File.Copy(HiveNode.Model, Path.Combine(ModelsDir(home), "dream-chat.gguf"));
        await using var hive = HiveNode.Start(home.Path, $"http://127.0.0.1:{FreePort.Next()}", testWorkers: true);
        await hive.WaitHealthyAsync();
        Assert.Equal(["dream-chat"], Ids(await CatalogAsync(hive)));

        var (lines, terminal) = await hive.RunJobAsync(
            "{\"operation\":\"worker_spawn\",\"model\":\"dream-chat\",\"worker_type\":\"llm\",\"device\":\"cpu\",\"started_by\":\"queen\"}", Budget);
        Assert.True(terminal == "[DONE]", $"spawn ended {terminal}: {string.Join(" | ", lines)}\n{hive.Process.LogTail()}");
        var ready = lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement.Clone())
            .Last(d => d.GetProperty("event").GetString() == "ready");
        var (port, pid) = (ready.GetProperty("port").GetInt32(), ready.GetProperty("pid").GetInt32());
        Assert.Equal("dream-chat", ready.GetProperty("model_id").GetString());
        Assert.Equal("queen", ready.GetProperty("started_by").GetString());
        Assert.Equal(Path.Combine(ModelsDir(home), "dream-chat.gguf"), ready.GetProperty("model").GetString());

        var cmdline = (await File.ReadAllTextAsync($"/proc/{pid}/cmdline")).Split('\0');
        Assert.Equal("dream-chat", cmdline[Array.IndexOf(cmdline, "--model-id") + 1]);
        var (_, served) = await Http.GetJsonAsync($"http://127.0.0.1:{port}/v1/models", TestClusterToken.WorkerKey(hive.HiveId, port));
        Assert.Equal("dream-chat", Assert.Single(served.GetProperty("data").EnumerateArray()).GetProperty("id").GetString());

        await using (var frames = await Frames.OpenAsync(hive))
        {
            var frame = await frames.WaitForAsync("worker in the frames", $"worker {port} with model_id dream-chat", Budget,
                f => f.GetProperty("workers").EnumerateArray().Any(w => w.GetProperty("port").GetInt32() == port));
            var w = frame.GetProperty("workers").EnumerateArray().Single(w => w.GetProperty("port").GetInt32() == port);
            Assert.Equal("dream-chat", w.GetProperty("model_id").GetString());
            Assert.Equal("queen", w.GetProperty("started_by").GetString());
        }
        (lines, _) = await hive.RunJobAsync("{\"operation\":\"worker_list\"}", Budget);
        Assert.Contains(lines, l => l.StartsWith('{') && l.Contains("\"model_id\":\"dream-chat\"", StringComparison.Ordinal));

        // Restart mode: this stop keeps the worker; the next hive re-adopts it from the OS alone.
        using (var stop = await Http.Client.PostAsync($"{hive.Url}/v1/shutdown", new StringContent("{\"stop_workers\":false}", Encoding.UTF8, "application/json")))
            Assert.True(stop.IsSuccessStatusCode, $"{(int)stop.StatusCode}");
        Assert.True(await hive.Process.WaitForExitAsync(Budget), "hive did not stop");
        Assert.True(Signals.IsAlive(pid), "stop_workers:false stopped the worker");
        hive.Restart();
        await hive.WaitHealthyAsync();
        await using (var frames = await Frames.OpenAsync(hive))
        {
            var frame = await frames.WaitForAsync("re-adopted", $"worker {port} ready", Budget,
                f => f.GetProperty("workers").EnumerateArray().Any(w => w.GetProperty("port").GetInt32() == port && w.GetProperty("state").GetString() == "ready"));
            var w = Assert.Single(frame.GetProperty("workers").EnumerateArray());
            Assert.Equal(pid, w.GetProperty("pid").GetInt32());
            Assert.Equal("dream-chat", w.GetProperty("model_id").GetString());
            Assert.Equal("queen", w.GetProperty("started_by").GetString());
            Assert.Equal(1, ModelsVersion(frame)); // the new hive's catalog: the one file, version 1 of this instance
        }
    }
}
