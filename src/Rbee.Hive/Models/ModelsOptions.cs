using Rbee.Models;
using Rbee.Models.Stores;
using Rbee.Platform.Configuration;
using Rbee.Platform.Paths;

namespace Rbee.Hive.Models;

/// <summary>
/// The hive's model catalog (section <c>Models</c>). The models directory itself is <c>Hive:ModelsDir</c>
/// (<c>--models-dir</c>, default <c>~/.cache/rbee/models</c>), the one setting spawn also uses for a model given by name;
/// <see cref="Paths"/> adds more files or directories after it. Configured paths must exist at start-up; the models
/// directory may appear later. After them come the stores of other tools, read in place (nothing is copied): the Hugging
/// Face hub cache and Ollama's store, each found where its tool would look (<see cref="ModelStoreRoots"/>) unless
/// <see cref="HuggingFaceCache"/> or <see cref="OllamaModels"/> says otherwise; a store that does not exist is simply
/// empty until it does.
/// </summary>
public sealed class ModelsOptions
{
    public const string SectionName = "Models";

    /// <summary>More <c>.gguf</c> files, or directories of them, listed after the models directory, in this order
    /// (<c>Models:Paths:0</c>, env <c>RBEE_Models__Paths__0</c>). A leading <c>~/</c> is the user's home.</summary>
    public string[] Paths { get; set; } = [];

    /// <summary>List the GGUF files of the Hugging Face hub cache (<c>Models:ScanHuggingFaceCache</c>).</summary>
    public bool ScanHuggingFaceCache { get; set; } = true;

    /// <summary>The Hugging Face hub cache; null (the default) finds it as <c>huggingface_hub</c> does: <c>HF_HUB_CACHE</c>,
    /// else <c>$HF_HOME/hub</c>, else <c>~/.cache/huggingface/hub</c> (<c>Models:HuggingFaceCache</c>).</summary>
    public string? HuggingFaceCache { get; set; }

    /// <summary>List the models Ollama has pulled (<c>Models:ScanOllama</c>).</summary>
    public bool ScanOllama { get; set; } = true;

    /// <summary>Ollama's store; null (the default) finds it as Ollama does: <c>OLLAMA_MODELS</c>, else
    /// <c>~/.ollama/models</c> (<c>Models:OllamaModels</c>).</summary>
    public string? OllamaModels { get; set; }

    /// <summary>The safety-net rescan: a listing and a stat per file (nothing is parsed unless a file changed). It also
    /// finds a directory created after start; inotify sees every other change at once.</summary>
    public TimeSpan RescanInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long after the first inotify event of a burst the catalog rescans (one copy makes several events).</summary>
    public TimeSpan Debounce { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A file that stays incomplete (shorter than its header says) and unchanged this long is reported once:
    /// it is truncated, not being copied.</summary>
    public TimeSpan IncompleteWarnAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary><see cref="Paths"/> as full paths.</summary>
    public IReadOnlyList<string> ResolvedPaths => Paths.Select(RbeePaths.ExpandHome).ToList();

    /// <summary>The Hugging Face hub cache to list, full path; null when switched off.</summary>
    public string? ResolvedHuggingFaceCache => !ScanHuggingFaceCache ? null
        : HuggingFaceCache is { } path ? RbeePaths.ExpandHome(path)
        : ModelStoreRoots.HuggingFaceHubCache(Environment.GetEnvironmentVariable, RbeePaths.Home);

    /// <summary>Ollama's store to list, full path; null when switched off.</summary>
    public string? ResolvedOllamaModels => !ScanOllama ? null
        : OllamaModels is { } path ? RbeePaths.ExpandHome(path)
        : ModelStoreRoots.OllamaModels(Environment.GetEnvironmentVariable, RbeePaths.Home);

    /// <summary>The first problem, as one line naming the setting, or null.</summary>
    public string? Validate()
    {
        for (var i = 0; i < Paths.Length; i++)
        {
            var p = Paths[i];
            if (string.IsNullOrWhiteSpace(p)) return $"Models:Paths:{i} is empty";
            var full = RbeePaths.ExpandHome(p);
            if (Directory.Exists(full)) continue;
            if (!File.Exists(full)) return $"Models:Paths:{i} '{p}' does not exist (give a .gguf file or a directory of them)";
            if (!full.EndsWith(ModelFiles.Extension, StringComparison.OrdinalIgnoreCase))
                return $"Models:Paths:{i} '{p}' is a file but not a {ModelFiles.Extension} file";
        }
        // A store may be created after start (the first pull), so only a path that cannot be one is refused.
        foreach (var (name, path) in new[] { ("Models:HuggingFaceCache", HuggingFaceCache), ("Models:OllamaModels", OllamaModels) })
        {
            if (path is null) continue;
            if (string.IsNullOrWhiteSpace(path)) return $"{name} is empty (leave it out to use the tool's own default)";
            if (File.Exists(RbeePaths.ExpandHome(path))) return $"{name} '{path}' is a file; give the store's directory";
        }
        if (RescanInterval <= TimeSpan.Zero) return $"Models:RescanInterval {RescanInterval} must be positive";
        if (Debounce < TimeSpan.Zero || Debounce >= RescanInterval) return $"Models:Debounce {Debounce} must be at least 0 and below Models:RescanInterval";
        if (IncompleteWarnAfter <= TimeSpan.Zero) return $"Models:IncompleteWarnAfter {IncompleteWarnAfter} must be positive";
        return null;
    }
}
