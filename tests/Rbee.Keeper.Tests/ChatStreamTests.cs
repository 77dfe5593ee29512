using Rbee.Keeper.Chat;
using Rbee.Keeper.Connection;

namespace Rbee.Keeper.Tests;

/// <summary>How <c>rbee run</c> reads OpenAI's streamed chunks, and the one line it gives when the queen refuses.</summary>
public sealed class ChatStreamTests
{
    [Fact]
    public void AChatChunk_GivesItsDeltaText()
    {
        Assert.Equal(("Hel", null), ChatClient.ReadChunk("""{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"""));
    }

    [Fact]
    public void TheLastChunk_GivesTheFinishReason()
    {
        Assert.Equal((null, "stop"), ChatClient.ReadChunk("""{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"""));
    }

    [Fact]
    public void AnErrorFrame_IsAFailure()
    {
        var e = Assert.Throws<CliFailure>(() => ChatClient.ReadChunk("""{"error":{"message":"worker failed","type":"server_error","code":"worker_failed","param":null}}"""));
        Assert.Contains("worker failed", e.Message);
    }

    [Fact]
    public void AnUnknownModel_IsOneLine_SayingWhatToDo()
    {
        using var chat = new ChatClient(new Uri("http://127.0.0.1:1"), null);
        var e = chat.Refused("no-such", System.Net.HttpStatusCode.NotFound,
            """{"error":{"message":"model 'no-such' is not served by any online hive","type":"not_found_error","code":"model_not_found","param":"model"}}""");
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("rbee ls", e.Message);
        Assert.Contains("rbee pull", e.Message);
        Assert.Equal(ExitCodes.Failed, e.ExitCode);
    }

    [Fact]
    public void StatusLine_OnATerminal_RedrawsInPlace_DimmedOnlyWithColour_AndClearsBeforeTheAnswer()
    {
        var plain = new StringWriter();
        var status = new StatusLine(plain, terminal: true);
        status.Show("queued position=1");
        status.Clear();
        Assert.Equal("\r\u001b[Kqueued position=1\r\u001b[K", plain.ToString());

        var dim = new StringWriter();
        new StatusLine(dim, terminal: true, color: true).Show("loading");
        Assert.Equal("\r\u001b[K\u001b[2mloading\u001b[0m", dim.ToString());
    }

    [Fact]
    public void StatusLine_WithoutATerminal_IsOneLineEach_AndClearWritesNothing()
    {
        var err = new StringWriter();
        var status = new StatusLine(err, terminal: false);
        status.Show("queued position=1");
        status.Show("loading model on gpu-box (cpu)");
        status.Clear();
        Assert.Equal($"queued position=1{Environment.NewLine}loading model on gpu-box (cpu){Environment.NewLine}", err.ToString());
    }
}

/// <summary>The request <c>rbee run</c> sends: the conversation, streamed, with <c>--param</c> fields as JSON where they are JSON.</summary>
public sealed class ChatRequestTests
{
    [Fact]
    public void TheBody_CarriesTheHistory_StreamTrue_AndParams()
    {
        var body = ChatClient.Body("tiny", [new ChatMessage("user", "hi"), new ChatMessage("assistant", "hello"), new ChatMessage("user", "more")],
            ChatClient.ParseParameters(["temperature=0", "ignore_eos=true", "stop=[\"\\n\"]", "user=a=b", "note=plain words"]));
        var root = System.Text.Json.JsonDocument.Parse(body).RootElement;
        Assert.Equal("tiny", root.GetProperty("model").GetString());
        Assert.True(root.GetProperty("stream").GetBoolean());
        Assert.Equal(["user:hi", "assistant:hello", "user:more"],
            root.GetProperty("messages").EnumerateArray().Select(m => $"{m.GetProperty("role").GetString()}:{m.GetProperty("content").GetString()}"));
        Assert.Equal(0, root.GetProperty("temperature").GetDouble());
        Assert.True(root.GetProperty("ignore_eos").GetBoolean());
        Assert.Equal("\n", root.GetProperty("stop")[0].GetString());
        Assert.Equal("a=b", root.GetProperty("user").GetString());
        Assert.Equal("plain words", root.GetProperty("note").GetString());
    }
}
