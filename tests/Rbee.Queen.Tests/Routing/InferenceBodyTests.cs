using System.Text;
using Microsoft.AspNetCore.Http;
using Rbee.Queen.Routing;

namespace Rbee.Queen.Tests.Routing;

public sealed class InferenceBodyTests
{
    private static (string, bool) Parse(string json) => InferenceBody.Parse(Encoding.UTF8.GetBytes(json));

    private static BadInferenceRequest Bad(string json) => Assert.Throws<BadInferenceRequest>(() => Parse(json));

    [Fact]
    public void ReadsModelAndStream_AtTheTopLevelOnly()
    {
        Assert.Equal(("m", false), Parse("""{"model":"m","messages":[{"role":"user","content":"hi","model":"x"}]}"""));
        Assert.Equal(("llama3.2:1b", true), Parse("""{"stream":true,"nested":{"model":"no","stream":false},"model":"llama3.2:1b"}"""));
        Assert.Equal(("m", false), Parse("""{"model":"m","stream":null}"""));
    }

    [Theory]
    [InlineData("", "invalid_json")]
    [InlineData("[1,2]", "invalid_json")]
    [InlineData("""{"model":""", "invalid_json")]
    [InlineData("""{"model":"m"} trailing""", "invalid_json")]
    [InlineData("""{"prompt":"hi"}""", "missing_model")]
    [InlineData("""{"model":"  "}""", "missing_model")]
    [InlineData("""{"model":42}""", "invalid_type")]
    [InlineData("""{"model":"m","stream":"yes"}""", "invalid_type")]
    [InlineData("""{"model":"\ud800"}""", "invalid_encoding")] // parsed by System.Text.Json, not text: was a 500
    public void BadBodies_Are400_NamingTheProblem(string json, string code)
    {
        var e = Bad(json);
        Assert.Equal(StatusCodes.Status400BadRequest, e.Status);
        Assert.Equal(code, e.Code);
    }

    [Fact]
    public async Task ABodyOverTheLimit_Is413_WhetherDeclaredOrNot()
    {
        var body = Encoding.UTF8.GetBytes("{\"model\":\"m\",\"prompt\":\"" + new string('x', 5000) + "\"}");
        foreach (var declared in new[] { true, false })
        {
            var context = new DefaultHttpContext();
            context.Request.Body = new MemoryStream(body);
            if (declared) context.Request.ContentLength = body.Length;
            var e = await Assert.ThrowsAsync<BadInferenceRequest>(() => InferenceBody.ReadAsync(context.Request, 4096, CancellationToken.None));
            Assert.Equal(StatusCodes.Status413PayloadTooLarge, e.Status);
        }
        var ok = new DefaultHttpContext();
        ok.Request.Body = new MemoryStream(body);
        using var read = await InferenceBody.ReadAsync(ok.Request, 8192, CancellationToken.None);
        Assert.Equal(body, read.Bytes.ToArray());
        Assert.Equal("m", read.Model);
    }

    [Fact]
    public void AModelInInvalidUtf8_Is400NamingModel()
    {
        byte[] json = [.. "{\"model\":\""u8, 0xff, .. "\"}"u8];
        var e = Assert.Throws<BadInferenceRequest>(() => InferenceBody.Parse(json));
        Assert.Equal(400, e.Status);
        Assert.Equal("model", e.Param);
    }
}
