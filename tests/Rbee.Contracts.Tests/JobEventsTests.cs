using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;

namespace Rbee.Contracts.Tests;

/// <summary>
/// The structured events of job streams (DESIGN.md "Wire contract", jobs). The expected strings are the exact bytes the
/// hive and the queen sent when they wrote these events by hand, so clients and scripts reading them see no change.
/// </summary>
public class JobEventsTests
{
    private static T Worker<T>(int? pid = 4242, string? cgroup = "/sys/fs/cgroup/rbee.slice/llm/8080") where T : WorkerJobEvent, new() => new()
    {
        WorkerType = "llm",
        Port = 8080,
        Pid = pid,
        WorkerId = "w-1",
        Model = "/models/tiny.gguf",
        ModelId = "tiny",
        StartedBy = null,
        Device = "cpu",
        Cgroup = cgroup,
        LogPath = "/var/log/rbee/llm-8080.log",
    };

    private const string WorkerFields =
        "\"worker_type\":\"llm\",\"port\":8080,\"pid\":4242,\"worker_id\":\"w-1\",\"model\":\"/models/tiny.gguf\",\"model_id\":\"tiny\"," +
        "\"started_by\":null,\"device\":\"cpu\",\"cgroup\":\"/sys/fs/cgroup/rbee.slice/llm/8080\",\"log_path\":\"/var/log/rbee/llm-8080.log\"";

    public static TheoryData<JobDataEvent, string> Events => new()
    {
        { Worker<WorkerSpawned>(), "{\"event\":\"spawned\"," + WorkerFields + "}" },
        { Worker<WorkerReady>(), "{\"event\":\"ready\"," + WorkerFields + "}" },
        { Worker<WorkerStopped>(), "{\"event\":\"stopped\"," + WorkerFields + "}" },
        {
            Worker<WorkerSpawned>(pid: null, cgroup: null) with { StartedBy = WorkerOrigins.Queen },
            "{\"event\":\"spawned\",\"worker_type\":\"llm\",\"port\":8080,\"pid\":null,\"worker_id\":\"w-1\",\"model\":\"/models/tiny.gguf\",\"model_id\":\"tiny\"," +
            "\"started_by\":\"queen\",\"device\":\"cpu\",\"cgroup\":null,\"log_path\":\"/var/log/rbee/llm-8080.log\"}"
        },
        {
            new HiveChecked(MonitoringInfo.CgroupV2, "/sys/fs/cgroup/rbee.slice", null, 3, 2,
                [new WorkerTypeInfo("llm", true, 8080) { DeviceKinds = ["cpu", "cuda"] }, new WorkerTypeInfo("vllm", false, 8100, "vllm not found") { DeviceKinds = ["cuda"] }]),
            "{\"event\":\"hive_check\",\"monitoring_mode\":\"cgroup_v2\",\"cgroup_root\":\"/sys/fs/cgroup/rbee.slice\",\"reason\":null,\"inotify_watches\":3,\"workers\":2," +
            "\"worker_types\":[{\"name\":\"llm\",\"available\":true,\"base_port\":8080,\"reason\":null,\"device_kinds\":[\"cpu\",\"cuda\"]}," +
            "{\"name\":\"vllm\",\"available\":false,\"base_port\":8100,\"reason\":\"vllm not found\",\"device_kinds\":[\"cuda\"]}]}"
        },
        // Non-ASCII and HTML-sensitive text is escaped as Utf8JsonWriter's default encoder did.
        { new InferToken("caf\u00e9 <b>"), "{\"event\":\"token\",\"text\":\"caf\\u00E9 \\u003Cb\\u003E\"}" },
        {
            new InferDone("hive-a", "http://10.0.0.5:8080", "length") { Usage = new TokenUsage { PromptTokens = 5, CompletionTokens = 64, TotalTokens = 69 } },
            "{\"event\":\"done\",\"hive_id\":\"hive-a\",\"worker_url\":\"http://10.0.0.5:8080\",\"finish_reason\":\"length\"," +
            "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":64,\"total_tokens\":69}}"
        },
        // A worker that sent no usage: the field is left out, not null.
        { new InferDone("hive-a", "http://10.0.0.5:8080", null), "{\"event\":\"done\",\"hive_id\":\"hive-a\",\"worker_url\":\"http://10.0.0.5:8080\",\"finish_reason\":null}" },
        // The download events of the models issue, field for field as it specifies them; unknown figures are null.
        {
            new ModelProgress("tiny", "hive-a", 300000, 1068640, 1.5e6, 0.5),
            "{\"event\":\"progress\",\"model\":\"tiny\",\"hive_id\":\"hive-a\",\"bytes\":300000,\"total\":1068640,\"bytes_per_s\":1500000,\"eta_s\":0.5}"
        },
        {
            new ModelProgress("tiny", "hive-a", 0, null, null, null),
            "{\"event\":\"progress\",\"model\":\"tiny\",\"hive_id\":\"hive-a\",\"bytes\":0,\"total\":null,\"bytes_per_s\":null,\"eta_s\":null}"
        },
        {
            new ModelDownloaded("tiny", "hive-a", "/m/tiny.gguf", new string('a', 64), 1068640),
            "{\"event\":\"downloaded\",\"model\":\"tiny\",\"hive_id\":\"hive-a\",\"path\":\"/m/tiny.gguf\",\"sha256\":\"" + new string('a', 64) + "\",\"size\":1068640}"
        },
        { new ModelDeleted("tiny", "hive-a", "/m/tiny.gguf"), "{\"event\":\"deleted\",\"model\":\"tiny\",\"hive_id\":\"hive-a\",\"path\":\"/m/tiny.gguf\"}" },
    };

