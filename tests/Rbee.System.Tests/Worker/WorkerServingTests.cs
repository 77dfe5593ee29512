using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Worker;

/// <summary>One real worker serving the real tiny model (tests/fixtures/aidreams260K.gguf), asked as clients ask.</summary>
public sealed class AidreamsWorker : IAsyncLifetime
{
    public WorkerNode Worker { get; private set; } = null!;
    public JsonElement Reference { get; } =
        JsonDocument.Parse(File.ReadAllText(RepoPaths.Model("aidreams260K.reference.json"))).RootElement.Clone();

    /// <summary>A small body limit, so the 413 test's body fits in loopback's socket buffers and the client reads
    /// the answer instead of a reset from a server that stops reading.</summary>
    public const int MaxBodyBytes = 64 * 1024;

    public async Task InitializeAsync() => Worker = await WorkerNode.StartAsync(RepoPaths.Model("aidreams260K.gguf"), null,
        "--max-body-bytes", MaxBodyBytes.ToString());
    public async Task DisposeAsync() => await Worker.DisposeAsync();
}

[Trait("Category", "System")]
[Collection("System")]
public sealed class WorkerServingTests(AidreamsWorker fixture) : IClassFixture<AidreamsWorker>
{
    private WorkerNode W => fixture.Worker;
    private string ReferenceText => fixture.Reference.GetProperty("text").GetString()!;

    private ChatClient Chat() => new("aidreams260K", new ApiKeyCredential("no-key"),
        new OpenAIClientOptions { Endpoint = new Uri(W.BaseUri, "v1") });

