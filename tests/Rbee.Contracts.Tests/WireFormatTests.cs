using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;

namespace Rbee.Contracts.Tests;

public class WireFormatTests
{
    [Fact]
    public void TelemetryFrame_IsSnakeCase_AndUnmeasuredValuesAreNull()
    {
        var w = new ProcessStats
        {
            Pid = 4242, Group = "llm", Instance = "8080", Port = 8080, State = WorkerStates.Ready, Model = "m.gguf", Device = "cpu",
            CpuPct = 35.2, RssMb = 812, IoReadBps = 0, IoWriteBps = 0, UptimeS = 3,
        };
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
    public void ProcessStats_KeepsItsWireNames_UnmeasuredAreNull_AndCarriesNoHiveInternals()
    {
        var w = new ProcessStats { Pid = 1, Group = "llm", Instance = "8080", Port = 8080, State = WorkerStates.Starting };
        using var doc = JsonDocument.Parse(JsonSerializer.Serialize(w, RbeeJsonContext.Default.ProcessStats));
        var names = doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(
        [
            "pid", "group", "instance", "port", "state", "model", "device", "cpu_pct", "rss_mb", "io_read_bps", "io_write_bps",
            "uptime_s", "gpu_util_pct", "vram_mb", "total_vram_mb", "worker_id", "model_id", "started_by", "url", "in_flight",
            "last_used_at", "ejected_until", "idle_stop_at",
        ], names);
        foreach (var measured in new[] { "cpu_pct", "rss_mb", "io_read_bps", "io_write_bps", "uptime_s", "gpu_util_pct", "vram_mb", "total_vram_mb" })
            Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty(measured).ValueKind);

        // A frame from a hive of the earlier contract (with pids and log_path) still reads.
        var old = JsonSerializer.Deserialize("""{"pid":2,"group":"llm","instance":"8081","port":8081,"state":"ready","pids":[2,3],"log_path":"/x/worker.log"}""",
            RbeeJsonContext.Default.ProcessStats)!;
        Assert.Equal((2, 8081, WorkerStates.Ready), (old.Pid, old.Port, old.State));
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
