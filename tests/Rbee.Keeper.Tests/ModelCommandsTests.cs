using System.Text.Json;
using Rbee.Contracts.Wire;
using Rbee.Keeper.Models;
using Rbee.Keeper.Output;

namespace Rbee.Keeper.Tests;

/// <summary><c>rbee ls</c>'s rows and table, <c>rbee pull</c>'s plain progress line, without a daemon.</summary>
public sealed class ModelCommandsTests
{
    /// <summary>A row as the queen's <c>model_list</c> writes it: hive_id and hive_state, then the ModelInfo fields.</summary>
    private const string QueenRow =
        """{"hive_id":"gpu-box","hive_state":"online","id":"tiny","path":"/m/tiny.gguf","size_bytes":1153434,"modified_at":"2026-01-01T00:00:00Z","format":"gguf","architecture":"llama","name":"Tiny","parameter_count":260000,"quantization":"Q8_0","context_length":2048,"block_count":5,"embedding_length":64,"head_count":8,"head_count_kv":4,"head_dim":8,"feed_forward_length":172,"weights_bytes":1000000,"source":"models_dir","origin":"org/repo:tiny.gguf","sha256":null}""";

    [Fact]
    public void AQueenRow_ReadsAsAModelRow()
    {
        var row = LsCommand.ReadRow(QueenRow)!;
        Assert.Equal(("tiny", "gpu-box", "online", 1153434L, "Q8_0", 2048), (row.Id, row.HiveId, row.HiveState, row.SizeBytes, row.Quantization, row.ContextLength));
        Assert.Equal(("models_dir", "org/repo:tiny.gguf", "/m/tiny.gguf"), (row.Source, row.Origin, row.Path));
    }

    [Fact]
    public void ARowWithoutAnId_IsNoModel() => Assert.Null(LsCommand.ReadRow("""{"count":3}"""));

    [Fact]
    public void Table_OneLinePerModelAndHive_WithSizeQuantContextAndSource()
    {
        var tiny = LsCommand.ReadRow(QueenRow)!;
        var elsewhere = tiny with { HiveId = "old-box", HiveState = "offline", Origin = null, Quantization = null, ContextLength = null };
        var text = ConsoleText.Render(LsCommand.Render([tiny, elsewhere]));
        var header = ConsoleText.Line(text, "NAME");
        foreach (var column in new[] { "HIVE", "SIZE", "QUANT", "CONTEXT", "SOURCE" }) Assert.Contains(column, header);
        var online = ConsoleText.Line(text, "gpu-box");
        foreach (var expected in new[] { "tiny", "1.1 MiB", "Q8_0", "2048", "models_dir (org/repo:tiny.gguf)" }) Assert.Contains(expected, online);
        Assert.Contains("old-box (offline)", ConsoleText.Line(text, "old-box"));
    }

    [Fact]
    public void NoModels_SaysHowToPullOne() => Assert.Contains("rbee pull", ConsoleText.Render(LsCommand.Render([])));

    [Fact]
    public void LsJson_HasStableSnakeCaseFields()
    {
        var json = JsonSerializer.Serialize(new LsOutput([LsCommand.ReadRow(QueenRow)!]), KeeperJsonContext.Default.LsOutput);
        var row = JsonDocument.Parse(json).RootElement.GetProperty("models")[0];
        var names = row.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["id", "hive_id", "hive_state", "size_bytes", "quantization", "context_length", "architecture", "parameter_count", "source", "origin", "path", "sha256"], names);
    }

    [Fact]
    public void PlainProgress_GivesPercentBytesRateAndEta()
    {
        var line = PullCommand.ProgressLine(new ModelProgress("tiny", "gpu-box", 45L << 20, 100L << 20, 3L << 20, 18.4));
        Assert.Equal("tiny on gpu-box: 45% (45.0 MiB of 100.0 MiB, 3.0 MiB/s, ETA 18s)", line);
    }

    [Fact]
    public void PlainProgress_WithoutATotal_GivesBytesOnly()
    {
        Assert.Equal("tiny on gpu-box: (512 B)", PullCommand.ProgressLine(new ModelProgress("tiny", "gpu-box", 512, null, null, null)));
    }
}
