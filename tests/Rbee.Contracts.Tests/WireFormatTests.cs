using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;

namespace Rbee.Contracts.Tests;

public class WireFormatTests
{
    [Fact]
    public void TelemetryFrame_IsSnakeCase_AndUnmeasuredValuesAreNull()
    {
        var w = new ProcessStats(4242, "llm", "8080", 8080, WorkerStates.Ready, "m.gguf", "cpu", 35.2, 812, 0, 0, 3, null, null, null);
        var frame = new TelemetryFrame("gpu-box", "i1", 123, DateTimeOffset.UnixEpoch,
            new NodeStats(12.5, 1, 2, []), [w]);
        var json = JsonSerializer.Serialize(frame, RbeeJsonContext.Default.TelemetryFrame);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("gpu-box", root.GetProperty("hive_id").GetString());
        Assert.Equal(123, root.GetProperty("seq").GetInt64());
        Assert.Equal(12.5, root.GetProperty("node").GetProperty("cpu_pct").GetDouble());
        var worker = root.GetProperty("workers")[0];
        Assert.Equal(812, worker.GetProperty("rss_mb").GetInt64());
        Assert.Equal(JsonValueKind.Null, worker.GetProperty("gpu_util_pct").ValueKind);
        Assert.Equal(JsonValueKind.Null, worker.GetProperty("vram_mb").ValueKind);
    }

    [Fact]
    public void ErrorResponse_HasOpenAiShape()
    {
        var json = JsonSerializer.Serialize(ErrorResponse.Of("bad", ErrorTypes.InvalidRequest, "bad_url"), RbeeJsonContext.Default.ErrorResponse);
        using var doc = JsonDocument.Parse(json);
        var e = doc.RootElement.GetProperty("error");
        Assert.Equal("bad", e.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", e.GetProperty("type").GetString());
        Assert.Equal("bad_url", e.GetProperty("code").GetString());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("param").ValueKind);
    }

    [Fact]
    public void HiveReady_RoundTrips()
    {
        var r = new HiveReady("h", "http://10.0.0.5:7835", "inst", "0.1.0", 1);
        var json = JsonSerializer.Serialize(r, RbeeJsonContext.Default.HiveReady);
        Assert.Contains("\"hive_url\":\"http://10.0.0.5:7835\"", json);
        Assert.Equal(r, JsonSerializer.Deserialize(json, RbeeJsonContext.Default.HiveReady));
    }
}
