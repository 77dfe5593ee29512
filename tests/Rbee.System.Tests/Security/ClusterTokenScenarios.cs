using System.Net;
using System.Text;
using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Security;

/// <summary>
/// Issue 12 §1 against the real rbee-hive: with no token configured and a HOME of its own it creates the shared token
/// file, and its control endpoints refuse every caller without that token, this machine's (loopback, another local
/// user) included; a model path outside its model directories is a 400 naming the field before anything starts; an
/// ordinary user's rbee is told where a root hive's token is and that reading it needs root.
/// </summary>
[Trait("Category", "System")]
[Collection("System")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ClusterTokenScenarios : IDisposable
{
    private readonly TempHome _home = new(clusterToken: false);

    public void Dispose() => _home.Dispose();

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostJobAsync(HttpClient client, string url, string json, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{url}/v1/jobs") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (token is not null) request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var response = await client.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static string Spawn(string model) =>
        JsonSerializer.Serialize(new { operation = "worker_spawn", model, worker_type = "llm", device = "cpu" });

    [Fact]
    public async Task AHiveWithNoTokenConfigured_CreatesTheTokenFile_AndRefusesLoopbackCallersWithoutIt()
    {
        // With the real llm-worker-rbee as type llm, so a spawn gets as far as its model.
        await using var hive = HiveNode.Start(_home.Path, $"http://127.0.0.1:{FreePort.Next()}", testWorkers: true);
        await hive.WaitHealthyAsync();

        // The token file it created: 256 random bits as hex, readable by its user only; its path is logged, never its value.
        var tokenFile = TestClusterToken.FileIn(_home.Path);
        Assert.True(File.Exists(tokenFile), $"no token file at {tokenFile}:\n{hive.Process.LogTail()}");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
        var token = File.ReadAllText(tokenFile).Trim();
        Assert.Matches("^[0-9a-f]{64}$", token);
        Assert.Contains(tokenFile, hive.Process.LogTail(200));
        Assert.DoesNotContain(token, hive.Process.LogTail(200));

        // An unauthenticated spawn from loopback: 401, and nothing runs.
        var (status, body) = await PostJobAsync(Http.Anonymous, hive.Url, Spawn("/etc/shadow"), token: null);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("invalid_cluster_token", body.GetProperty("error").GetProperty("code").GetString());
        (status, _) = await PostJobAsync(Http.Anonymous, hive.Url, Spawn("/etc/shadow"), token: "not-the-token");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        using (var shutdown = await Http.Anonymous.PostAsync($"{hive.Url}/v1/shutdown", new StringContent("{}", Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.Unauthorized, shutdown.StatusCode);

        // Another local user (uid 65534) is a loopback caller too, and is refused the same way.
        if (Environment.IsPrivilegedProcess && File.Exists("/usr/bin/setpriv") && File.Exists("/usr/bin/curl"))
        {
            var (exit, stdout, stderr) = await CliRun.RunProgramAsync("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                "/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                "-d", Spawn("/etc/shadow"), $"{hive.Url}/v1/jobs"], new Dictionary<string, string?>(), TimeSpan.FromSeconds(60));
            Assert.True(exit == 0, $"curl as uid 65534: exit {exit} {stderr}");
            Assert.Equal("401", stdout);
        }

        // With the token from the file: accepted.
        (status, body) = await PostJobAsync(Http.Anonymous, hive.Url, "{\"operation\":\"hive_check\"}", token);
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.StartsWith("/v1/jobs/", body.GetProperty("sse_url").GetString());

        // ... and even then a model outside the hive's model directories is refused before anything starts.
        foreach (var model in new[] { "/etc/shadow", "../../etc/passwd", "/bin/ls" })
        {
            (status, body) = await PostJobAsync(Http.Anonymous, hive.Url, Spawn(model), token);
            Assert.True(status == HttpStatusCode.BadRequest, $"{model}: {(int)status} {body}");
            Assert.Equal("model", body.GetProperty("error").GetProperty("param").GetString());
            Assert.DoesNotContain("root:", body.GetRawText());
        }
        Assert.Empty(hive.PidsInTree());
    }

    [Fact]
    public async Task AnOrdinaryUsersRbee_OnARootHivesToken_SaysWhereItIsAndThatItNeedsRoot()
    {
        // Needs root (to be the root hive) and setpriv (to be the ordinary user); elsewhere there is no such pair of users.
        if (!Environment.IsPrivilegedProcess || !File.Exists("/usr/bin/setpriv")) return;
        await using var hive = HiveNode.Start(_home.Path, $"http://127.0.0.1:{FreePort.Next()}");
        await hive.WaitHealthyAsync();
        var tokenFile = TestClusterToken.FileIn(_home.Path);
        Assert.True(File.Exists(tokenFile));
        // The ordinary user may enter the HOME (as a shared configuration directory would be); the token stays root's.
        File.SetUnixFileMode(_home.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);

        // The ordinary user runs a copy it can reach: the checkout may lie in a folder only root may enter.
        using var programs = new WorldReadableCopy("rbee");
        var (exit, stdout, stderr) = await CliRun.RunProgramAsync("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
            programs.Executable("rbee"), "ps", "--hive-url", hive.Url],
            new Dictionary<string, string?> { ["HOME"] = _home.Path, ["XDG_CONFIG_HOME"] = Path.Combine(_home.Path, ".config"), ["NO_COLOR"] = "1" }, TimeSpan.FromSeconds(60));
        Assert.True(exit == 1, $"exit {exit}\nstdout: {stdout}\nstderr: {stderr}");
        Assert.Contains(tokenFile, stderr);
        Assert.Contains("root", stderr);
        Assert.Contains("RBEE_CLUSTER_TOKEN", stderr);
        Assert.DoesNotContain(File.ReadAllText(tokenFile).Trim(), stderr + stdout);
    }
}
