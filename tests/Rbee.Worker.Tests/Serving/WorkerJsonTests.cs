using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.Worker.Serving;

namespace Rbee.Worker.Tests.Serving;

public sealed class WorkerJsonTests
{
    [Fact]
    public void ErrorMessage_KeepsApostrophes_AndParamNull()
    {
        var json = JsonSerializer.Serialize(
            new RequestException(404, "The model 'x' does not exist", "model_not_found", null).ToError(), WorkerJson.Error);
        Assert.Contains("\"message\":\"The model 'x' does not exist\"", json, StringComparison.Ordinal);
        Assert.Contains("\"param\":null", json, StringComparison.Ordinal);
    }

    [Fact]
    public void GeneratedText_IsWrittenAsIs_ButStillValidJson()
    {
        var chunk = new CompletionResponse("cmpl-1", "text_completion", 0, "m",
            [new CompletionChoice("é <b> & \"q\"\n", 0, null)], null, null, "fp");
        var json = JsonSerializer.Serialize(chunk, WorkerJson.Context.CompletionResponse);
        Assert.Contains("\"text\":\"é <b> & \\\"q\\\"\\n\"", json, StringComparison.Ordinal);
        Assert.Contains("\"finish_reason\":null", json, StringComparison.Ordinal);
        Assert.Equal("é <b> & \"q\"\n", JsonDocument.Parse(json).RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
    }
}