    private async Task<(HttpStatusCode, JsonElement)> PostAsync(string path, string body)
    {
        using var resp = await W.Http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await resp.Content.ReadAsStringAsync();
        return (resp.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task Worker_WritesReadyFile_AndAnswersHealthAndModels()
    {
        Assert.Equal("ready", W.Ready.GetProperty("event").GetString());
        Assert.Equal("w-test", W.Ready.GetProperty("worker_id").GetString());
        Assert.Equal(W.Port, W.Ready.GetProperty("port").GetInt32());
        Assert.Equal(W.Process.Pid, W.Ready.GetProperty("pid").GetInt32());
        Assert.EndsWith("aidreams260K.gguf", W.Ready.GetProperty("model").GetString());
        Assert.Empty(Directory.GetFiles(W.Directory, "*.tmp", SearchOption.AllDirectories));

        using var health = await W.Http.GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ok", JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());

        var models = JsonDocument.Parse(await W.Http.GetStringAsync("v1/models")).RootElement;
        Assert.Equal("list", models.GetProperty("object").GetString());
        var m = Assert.Single(models.GetProperty("data").EnumerateArray());
        Assert.Equal("aidreams260K", m.GetProperty("id").GetString());
        Assert.Equal("rbee", m.GetProperty("owned_by").GetString());
        Assert.Equal(128, m.GetProperty("meta").GetProperty("context_length").GetInt32());
        Assert.Equal("fallback", m.GetProperty("meta").GetProperty("chat_format").GetString());
    }

    [Fact]
    public async Task GreedyCompletion_OfEchoes_IsLlamaCppsText()
    {
        var (status, r) = await PostAsync("v1/completions", """{"model":"aidreams260K","prompt":"Echoes","max_tokens":64,"temperature":0}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var choice = r.GetProperty("choices")[0];
        Assert.Equal(ReferenceText, choice.GetProperty("text").GetString());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(4, r.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(64, r.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(68, r.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        var t = r.GetProperty("timings");
        Assert.Equal(64, t.GetProperty("predicted_n").GetInt32());
        Assert.True(t.GetProperty("prompt_ms").GetDouble() >= 0);
        Assert.True(t.GetProperty("predicted_per_second").GetDouble() > 0);
    }

    [Fact]
    public async Task StreamedCompletion_GivesTheSameText_AndEndsWithDone()
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = new StringContent("""{"prompt":["Echoes"],"max_tokens":64,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}""",
                Encoding.UTF8, "application/json"),
        };
        using var resp = await W.Http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", resp.Content.Headers.ContentType?.MediaType);
        var text = new StringBuilder();
        var frames = new List<JsonElement>();
        var done = false;
        await foreach (var e in SseReader.ReadAsync(await resp.Content.ReadAsStreamAsync()))
        {
            if (e.Data == "[DONE]") { done = true; break; }
            var chunk = JsonDocument.Parse(e.Data).RootElement.Clone();
            frames.Add(chunk);
            foreach (var c in chunk.GetProperty("choices").EnumerateArray()) text.Append(c.GetProperty("text").GetString());
        }
        Assert.True(done, "the stream ended without data: [DONE]");
        Assert.Equal(ReferenceText, text.ToString());
        var finish = frames.Single(f => f.GetProperty("choices").GetArrayLength() == 1
            && f.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == JsonValueKind.String);
        Assert.Equal("length", finish.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.True(finish.TryGetProperty("timings", out _));
        var usage = frames[^1].GetProperty("usage");
        Assert.Equal(64, usage.GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task ChatCompletion_WithTheOfficialClient_StreamingAndNot()
    {
        var client = Chat();
        List<ChatMessage> messages = [new SystemChatMessage("You dream."), new UserChatMessage("Tell me a dream")];
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 20 };
        ChatCompletion completion = await client.CompleteChatAsync(messages, options);
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(20, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 5);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        var full = completion.Content[0].Text;
        Assert.False(string.IsNullOrEmpty(full));

        var streamed = new StringBuilder();
        ChatFinishReason? reason = null;
        await foreach (var update in client.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            reason ??= update.FinishReason;
        }
        Assert.Equal(full, streamed.ToString());
        Assert.Equal(ChatFinishReason.Length, reason);
    }

    [Fact]
    public async Task StopString_EndsTheReply_WithoutTheStopText()
    {
        // The reference text holds "as I sense"; stopping at " sense" must cut just before it.
        var (status, r) = await PostAsync("v1/completions", """{"prompt":"Echoes","max_tokens":64,"temperature":0,"stop":[" sense","zzz"]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var choice = r.GetProperty("choices")[0];
        Assert.Equal(ReferenceText[..ReferenceText.IndexOf(" sense", StringComparison.Ordinal)], choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task SameSeed_GivesSameText()
    {
        const string body = """{"prompt":"Echoes","max_tokens":24,"temperature":1.0,"top_k":0,"top_p":1,"min_p":0,"seed":1234}""";
        var (_, a) = await PostAsync("v1/completions", body);
        var (_, b) = await PostAsync("v1/completions", body);
        var (_, c) = await PostAsync("v1/completions", body.Replace("1234", "4321", StringComparison.Ordinal));
        string Text(JsonElement r) => r.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.Equal(Text(a), Text(b));
        Assert.NotEqual(Text(a), Text(c));
    }

    [Theory]
    [InlineData("v1/completions", "{not json", HttpStatusCode.BadRequest, "invalid_json")]
    [InlineData("v1/completions", """{"model":"aidreams260K"}""", HttpStatusCode.BadRequest, "missing_required_parameter")]
    [InlineData("v1/chat/completions", """{"model":""}""", HttpStatusCode.BadRequest, "missing_required_parameter")]
    [InlineData("v1/completions", """{"model":"gpt-9","prompt":"x"}""", HttpStatusCode.NotFound, "model_not_found")]
    public async Task BadRequests_GetOpenAiErrors(string path, string body, HttpStatusCode expected, string code)
    {
        var (status, r) = await PostAsync(path, body);
        Assert.Equal(expected, status);
        var error = r.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.True(error.TryGetProperty("type", out _));
        Assert.True(error.TryGetProperty("param", out _));
    }

    [Fact]
    public async Task PromptLongerThanContext_Is400ContextLengthExceeded()
    {
        var prompt = string.Join(' ', Enumerable.Repeat("dream of echoes", 100));
        var (status, r) = await PostAsync("v1/completions", JsonSerializer.Serialize(new Dictionary<string, object> { ["prompt"] = prompt }));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("context_length_exceeded", r.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task UnknownModel_ThroughTheOfficialClient_Is404()
    {
        var client = new ChatClient("no-such-model", new ApiKeyCredential("no-key"),
            new OpenAIClientOptions { Endpoint = new Uri(W.BaseUri, "v1") });
        var e = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, e.Status);
    }

    [Fact]
    public async Task BodyTooLarge_Is413()
    {
        var (status, r) = await PostAsync("v1/completions", "{\"prompt\":\"" + new string('a', AidreamsWorker.MaxBodyBytes + 1024) + "\"}");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("request_too_large", r.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Metrics_ReportTokensQueueAndSlots()
    {
        await PostAsync("v1/completions", """{"prompt":"Echoes","max_tokens":8,"temperature":0}""");
        var text = await W.Http.GetStringAsync("metrics");
        foreach (var name in new[] { "rbee_worker_generated_tokens_total", "rbee_worker_prompt_tokens_total",
                     "rbee_worker_tokens_per_second", "rbee_worker_queue_depth", "rbee_worker_slots_busy",
                     "rbee_worker_requests_total{status=\"200\"}" })
            Assert.Contains(name, text);
        Assert.Contains("rbee_worker_slots_total 1", text);
    }
}
