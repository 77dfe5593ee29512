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
