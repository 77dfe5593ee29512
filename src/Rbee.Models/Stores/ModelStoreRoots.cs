namespace Rbee.Models.Stores;

/// <summary>
/// Where the stores of other tools are, resolved from the environment the way those tools resolve them, so the hive
/// finds what <c>huggingface-cli download</c> or <c>ollama pull</c> put on the machine without being told.
/// An empty variable counts as unset.
/// </summary>
public static class ModelStoreRoots
{
    /// <summary>
    /// The Hugging Face hub cache, as <c>huggingface_hub</c> resolves it: <c>HF_HUB_CACHE</c>, else the older
    /// <c>HUGGINGFACE_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>, else <c>($XDG_CACHE_HOME or ~/.cache)/huggingface/hub</c>.
    /// </summary>
    /// <param name="environment">Reads a variable (<see cref="Environment.GetEnvironmentVariable(string)"/> outside tests).</param>
    /// <param name="home">The user's home directory.</param>
    public static string HuggingFaceHubCache(Func<string, string?> environment, string home)
    {
        if (Variable(environment, "HF_HUB_CACHE") is { } cache) return Expand(cache, home);
        if (Variable(environment, "HUGGINGFACE_HUB_CACHE") is { } legacy) return Expand(legacy, home);
        if (Variable(environment, "HF_HOME") is { } hfHome) return Path.Combine(Expand(hfHome, home), "hub");
        var xdg = Variable(environment, "XDG_CACHE_HOME") is { } x ? Expand(x, home) : Path.Combine(home, ".cache");
        return Path.Combine(xdg, "huggingface", "hub");
    }

    /// <summary>Ollama's model store, as Ollama resolves it: <c>OLLAMA_MODELS</c>, else <c>~/.ollama/models</c>. (A
    /// system-wide Ollama service keeps its own under its service user's home, e.g. <c>/usr/share/ollama/.ollama/models</c>:
    /// give that one explicitly.)</summary>
    public static string OllamaModels(Func<string, string?> environment, string home) =>
        Variable(environment, "OLLAMA_MODELS") is { } models ? Expand(models, home) : Path.Combine(home, ".ollama", "models");

    /// <summary>A leading <c>~</c> is <paramref name="home"/>; the result is a full path.</summary>
    public static string Expand(string path, string home)
    {
        if (path == "~") return Path.GetFullPath(home);
        if (path.StartsWith("~/", StringComparison.Ordinal)) path = Path.Combine(home, path[2..]);
        return Path.GetFullPath(path);
    }

    private static string? Variable(Func<string, string?> environment, string name) =>
        environment(name) is { Length: > 0 } value ? value : null;
}