    [Theory]
    [MemberData(nameof(Events))]
    public void Event_IsWrittenAsBefore_AndReadsBackAsItself(JobDataEvent e, string wire)
    {
        Assert.Equal(wire, JobEvents.ToJson(e));
        Assert.True(JobEvents.TryRead(wire, out var read));
        Assert.Equal(e.GetType(), read.GetType());
        Assert.Equal(wire, JobEvents.ToJson(read));
    }

    [Fact]
    public void Usage_ACountTheEngineDidNotSend_StaysNull_NotZero()
    {
        var usage = System.Text.Json.JsonSerializer.Deserialize("{\"completion_tokens\":7}", Rbee.Contracts.Json.RbeeJsonContext.Default.TokenUsage)!;
        Assert.Equal((null, 7, null), (usage.PromptTokens, usage.CompletionTokens, usage.TotalTokens));
    }

    [Fact]
    public void HiveCheck_ReadsIntoItsFields()
    {
        const string wire = "{\"event\":\"hive_check\",\"monitoring_mode\":\"process_groups\",\"cgroup_root\":null,\"reason\":\"no cgroup v2\"," +
            "\"inotify_watches\":0,\"workers\":1,\"worker_types\":[{\"name\":\"llm\",\"available\":true,\"base_port\":8080,\"reason\":null,\"device_kinds\":[\"cpu\"]}]}";
        Assert.True(JobEvents.TryRead(wire, out var e));
        var check = Assert.IsType<HiveChecked>(e);
        Assert.Equal((MonitoringInfo.ProcessGroups, "no cgroup v2", 1), (check.MonitoringMode, check.Reason, check.Workers));
        Assert.Equal(["cpu"], Assert.Single(check.WorkerTypes).DeviceKinds!);
    }

    [Fact]
    public void EventNameAfterOtherFields_StillReads()
    {
        Assert.True(JobEvents.TryRead("{\"text\":\"hi\",\"event\":\"token\"}", out var e));
        Assert.Equal(new InferToken("hi"), e);
    }

    [Fact]
    public void UsageFieldsBeyondOpenAis_AreKeptAsTheEngineSentThem()
    {
        const string wire = "{\"event\":\"done\",\"hive_id\":\"h\",\"worker_url\":\"http://h:8080\",\"finish_reason\":\"stop\"," +
            "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":0}}}";
        Assert.True(JobEvents.TryRead(wire, out var e));
        var done = Assert.IsType<InferDone>(e);
        Assert.Equal(2, done.Usage!.CompletionTokens);
        Assert.Equal(wire, JobEvents.ToJson(done));
    }

    [Theory]
    [InlineData("{\"pid\":4242,\"group\":\"llm\",\"instance\":\"8080\",\"port\":8080}")] // a worker_list row (ProcessStats)
    [InlineData("{\"event\":\"model_progress\",\"bytes\":1}")] // an event this build does not know
    [InlineData("{\"event\":null}")]
    [InlineData("[1,2]")]
    public void DataLineThatNamesNoKnownEvent_IsNotAnEvent(string json)
    {
        Assert.False(JobEvents.TryRead(json, out var e));
        Assert.Null(e);
    }

    [Fact]
    public void KnownEventWithAFieldOfTheWrongType_Throws()
    {
        Assert.ThrowsAny<JsonException>(() => JobEvents.TryRead("{\"event\":\"ready\",\"port\":\"8080\"}", out _));
        Assert.ThrowsAny<JsonException>(() => JobEvents.TryRead("{\"event\":\"ready\",", out _));
    }

    [Fact]
    public void EveryEventType_IsRegisteredInTheContext()
    {
        var info = RbeeJsonContext.Default.JobDataEvent;
        Assert.Equal(9, info.PolymorphismOptions!.DerivedTypes.Count);
        Assert.Equal(JobEvents.NameProperty, info.PolymorphismOptions.TypeDiscriminatorPropertyName);
    }
}
