using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using Xunit.Abstractions;

namespace Rbee.SystemTests.Models;

/// <summary>
/// <c>model_download</c> with the real programs: a real rbee-hive (and queen) pulling from <see cref="HuggingFaceServer"/>
/// on loopback, which answers like huggingface.co's resolve endpoint and counts every byte it sends; the hive finds it
/// through <c>HF_ENDPOINT</c>, as Hugging Face's own tools do.
/// </summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class ModelDownloadScenarios(ITestOutputHelper output)
{
    private const string Source = TinyPull.Source;
    private static readonly byte[] Model = TinyPull.Model;
    private static readonly string ModelSha = TinyPull.Sha256;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task APull_ReportsProgressEverySecond_SurvivesACutByResuming_AndTheQueenListsTheModel()
    {
        await using var server = await TinyPull.StartServerAsync();
        server.BytesPerSecond = Model.Length / 3; // about three seconds: several progress events
        server.CutNextTransfers(300_000);
        await using var cluster = await RoutingCluster.StartAsync(twoHives: false, hiveSettings: TinyPull.HiveSettings(server));

        var (lines, terminal) = await Jobs.RunTimedAsync(cluster.A.Url, $"{{\"operation\":\"model_download\",\"source\":\"{Source}\"}}", Budget);
        foreach (var l in lines) output.WriteLine($"{l.At.TotalSeconds,6:0.00} {l.Event} {l.Data}");

        Assert.Equal("[DONE]", terminal);
        var progress = lines.Where(l => l.Event == "data" && JobEvents.TryRead(l.Data, out var e) && e is ModelProgress)
            .Select(l => (l.At, Event: (ModelProgress)(JobEvents.TryRead(l.Data, out var e) ? e! : null!))).ToList();
        var downloaded = lines.Select(l => l.Event == "data" && JobEvents.TryRead(l.Data, out var e) ? e : null).OfType<ModelDownloaded>().Single();
        Assert.Equal(("aidreams260K", cluster.A.HiveId, ModelSha, (long)Model.Length), (downloaded.Model, downloaded.HiveId, downloaded.Sha256, downloaded.Size));
        Assert.Equal(ModelSha, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(downloaded.Path))));

        // At least one progress event a second while bytes move, with the hive's id, the total and a rate; the last says all.
        var span = progress[^1].At - progress[0].At;
        Assert.True(progress.Count >= (int)span.TotalSeconds, $"{progress.Count} progress events over {span.TotalSeconds:0.0} s");
        Assert.All(progress, p => Assert.Equal(cluster.A.HiveId, p.Event.HiveId));
        // A tick before the server's first answer (a loaded machine) knows no total yet: null, never a made-up figure.
        Assert.All(progress.Where(p => p.Event.Bytes > 0), p => Assert.Equal((long?)Model.Length, p.Event.Total));
        Assert.Contains(progress, p => p.Event.BytesPerS > 0 && p.Event.EtaS is not null);
        Assert.Equal(Model.Length, progress[^1].Event.Bytes);

        // The cut at 300 000 bytes was resumed with one ranged GET: the server sent the file once, not once and a half.
        Assert.Contains(lines, l => l.Data.Contains("resuming from byte 300000", StringComparison.Ordinal));
        Assert.Equal(1, server.RangedTransfers());
        Assert.Equal(Model.Length, server.BytesSent);

        await cluster.WaitListedAsync("aidreams260K", Budget);
        var (_, model) = await Http.GetJsonAsync($"{cluster.V1}/models/aidreams260K");
        var on = model.GetProperty("rbee").GetProperty("available_on")[0];
        Assert.Equal((cluster.A.HiveId, ModelSources.ModelsDir), (on.GetProperty("hive_id").GetString(), on.GetProperty("source").GetString()));
    }

    [Fact]
    public async Task AHiveKilledMidPull_ResumesItsPartFileAfterTheRestart()
    {
        await using var server = await TinyPull.StartServerAsync();
        server.BytesPerSecond = Model.Length / 4;
        using var home = new TempHome();
        await using var hive = HiveNode.Start(home.Path, "http://127.0.0.1:1", settings: TinyPull.HiveSettings(server));
        await hive.WaitHealthyAsync();
        var job = $"{{\"operation\":\"model_download\",\"source\":\"{Source}\"}}";

        // Follow the first pull until 300 000 bytes are on disk, then kill the hive hard.
        using (var post = await Http.Client.PostAsync($"{hive.Url}/v1/jobs", new StringContent(job, System.Text.Encoding.UTF8, "application/json")))
        {
            var sse = JsonDocument.Parse(await post.Content.ReadAsStringAsync()).RootElement.GetProperty("sse_url").GetString()!;
            using var cts = new CancellationTokenSource(Budget);
            using var stream = await Http.Client.GetAsync(hive.Url + sse, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            await foreach (var e in SseReader.ReadAsync(await stream.Content.ReadAsStreamAsync(cts.Token), cts.Token))
                if (e.Event == "data" && JobEvents.TryRead(e.Data, out var d) && d is ModelProgress { Bytes: >= 300_000 }) break;
        }
        hive.Process.Signal(Signals.SIGKILL);
        Assert.True(await hive.Process.WaitForExitAsync(Budget), "the hive did not die");
        var part = new FileInfo(Path.Combine(home.Path, ".cache", "rbee", "models", "aidreams260K.gguf.part"));
        Assert.True(part.Exists && part.Length >= 300_000, $"the part file: {(part.Exists ? part.Length : -1)} bytes");
        var kept = part.Length;

        server.BytesPerSecond = null;
        hive.Restart();
        await hive.WaitHealthyAsync();
        var (lines, terminal) = await Jobs.RunAsync(hive.Url, job, Budget);
        foreach (var l in lines) output.WriteLine(l);

        Assert.Equal("[DONE]", terminal);
        Assert.Contains(lines, l => l.StartsWith($"resuming {part.FullName} at byte {kept} of {Model.Length}", StringComparison.Ordinal));
        var ranged = Assert.Single(server.Requests, r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal) && r.Range.Length > 0);
        Assert.Equal($"bytes={kept}-", ranged.Range);
        Assert.Equal(ModelSha, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(home.Path, ".cache", "rbee", "models", "aidreams260K.gguf")))));
    }

    [Fact]
    public async Task APullThatDoesNotFitTheDisk_FailsBeforeAByteIsFetched_NamingBothNumbers()
    {
        await using var server = await TinyPull.StartServerAsync();
        using var home = new TempHome();
        var models = Path.Combine(home.Path, ".cache", "rbee", "models");
        Directory.CreateDirectory(models);
        // A real small file system as the models directory: 512 KiB for a 1 MiB model.
        Run("mount", "-t", "tmpfs", "-o", "size=512k", "rbee-test-models", models);
        try
        {
            await using var hive = HiveNode.Start(home.Path, "http://127.0.0.1:1", settings: TinyPull.HiveSettings(server));
            await hive.WaitHealthyAsync();

            var (lines, terminal) = await Jobs.RunAsync(hive.Url, $"{{\"operation\":\"model_download\",\"source\":\"{Source}\"}}", Budget);

            Assert.StartsWith("[ERROR]", terminal, StringComparison.Ordinal);
            Assert.Contains($"not enough free space in {models}: the download needs {Model.Length} more bytes", terminal, StringComparison.Ordinal);
            Assert.Matches(@"and \d+ bytes \([0-9.]+ KiB\) are free", terminal);
            Assert.Equal(0, server.BytesSent);
            Assert.Empty(Directory.GetFiles(models));
        }
        finally
        {
            Run("umount", "-l", models);
        }
    }

    private static void Run(string program, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardError = true })!;
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)}: exit {p.ExitCode.ToString(CultureInfo.InvariantCulture)} {error}");
    }
}
