using Rbee.Models.Stores;

namespace Rbee.Models.Tests.Stores;

public sealed class ModelStoreRootsTests
{
    private const string Home = "/home/ana";

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Theory]
    [InlineData(null, null, null, null, "/home/ana/.cache/huggingface/hub")]
    [InlineData(null, null, null, "/xdg", "/xdg/huggingface/hub")]
    [InlineData(null, null, "/hf", "/xdg", "/hf/hub")]
    [InlineData(null, "/legacy", "/hf", "/xdg", "/legacy")]
    [InlineData("/cache", "/legacy", "/hf", "/xdg", "/cache")]
    [InlineData("~/hub", null, null, null, "/home/ana/hub")]
    [InlineData("", "", "", "", "/home/ana/.cache/huggingface/hub")]
    public void TheHuggingFaceCache_IsFoundAsHuggingFaceHubFindsIt(string? hubCache, string? legacy, string? hfHome, string? xdg, string expected)
    {
        var env = new Dictionary<string, string?>
        {
            ["HF_HUB_CACHE"] = hubCache,
            ["HUGGINGFACE_HUB_CACHE"] = legacy,
            ["HF_HOME"] = hfHome,
            ["XDG_CACHE_HOME"] = xdg,
        };
        Assert.Equal(expected, ModelStoreRoots.HuggingFaceHubCache(n => env.GetValueOrDefault(n), Home));
    }

    [Fact]
    public void OllamasStore_IsOllamaModels_ElseInTheHome()
    {
        Assert.Equal("/home/ana/.ollama/models", ModelStoreRoots.OllamaModels(Env(), Home));
        Assert.Equal("/home/ana/.ollama/models", ModelStoreRoots.OllamaModels(Env(("OLLAMA_MODELS", "")), Home));
        Assert.Equal("/srv/ollama", ModelStoreRoots.OllamaModels(Env(("OLLAMA_MODELS", "/srv/ollama/")), Home).TrimEnd('/'));
        Assert.Equal("/home/ana/models", ModelStoreRoots.OllamaModels(Env(("OLLAMA_MODELS", "~/models")), Home));
    }
}
