using System.Text;
using System.Text.Json;
using Rbee.Testing;
using Rbee.Testing.Gguf;

namespace Rbee.SystemTests.Worker;

[Trait("Category", "System")]
[Collection("System")]
public sealed class WorkerLifecycleTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(2, "--port", "80")]                                   // no --model
    [InlineData(2, "--model", "m.gguf", "--parallel", "zero")]
    [InlineData(2, "--model", "m.gguf", "--no-such-flag", "1")]
    [InlineData(1, "--model", "/nonexistent/model.gguf")]
    public async Task BadStart_ExitsWithItsCode_AndOneClearLine(int code, params string[] args)
    {
        await using var p = DaemonProcess.Start("llm-worker-rbee", args, logDirectory: WorkerHarness.NewDirectory());
        Assert.True(await p.WaitForExitAsync(ExitTimeout), "llm-worker-rbee did not exit on bad start-up");
        Assert.Equal(code, p.ExitCode);
        Assert.Contains("llm-worker-rbee:", p.LogTail());
    }

    [Fact]
    public async Task CorruptModel_ExitsWith1()
    {
        var dir = WorkerHarness.NewDirectory();
        var model = Path.Combine(dir, "broken.gguf");
        await File.WriteAllBytesAsync(model, Encoding.ASCII.GetBytes("GGUF this is not a model"));
        await using var p = DaemonProcess.Start("llm-worker-rbee", ["--model", model, "--port", FreePort.Next().ToString()], logDirectory: dir);
        Assert.True(await p.WaitForExitAsync(ExitTimeout), "llm-worker-rbee did not exit on a corrupt model");
        Assert.Equal(1, p.ExitCode);
        Assert.Contains("cannot load model", p.LogTail());
    }

    /// <summary>
    /// A client that goes away mid-stream cancels its generation at once and frees the slot (issue 5). The model is
    /// generated here with a long context, so an uncancelled generation would run for thousands of tokens; the
    /// worker must record the request as cancelled (499), not finished (200), and serve the next one on its single slot.
    /// Then SIGTERM stops the worker gracefully with exit code 0.
    /// </summary>
    [Fact]
    public async Task ClientDisconnectMidStream_FreesTheSlot_AndSigtermExitsZero()
    {
        var dir = WorkerHarness.NewDirectory();
        var model = Path.Combine(dir, "long-context.gguf");
        RandomLlama.Write(model, new RandomLlamaSpec
        {
            Embedding = 128, FeedForward = 256, Layers = 4, Heads = 4, KvHeads = 4, Context = 4096,
            VocabFrom = RepoPaths.Model("aidreams260K.gguf"),
        });
        await using var w = await WorkerHarness.StartAsync(model, dir, "--parallel", "1");

        using (var cts = new CancellationTokenSource())
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = new StringContent("""{"prompt":"Echoes","max_tokens":4000,"ignore_eos":true,"temperature":0,"stream":true}""",
                    Encoding.UTF8, "application/json"),
            };
            using var resp = await w.Http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            await using var stream = await resp.Content.ReadAsStreamAsync(cts.Token);
            await foreach (var e in SseReader.ReadAsync(stream, cts.Token))
            {
                Assert.NotEqual("[DONE]", e.Data);
                break; // one chunk seen: hang up
            }
        }

        var (status, body) = await PostAsync(w, """{"prompt":"Echoes","max_tokens":4,"temperature":0}""");
        Assert.Equal(200, status);
        Assert.Equal(4, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        var metrics = await w.Http.GetStringAsync("metrics");
        Assert.Contains("rbee_worker_requests_total{status=\"499\"} 1", metrics);
        Assert.Contains("rbee_worker_slots_busy 0", metrics);

        w.Process.Signal(Signals.SIGTERM);
        Assert.True(await w.Process.WaitForExitAsync(ExitTimeout), $"no exit after SIGTERM:\n{w.Process.LogTail()}");
        Assert.Equal(0, w.Process.ExitCode);
    }

    private static async Task<(int, JsonElement)> PostAsync(WorkerHarness w, string json)
    {
        using var resp = await w.Http.PostAsync("v1/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        return ((int)resp.StatusCode, JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement.Clone());
    }
}
