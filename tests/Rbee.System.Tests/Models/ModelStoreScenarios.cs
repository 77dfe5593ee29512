using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Models;

/// <summary>
/// Models a user already has, read where their tools put them: a real queen and a real rbee-hive whose HOME holds an
/// Ollama store (<c>~/.ollama/models</c>) and a Hugging Face hub cache (<c>~/.cache/huggingface/hub</c>), laid out as those
/// tools write them, and the real llm-worker-rbee started on the store's file where it lies.
/// </summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class ModelStoreScenarios
{
    private static readonly TimeSpan Budget = RoutingCluster.Budget;

    [Fact]
    public async Task ModelsPulledWithOllamaAndHuggingFace_AreListedByTheQueen_AndServedInPlaceUnderOllamasName()
    {
        await using var c = await RoutingCluster.StartAsync(twoHives: false);
        var home = c.HomeOf(c.A);
        // Two names of one blob, as `ollama pull tiny` and `ollama cp` leave them: tiny:260k is the file's first name, so a
        // worker that answers to tiny:latest got the name it was asked for.
        var blob = FakeModelStores.AddOllama(Path.Combine(home, ".ollama", "models"), RoutingCluster.TinyModel, "tiny:latest", "tiny:260k");
        var link = FakeModelStores.AddHuggingFace(Path.Combine(home, ".cache", "huggingface", "hub"), RoutingCluster.TinyModel,
            "rbee-test/tiny-GGUF", "tiny-hf-F32.gguf");

        // The stores appeared after the hive started: its periodic rescan finds them.
        await c.WaitListedAsync("tiny:latest", Budget);
        await c.WaitListedAsync("tiny-hf-F32", Budget);
        var (_, list) = await Http.GetJsonAsync(c.V1 + "/models");
        JsonElement Available(string id) => Assert.Single(list.GetProperty("data").EnumerateArray()
            .Single(m => m.GetProperty("id").GetString() == id).GetProperty("rbee").GetProperty("available_on").EnumerateArray());
        Assert.Equal(("ollama", blob), (Available("tiny:latest").GetProperty("source").GetString(), Available("tiny:latest").GetProperty("path").GetString()));
        Assert.Equal(("ollama", blob), (Available("tiny:260k").GetProperty("source").GetString(), Available("tiny:260k").GetProperty("path").GetString()));
        Assert.Equal(("huggingface_cache", link), (Available("tiny-hf-F32").GetProperty("source").GetString(), Available("tiny-hf-F32").GetProperty("path").GetString()));

        // A chat completion for the Ollama name starts a worker on the blob itself, answering to that name.
        using (var response = await RoutingCluster.PostAsync(c.Queen.Url, "/v1/chat/completions", JsonSerializer.Serialize(new
               {
                   model = "tiny:latest",
                   messages = new[] { new { role = "user", content = "Tell me about dreams" } },
                   max_tokens = 8,
                   temperature = 0,
               })))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"chat for tiny:latest: {(int)response.StatusCode} {body}\n{c.A.Process.LogTail()}");
            Assert.Equal("tiny:latest", JsonDocument.Parse(body).RootElement.GetProperty("model").GetString());
            Assert.Equal(c.A.HiveId, response.Headers.GetValues("X-Rbee-Hive").Single());
        }
        var worker = Assert.Single(await c.WorkersAsync("tiny:latest"));
        var (_, served) = await Http.GetJsonAsync(worker.Url + "/v1/models", TestClusterToken.WorkerKey(worker.Hive, worker.Port));
        Assert.Equal("tiny:latest", Assert.Single(served.GetProperty("data").EnumerateArray()).GetProperty("id").GetString());
        var cmdline = (await File.ReadAllTextAsync($"/proc/{worker.Pid}/cmdline")).Split('\0');
        Assert.Equal(blob, cmdline[Array.IndexOf(cmdline, "--model") + 1]);

        // Read in place: nothing was copied into the hive's models directory.
        Assert.Empty(Directory.EnumerateFileSystemEntries(c.ModelsDir(c.A)));
    }
}
