using System.Security.Cryptography;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Models;

/// <summary>The download the model scenarios make: the real tiny model, served by <see cref="HuggingFaceServer"/> as
/// <c>rbee-test/tiny</c>'s <c>aidreams260K.gguf</c>, and the hive settings that point a real hive at that server.</summary>
internal static class TinyPull
{
    public const string Source = "rbee-test/tiny:aidreams260K.gguf";
    public static readonly byte[] Model = File.ReadAllBytes(RoutingCluster.TinyModel);
    public static readonly string Sha256 = Convert.ToHexStringLower(SHA256.HashData(Model));

    /// <summary>A server with the model on it.</summary>
    public static async Task<HuggingFaceServer> StartServerAsync()
    {
        var server = await HuggingFaceServer.StartAsync();
        server.AddFile("rbee-test/tiny", "aidreams260K.gguf", Model);
        return server;
    }

    /// <summary><c>HF_ENDPOINT</c>, as Hugging Face's own tools read it, and quick retries.</summary>
    public static Dictionary<string, string> HiveSettings(HuggingFaceServer server) => new()
    {
        ["HF_ENDPOINT"] = server.Endpoint.ToString(),
        ["RBEE_Downloads__RetryDelay"] = "00:00:00.100",
    };
}
