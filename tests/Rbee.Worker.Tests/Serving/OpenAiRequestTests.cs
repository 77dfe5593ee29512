using System.Text.Json;
using Rbee.Worker.Serving;

namespace Rbee.Worker.Tests.Serving;

public sealed class OpenAiRequestTests
{
    private static OpenAiRequest Parse(string json, EndpointKind kind = EndpointKind.Completion) =>
        OpenAiRequest.Parse(JsonDocument.Parse(json).RootElement, kind);

    private static RequestException Refused(string json, EndpointKind kind = EndpointKind.Completion) =>
        Assert.Throws<RequestException>(() => Parse(json, kind));

    [Fact]
    public void Completion_PromptAsStringOrArrayOfOneStringOrTokens()
    {
        Assert.Equal("hi", Parse("""{"prompt":"hi"}""").Prompt!.Text);
        Assert.Equal("hi", Parse("""{"prompt":["hi"]}""").Prompt!.Text);
        Assert.Equal(new[] { 1, 2, 3 }, Parse("""{"prompt":[1,2,3]}""").Prompt!.Tokens);
        Assert.Equal(new[] { 4, 5 }, Parse("""{"prompt":[[4,5]]}""").Prompt!.Tokens);
    }

    [Fact]
    public void Completion_MissingPrompt_Is400WithParam()
    {
        var e = Refused("""{"model":"m"}""");
        Assert.Equal(400, e.Status);
        Assert.Equal("prompt", e.Param);
        Assert.Equal("missing_required_parameter", e.Code);
    }

    [Fact]
    public void Completion_SeveralPrompts_AreRefused()
    {
        Assert.Equal("unsupported_value", Refused("""{"prompt":["a","b"]}""").Code);
    }

    [Fact]
    public void Chat_MissingOrEmptyMessages_Is400()
    {
        Assert.Equal("messages", Refused("{}", EndpointKind.Chat).Param);
        Assert.Equal("messages", Refused("""{"messages":[]}""", EndpointKind.Chat).Param);
        Assert.Equal("messages[0].role", Refused("""{"messages":[{"content":"x"}]}""", EndpointKind.Chat).Param);
    }

    [Fact]
    public void Chat_ContentPartsAreJoined()
    {
        var r = Parse("""{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}""", EndpointKind.Chat);
        Assert.Equal(new ChatTurn("user", "ab"), r.Messages![0]);
    }

    [Fact]
    public void SamplingFields_AreRead()
    {
        var r = Parse("""{"prompt":"x","temperature":0,"top_k":5,"top_p":0.5,"min_p":0.1,"repeat_penalty":1.2,"repeat_last_n":32,"frequency_penalty":0.5,"presence_penalty":-0.5,"seed":7,"max_tokens":12,"stop":"##","stream":true,"stream_options":{"include_usage":true}}""");
        Assert.Equal(0f, r.Sampling.Temperature);
        Assert.True(r.Sampling.IsGreedy);
        Assert.Equal(5, r.Sampling.TopK);
        Assert.Equal(0.5f, r.Sampling.TopP);
        Assert.Equal(0.1f, r.Sampling.MinP);
        Assert.Equal(1.2f, r.Sampling.RepeatPenalty);
        Assert.Equal(32, r.Sampling.RepeatLastN);
        Assert.Equal(0.5f, r.Sampling.FrequencyPenalty);
        Assert.Equal(-0.5f, r.Sampling.PresencePenalty);
        Assert.Equal(7UL, r.Sampling.Seed);
        Assert.Equal(12, r.MaxTokens);
        Assert.Equal(new[] { "##" }, r.Stop);
        Assert.True(r.Stream);
        Assert.True(r.IncludeUsage);
    }

    [Fact]
    public void MaxTokensAliases()
    {
        Assert.Equal(9, Parse("""{"prompt":"x","max_completion_tokens":9,"max_tokens":3}""").MaxTokens);
        Assert.Equal(4, Parse("""{"prompt":"x","n_predict":4}""").MaxTokens);
        Assert.Null(Parse("""{"prompt":"x","n_predict":-1}""").MaxTokens);
    }

