namespace Rbee.Contracts.Wire;

/// <summary>
/// One model file a hive can serve, as its own GGUF metadata describes it (DESIGN.md "Scheduling and routing"):
/// what <c>/v1/models</c> shows and what a memory estimate needs. <see cref="Id"/> is the one id of the model
/// everywhere: the file name without <c>.gguf</c>, the id the worker is started with (<c>--model-id</c>) and the id a
/// client sends. A value the file does not carry is null.
/// </summary>
public sealed record ModelInfo
{
    public required string Id { get; init; }

    /// <summary>Full path of the file on the hive.</summary>
    public required string Path { get; init; }

    public required long SizeBytes { get; init; }

    public DateTimeOffset ModifiedAt { get; init; }

    /// <summary>The file format; <c>gguf</c> for every model this catalog lists today.</summary>
    public string Format { get; init; } = ModelFormats.Gguf;

    /// <summary><c>general.architecture</c>, e.g. <c>llama</c>, <c>qwen2</c>.</summary>
    public string? Architecture { get; init; }

    /// <summary><c>general.name</c>.</summary>
    public string? Name { get; init; }

    /// <summary>Sum of the elements of every tensor.</summary>
    public long? ParameterCount { get; init; }

    /// <summary>llama.cpp's name of <c>general.file_type</c> (<c>Q4_K_M</c>, <c>F16</c>…), else of the most common weight type.</summary>
    public string? Quantization { get; init; }

    /// <summary><c>{arch}.context_length</c>: the longest context the model was trained for.</summary>
    public int? ContextLength { get; init; }

    /// <summary><c>{arch}.block_count</c>: transformer layers.</summary>
    public int? BlockCount { get; init; }

    /// <summary><c>{arch}.embedding_length</c>.</summary>
    public int? EmbeddingLength { get; init; }

    /// <summary><c>{arch}.attention.head_count</c>.</summary>
    public int? HeadCount { get; init; }

    /// <summary><c>{arch}.attention.head_count_kv</c> (equals <see cref="HeadCount"/> when the file does not say).</summary>
    public int? HeadCountKv { get; init; }

    /// <summary><c>{arch}.attention.key_length</c>, else embedding / heads.</summary>
    public int? HeadDim { get; init; }

    /// <summary><c>{arch}.feed_forward_length</c>.</summary>
    public int? FeedForwardLength { get; init; }

    /// <summary>Bytes of tensor data (the file from its data offset on): what loading the weights costs in memory.</summary>
    public long? WeightsBytes { get; init; }

    /// <summary>Where the hive found the file: one of <see cref="ModelSources"/>.</summary>
    public string Source { get; init; } = ModelSources.ModelsDir;

    /// <summary>What the file came from, when the hive knows: the source a download was given
    /// (<c>org/repo:file.gguf</c>, a URL), the repository and path (<c>org/repo:path/in/repo.gguf</c>) of a Hugging Face cache
    /// file, the full Ollama name (<c>registry.ollama.ai/library/llama3.2:1b</c>) of an Ollama blob. Null for a file copied in by hand.</summary>
    public string? Origin { get; init; }

    /// <summary>The file's sha256 (lower-case hex) when it is known without reading the file: verified by a download, or
    /// the content address of a Hugging Face or Ollama blob. Null when not known.</summary>
    public string? Sha256 { get; init; }
}

/// <summary>Where a hive found a model file (<see cref="ModelInfo.Source"/>).</summary>
public static class ModelSources
{
    /// <summary>The hive's models directory (<c>Hive:ModelsDir</c>): files copied in, and every download.</summary>
    public const string ModelsDir = "models_dir";

    /// <summary>A file or directory listed in the hive's <c>Models:Paths</c>.</summary>
    public const string Configured = "config";

    /// <summary>The Hugging Face hub cache (<c>~/.cache/huggingface/hub</c>, <c>HF_HUB_CACHE</c>, <c>HF_HOME</c>).</summary>
    public const string HuggingFace = "huggingface_cache";

    /// <summary>Ollama's store (<c>~/.ollama/models</c>, <c>OLLAMA_MODELS</c>): a manifest's model blob.</summary>
    public const string Ollama = "ollama";
}

public static class ModelFormats
{
    public const string Gguf = "gguf";
}

/// <summary>
/// <c>GET /v1/catalog</c> of a hive (protected by the cluster token): every model it can start a worker for.
/// <see cref="Version"/> grows whenever the list changes and is carried in every telemetry frame
/// (<see cref="TelemetryFrame.ModelsVersion"/>), so the queen re-fetches the catalog only when it changed.
/// </summary>
public sealed record ModelCatalog(string HiveId, string InstanceId, long Version, IReadOnlyList<ModelInfo> Models);

/// <summary>Paths of the hive's HTTP surface that other programs call.</summary>
public static class HivePaths
{
    public const string Catalog = "/v1/catalog";
}
