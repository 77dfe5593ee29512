using System.Text;
using Rbee.Queen.Routing;

namespace Rbee.Queen.Tests.Routing;

/// <summary><see cref="HttpInferenceClient.StreamEnd"/>: whether a relayed stream finished with <c>data: [DONE]</c>, whatever its chunks.</summary>
public sealed class StreamEndTests
{
    private const string Whole = "data: {\"choices\":[{\"text\":\"hi\"}]}\n\ndata: [DONE]\n\n";

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(64)]
    public void AStreamEndingWithDone_IsDone_HoweverItIsCut(int chunk)
    {
        var end = Feed(Whole, chunk);
        Assert.True(end.Done);
    }

    [Theory]
    [InlineData("")]
    [InlineData("data: {\"choices\":[{\"text\":\"hi\"}]}\n\n")]
    [InlineData("data: [DONE]\n\ndata: {\"choices\":[]}\n\n")]
    [InlineData("data: {\"text\":\"data: [DONE]\"}\n\n")]
    public void AStreamThatStopsBeforeDone_IsNot(string text) => Assert.False(Feed(text, 5).Done);

    private static HttpInferenceClient.StreamEnd Feed(string text, int chunk)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var end = new HttpInferenceClient.StreamEnd();
        for (var i = 0; i < bytes.Length; i += chunk) end.Saw(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i)));
        return end;
    }
}