    [Theory]
    [InlineData("""{"prompt":"x","temperature":"hot"}""", "temperature")]
    [InlineData("""{"prompt":"x","top_p":1.5}""", "top_p")]
    [InlineData("""{"prompt":"x","max_tokens":-1}""", "max_tokens")]
    [InlineData("""{"prompt":"x","stop":[1]}""", "stop")]
    [InlineData("""{"prompt":"x","stream":"yes"}""", "stream")]
    [InlineData("""{"prompt":"x","n":2}""", "n")]
    [InlineData("""{"prompt":"x","model":5}""", "model")]
    [InlineData("""{"prompt":[1,-2]}""", "prompt")]
    public void BadFieldValues_Are400NamingTheField(string json, string param)
    {
        var e = Refused(json);
        Assert.Equal(400, e.Status);
        Assert.Equal(param, e.Param);
        Assert.Equal("invalid_request_error", e.ToError().Error.Type);
    }

    [Fact]
    public void NonObjectBody_Is400()
    {
        Assert.Equal(400, Refused("[1]").Status);
    }

    // Issue 12 §4: System.Text.Json parses these documents, and only turning the value into a string fails; that was a 500.
    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"\ud800 hi"}]}""", EndpointKind.Chat, "messages[0].content")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"text","text":"\udfff"}]}]}""", EndpointKind.Chat, "messages[0].content")]
    [InlineData("""{"prompt":"\ud800"}""", EndpointKind.Completion, "prompt")]
    [InlineData("""{"prompt":["\ud800"]}""", EndpointKind.Completion, "prompt")]
    [InlineData("""{"prompt":"x","stop":"\ud800"}""", EndpointKind.Completion, "stop")]
    public void ALoneSurrogate_Is400NamingTheField(string json, EndpointKind kind, string param)
    {
        var e = Refused(json, kind);
        Assert.Equal(400, e.Status);
        Assert.Equal(param, e.Param);
        Assert.Equal("invalid_encoding", e.Code);
    }

    [Theory]
    [InlineData(EndpointKind.Chat, "messages[0].content")]
    [InlineData(EndpointKind.Completion, "prompt")]
    public void InvalidUtf8_Is400NamingTheField(EndpointKind kind, string param)
    {
        var head = kind == EndpointKind.Chat ? "{\"messages\":[{\"role\":\"user\",\"content\":\"" : "{\"prompt\":\"";
        var tail = kind == EndpointKind.Chat ? "\"}]}" : "\"}";
        byte[] json = [.. System.Text.Encoding.UTF8.GetBytes(head), 0xff, (byte)' ', (byte)'h', .. System.Text.Encoding.UTF8.GetBytes(tail)];
        var e = Assert.Throws<RequestException>(() => OpenAiRequest.Parse(JsonDocument.Parse(json).RootElement, kind));
        Assert.Equal(400, e.Status);
        Assert.Equal(param, e.Param);
    }

    [Theory]
    [InlineData("wizard")]
    [InlineData("USER")]
    [InlineData("")]
    public void AnUnknownChatRole_Is400NamingMessagesIRole(string role)
    {
        var e = Refused($$"""{"messages":[{"role":"user","content":"a"},{"role":"{{role}}","content":"b"}]}""", EndpointKind.Chat);
        Assert.Equal(400, e.Status);
        Assert.Equal("messages[1].role", e.Param);
    }

    [Theory]
    [InlineData("system")]
    [InlineData("developer")]
    [InlineData("assistant")]
    [InlineData("tool")]
    public void EveryOpenAiChatRole_IsAccepted(string role)
    {
        var r = Parse($$"""{"messages":[{"role":"{{role}}","content":"b"}]}""", EndpointKind.Chat);
        Assert.Equal(role, r.Messages![0].Role);
    }
}
