using System.Text;
using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
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
        using var dir = new TempHome();
        await using var p = DaemonProcess.Start("llm-worker-rbee", args, logDirectory: dir.Path);
        Assert.True(await p.WaitForExitAsync(ExitTimeout), "llm-worker-rbee did not exit on bad start-up");
        Assert.Equal(code, p.ExitCode);
        Assert.Contains("llm-worker-rbee:", p.LogTail());
    }

    [Fact]
    public async Task PortInUse_ExitsWith1()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        using var dir = new TempHome();
        await using var p = DaemonProcess.Start("llm-worker-rbee",
            ["--model", RepoPaths.Model("aidreams260K.gguf"), "--port", port.ToString()], logDirectory: dir.Path);
        Assert.True(await p.WaitForExitAsync(ExitTimeout), "llm-worker-rbee did not exit when its port was taken");
        Assert.Equal(1, p.ExitCode);
        Assert.Contains("cannot listen", p.LogTail());
    }

    [Fact]
    public async Task CorruptModel_ExitsWith1()
    {
        using var home = new TempHome();
        var dir = home.Path;
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
        using var home = new TempHome();
        var dir = home.Path;
        var model = Path.Combine(dir, "long-context.gguf");
        WriteLongContextModel(model);
        await using var w = await WorkerNode.StartAsync(model, dir, "--parallel", "1", "--queue-size", "1");

        Task<HttpResponseMessage> waiting;
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
                break; // one chunk seen: the slot is busy
            }

            // The only slot is busy and the queue holds one: of two more requests one waits, the other is refused at
            // once with Retry-After. The waiting one can only finish once the streaming client is gone.
            var b = PostRawAsync(w, """{"prompt":"Echoes","max_tokens":4,"temperature":0}""");
            var c = PostRawAsync(w, """{"prompt":"Echoes","max_tokens":4,"temperature":0}""");
            var refusedTask = await Task.WhenAny(b, c);
            waiting = refusedTask == b ? c : b;
            using var refused = await refusedTask;
            Assert.Equal(503, (int)refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            Assert.Contains("queue_full", await refused.Content.ReadAsStringAsync());
            Assert.False(waiting.IsCompleted);
            // Leaving this block disposes the response: the client hangs up mid-stream.
        }

        using (var served = await waiting)
        {
            Assert.Equal(200, (int)served.StatusCode);
            var body = JsonDocument.Parse(await served.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(4, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        }

        var metrics = await w.Http.GetStringAsync("metrics");
        Assert.Contains("rbee_worker_requests_total{status=\"499\"} 1", metrics);
        Assert.Contains("rbee_worker_slots_busy 0", metrics);

        w.Process.Signal(Signals.SIGTERM);
        Assert.True(await w.Process.WaitForExitAsync(ExitTimeout), $"no exit after SIGTERM:\n{w.Process.LogTail()}");
        Assert.Equal(0, w.Process.ExitCode);
    }

    /// <summary>With <c>--parallel 2</c> two long generations run at once: each has streamed text while the
    /// other is still open, which one slot could not do.</summary>
    [Fact]
    public async Task ParallelTwo_RunsTwoStreamsAtOnce()
    {
        using var home = new TempHome();
        var dir = home.Path;
        var model = Path.Combine(dir, "long-context.gguf");
        WriteLongContextModel(model);
        await using var w = await WorkerNode.StartAsync(model, dir, "--parallel", "2", "--queue-size", "0");

        async Task<(HttpResponseMessage, IAsyncEnumerator<SseEvent>)> OpenAsync()
        {
            var req = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = new StringContent("""{"prompt":"Echoes","max_tokens":4000,"ignore_eos":true,"stream":true}""",
                    Encoding.UTF8, "application/json"),
            };
            var resp = await w.Http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(200, (int)resp.StatusCode);
            var events = SseReader.ReadAsync(await resp.Content.ReadAsStreamAsync()).GetAsyncEnumerator();
            Assert.True(await events.MoveNextAsync());
            return (resp, events);
        }

        var (r1, e1) = await OpenAsync();
        var (r2, e2) = await OpenAsync();
        Assert.True(await e1.MoveNextAsync());
        Assert.NotEqual("[DONE]", e1.Current.Data);
        Assert.True(await e2.MoveNextAsync());
        Assert.NotEqual("[DONE]", e2.Current.Data);
        var metrics = await w.Http.GetStringAsync("metrics");
        Assert.Contains("rbee_worker_slots_busy 2", metrics);
        await e1.DisposeAsync(); await e2.DisposeAsync();
        r1.Dispose(); r2.Dispose();
    }

    private static void WriteLongContextModel(string path) => RandomLlama.Write(path, new RandomLlamaSpec
    {
        Embedding = 256, FeedForward = 512, Layers = 4, Heads = 4, KvHeads = 4, Context = 4096,
        VocabFrom = RepoPaths.Model("aidreams260K.gguf"),
    });

    [Fact]
    public async Task ModelChatTemplate_IsUsed_AndWhatItRaisesIs400()
    {
        using var home = new TempHome();
        var dir = home.Path;
        var model = Path.Combine(dir, "templated.gguf");
        var writer = RandomLlama.Build(new RandomLlamaSpec { VocabFrom = RepoPaths.Model("aidreams260K.gguf") });
        writer.Set("tokenizer.chat_template",
            "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
            "[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}");
        writer.Write(model);
        await using var w = await WorkerNode.StartAsync(model, dir);

        var models = JsonDocument.Parse(await w.Http.GetStringAsync("v1/models")).RootElement;
        Assert.Equal("gguf", models.GetProperty("data")[0].GetProperty("meta").GetProperty("chat_format").GetString());

        var (ok, body) = await PostAsync(w, "v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"temperature":0}""");
        Assert.Equal(200, ok);
        Assert.Equal(3, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        // The template prints "<s>" itself: the chat prompt has exactly the tokens of the same text with one BOS added.
        var (_, plain) = await PostAsync(w, "v1/completions", """{"prompt":"[user] hi\n[assistant]","max_tokens":1}""");
        Assert.Equal(plain.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(),
            body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        var (status, error) = await PostAsync(w, "v1/chat/completions", """{"messages":[{"role":"system","content":"be brief"}]}""");
        Assert.Equal(400, status);
        Assert.Contains("System role not supported", error.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("invalid_chat_template", error.GetProperty("error").GetProperty("code").GetString());
    }

    private static Task<HttpResponseMessage> PostRawAsync(WorkerNode w, string json) =>
        w.Http.PostAsync("v1/completions", new StringContent(json, Encoding.UTF8, "application/json"));

    private static async Task<(int, JsonElement)> PostAsync(WorkerNode w, string path, string json)
    {
        using var resp = await w.Http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return ((int)resp.StatusCode, JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement.Clone());
    }
}
