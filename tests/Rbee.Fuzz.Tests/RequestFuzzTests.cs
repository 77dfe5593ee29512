using System.Text;
using System.Text.Json;
using CsCheck;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Cluster;
using Rbee.Queen.Routing;
using Rbee.Worker.Serving;

namespace Rbee.Fuzz.Tests;

/// <summary>
/// Request readers that take bytes from any client: each input ends in a value or the reader's own clear error (the
/// endpoint's 4xx), never another exception (the 500 the hardening probe found).
/// </summary>
public sealed class RequestFuzzTests
{
    private const string Chat = """
        {"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]},
        {"role":"assistant","content":"hello"},{"role":"user","content":"again"}],"max_tokens":16,"temperature":0.7,"top_p":0.9,"top_k":40,
        "stop":["\n","END"],"stream":true,"stream_options":{"include_usage":true},"seed":42,"presence_penalty":0.1,"frequency_penalty":0.2,
        "n":1,"ignore_eos":false,"repeat_penalty":1.1,"min_p":0.05}
        """;

    private const string Completion = """{"model":"m","prompt":"Once upon","max_tokens":8,"echo":false,"n":1,"stop":"x","temperature":0}""";
    private const string TokenPrompt = """{"model":"m","prompt":[1,2,3],"max_tokens":4}""";

    /// <summary>The worker's reader: <see cref="OpenAiRequest.Parse"/> answers a value or a <see cref="RequestException"/>.</summary>
    private static void WorkerReads(byte[] body, EndpointKind kind)
    {
        if (Fuzz.TryParse(body) is not { } root) return;
        try
        {
            var request = OpenAiRequest.Parse(root, kind);
            // What was accepted is text a tokenizer can take: no lone surrogate slips through.
            foreach (var m in request.Messages ?? []) Assert.True(Encoding.UTF8.GetByteCount(m.Content) >= 0 && !HasLoneSurrogate(m.Content), "a message kept a lone surrogate");
            if (request.Prompt?.Text is { } text) Assert.False(HasLoneSurrogate(text), "the prompt kept a lone surrogate");
        }
        catch (RequestException e)
        {
            Assert.InRange(e.Status, 400, 499);
        }
    }

    private static bool HasLoneSurrogate(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
            else if (char.IsSurrogate(s[i])) return true;
        }
        return false;
    }

    [Fact]
    public void WorkerChatRequests_MutatedJson() =>
        Fuzz.MutatedJson(Chat).Check(json => WorkerReads(Encoding.UTF8.GetBytes(json), EndpointKind.Chat));

    [Fact]
    public void WorkerCompletionRequests_MutatedJson() =>
        Fuzz.MutatedJson(Completion, TokenPrompt).Check(json => WorkerReads(Encoding.UTF8.GetBytes(json), EndpointKind.Completion));

    [Fact]
    public void WorkerRequests_InvalidUtf8AndBrokenBytes()
    {
        Fuzz.WithInvalidUtf8(Chat, Completion).Check(bytes =>
        {
            WorkerReads(bytes, EndpointKind.Chat);
            WorkerReads(bytes, EndpointKind.Completion);
        });
        Fuzz.MutatedBytes(Encoding.UTF8.GetBytes(Chat), Encoding.UTF8.GetBytes(Completion)).Check(bytes =>
        {
            WorkerReads(bytes, EndpointKind.Chat);
            WorkerReads(bytes, EndpointKind.Completion);
        });
    }

    /// <summary>The queen's reader: <see cref="InferenceBody.Parse"/> answers the model and stream flag or a <see cref="BadInferenceRequest"/>.</summary>
    [Fact]
    public void QueenInferenceBodies()
    {
        void Reads(byte[] body)
        {
            try
            {
                var (model, _) = InferenceBody.Parse(body);
                Assert.False(string.IsNullOrWhiteSpace(model));
                // The rewrite for another name of the model keeps a body the worker can read.
                Assert.NotNull(Fuzz.TryParse(InferenceBody.WithModel(body, "other")));
            }
            catch (BadInferenceRequest e)
            {
                Assert.InRange(e.Status, 400, 499);
            }
        }

        Fuzz.MutatedJson(Chat, Completion, TokenPrompt).Check(json => Reads(Encoding.UTF8.GetBytes(json)));
        Fuzz.WithInvalidUtf8(Chat, Completion).Check(Reads);
        Fuzz.MutatedBytes(Encoding.UTF8.GetBytes(Chat)).Check(Reads);
    }

    /// <summary>A job's fields are read with <see cref="JobFields"/>: a wrong kind is an error message, never an exception.</summary>
    [Fact]
    public void JobRequestFields() =>
        Fuzz.MutatedJson("""{"operation":"worker_spawn","model":"m","worker_type":"llm","device":"cpu","port":8080,"restart":"no","follow":true,"hive_id":"h"}""")
            .Check(json =>
            {
                if (Fuzz.TryParse(Encoding.UTF8.GetBytes(json)) is not { } root || root.ValueKind != JsonValueKind.Object) return;
                foreach (var name in new[] { "operation", "model", "worker_type", "device", "restart", "hive_id" })
                {
                    var s = JobFields.String(root, name, out var error);
                    Assert.True(s is null || error is null);
                }
                var port = JobFields.Int(root, "port", out var portError);
                Assert.True(port is null || portError is null);
                var follow = JobFields.Bool(root, "follow", out var boolError);
                Assert.True(follow is null || boolError is null);
            });

    /// <summary>A hive's ready: read, then validated into a URL or a message naming the field.</summary>
    [Fact]
    public void HiveReadies() =>
        Fuzz.MutatedJson("""{"hive_id":"gpu-box","hive_url":"http://10.0.0.5:7835","instance_id":"i1","version":"0.1.0","protocol":1}""")
            .Check(json =>
            {
                HiveReady? ready;
                try { ready = JsonSerializer.Deserialize(json, RbeeJsonContext.Default.HiveReady); }
                catch (JsonException) { return; }
                var (url, error, _) = HiveReadyValidation.Validate(ready);
                Assert.True(url is not null ^ error is not null);
            });
}
