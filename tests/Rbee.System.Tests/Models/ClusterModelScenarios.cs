using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using Xunit.Abstractions;

namespace Rbee.SystemTests.Models;

/// <summary>
/// Models across the cluster with the real programs: a real queen and two real hives pulling from
/// <see cref="HuggingFaceServer"/> on loopback; the queen's <c>model_download</c> to every hive at once, its
/// <c>model_list</c> and <c>model_delete</c>; and a request for an alias that no hive has, pulled on demand and answered
/// by the real llm-worker-rbee.
/// </summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class ClusterModelScenarios(ITestOutputHelper output)
{
    private const string Source = TinyPull.Source;
    private static readonly byte[] Model = TinyPull.Model;
    private static readonly string ModelSha = TinyPull.Sha256;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(90);


    [Fact]
    public async Task APullToEveryHive_CarriesEachHivesEvents_ThenTheQueenListsAndDeletesOnAll()
    {
        await using var server = await TinyPull.StartServerAsync();
        await using var cluster = await RoutingCluster.StartAsync(hiveSettings: TinyPull.HiveSettings(server));
        var hives = new[] { cluster.A.HiveId, cluster.B.HiveId };

        var (lines, terminal) = await Jobs.RunTimedAsync(cluster.Queen.Url,
            $"{{\"operation\":\"model_download\",\"source\":\"{Source}\",\"hive_id\":\"*\"}}", Budget, cluster.Queen.Token);
        foreach (var l in lines) output.WriteLine($"{l.At.TotalSeconds,6:0.00} {l.Event} {l.Data}");

        Assert.Equal("[DONE]", terminal);
        var events = lines.Where(l => l.Event == "data").Select(l => JobEvents.TryRead(l.Data, out var e) ? e : null).ToList();
        var downloaded = events.OfType<ModelDownloaded>().ToList();
        Assert.Equal(hives.Order(StringComparer.Ordinal), downloaded.Select(d => d.HiveId).Order(StringComparer.Ordinal));
        Assert.All(downloaded, d => Assert.Equal(("aidreams260K", ModelSha), (d.Model, d.Sha256)));
        Assert.Equal(hives.Order(StringComparer.Ordinal), events.OfType<ModelProgress>().Select(p => p.HiveId).Distinct().Order(StringComparer.Ordinal));
        foreach (var hive in new[] { cluster.A, cluster.B })
            Assert.Equal(Model, File.ReadAllBytes(Path.Combine(cluster.ModelsDir(hive), "aidreams260K.gguf")));
        Assert.Equal(2L * Model.Length, server.BytesSent);

        // The queen lists the model on both hives, with where it came from, once each hive's catalog reached it.
        await Eventually.HoldsAsync("listed on both", "aidreams260K in the queen's model_list for both hives", Budget, async () =>
        {
            var (rows, end) = await Jobs.RunAsync(cluster.Queen.Url, "{\"operation\":\"model_list\"}", Budget);
            var on = rows.Where(r => r.StartsWith('{')).Select(r => JsonDocument.Parse(r).RootElement)
                .Where(r => r.GetProperty("id").GetString() == "aidreams260K" && r.GetProperty("origin").GetString() == Source
                    && r.GetProperty("sha256").GetString() == ModelSha)
                .Select(r => r.GetProperty("hive_id").GetString()).ToList();
            return (end == "[DONE]" && on.Count == 2, string.Join(",", on));
        }, () => cluster.Queen.Process.LogTail());

        var (deleteLines, deleteEnd) = await Jobs.RunAsync(cluster.Queen.Url, "{\"operation\":\"model_delete\",\"model\":\"aidreams260K\",\"hive_id\":\"*\"}", Budget);
        Assert.True(deleteEnd == "[DONE]", string.Join(" | ", deleteLines));
        foreach (var hive in new[] { cluster.A, cluster.B })
            Assert.False(File.Exists(Path.Combine(cluster.ModelsDir(hive), "aidreams260K.gguf")));
    }

    [Fact]
    public async Task ARequestForAnAliasNoHiveHas_IsPulledOnDemand_ShowingProgress_ThenAnswered()
    {
        await using var server = await TinyPull.StartServerAsync();
        server.BytesPerSecond = Model.Length / 2; // long enough to show progress
        await using var cluster = await RoutingCluster.StartAsync(
            queenSettings: new Dictionary<string, string>
            {
                ["RBEE_Models__Aliases__tiny-alias"] = Source,
                ["RBEE_Models__PullOnDemand"] = "true",
            },
            twoHives: false, hiveSettings: TinyPull.HiveSettings(server));

        using var response = await RoutingCluster.PostAsync(cluster.V1, "/chat/completions",
            JsonSerializer.Serialize(new { model = "tiny-alias", stream = true, max_tokens = 8, temperature = 0, messages = new[] { new { role = "user", content = "Once" } } }));
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var lines = new List<string>();
        using var cts = new CancellationTokenSource(Budget);
        while (await reader.ReadLineAsync(cts.Token) is { } line)
        {
            lines.Add(line);
            if (line == "data: [DONE]") break;
        }
        foreach (var l in lines.Where(l => l.Length > 0)) output.WriteLine(l);

        Assert.Equal("data: [DONE]", lines[^1]);
        Assert.Contains(lines, l => l.StartsWith(": pulling tiny-alias", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith(": pulling tiny-alias on", StringComparison.Ordinal) && l.Contains('%', StringComparison.Ordinal));
        var content = string.Concat(lines.Where(l => l.StartsWith("data: {", StringComparison.Ordinal))
            .Select(l => JsonDocument.Parse(l[6..]).RootElement.GetProperty("choices")[0])
            .Where(c => c.TryGetProperty("delta", out var d) && d.TryGetProperty("content", out _))
            .Select(c => c.GetProperty("delta").GetProperty("content").GetString()));
        Assert.NotEmpty(content);
        Assert.Equal(Model, File.ReadAllBytes(Path.Combine(cluster.ModelsDir(cluster.A), "tiny-alias.gguf")));
        Assert.Equal(Model.Length, server.BytesSent);
    }
}
