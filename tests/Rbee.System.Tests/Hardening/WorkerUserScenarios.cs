using System.Net;
using System.Text;
using System.Text.Json;
using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;

namespace Rbee.SystemTests.Hardening;

/// <summary>
/// Issue 12 §1: a hive that runs as root starts its workers as uid/gid 65534 by default (<c>Workers:User</c> left
/// empty), still in the cgroup it made for them, and refuses with 400 a model that user could not read. Its files lie
/// where an unprivileged user can read them, as on an installed machine: a copy of the built llm-worker-rbee, a models
/// directory, and the hive's run directory (the worker's ready file and HOME), all under one world-searchable folder.
/// Outside the model directories it accepts only a GGUF file that user could read on its own.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Trait("Category", "System")]
[Collection("System")]
public sealed class WorkerUserScenarios : IDisposable
{
    private const UnixFileMode Public = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("rbee-worker-user-");

    [Fact]
    public async Task ARootHive_RunsItsWorkerAsNobody_InsideItsCgroup_AndRefusesAModelNobodyCannotRead()
    {
        Assert.True(Environment.UserName == "root" || Environment.IsPrivilegedProcess, "the scenario needs a root hive");
        File.SetUnixFileMode(_root.FullName, Public);
        var home = Subdirectory("home");
        TestClusterToken.WriteInto(home);
        using var programs = new WorldReadableCopy("llm-worker-rbee");
        var models = Subdirectory("models");
        File.Copy(HiveNode.Model, Path.Combine(models, "open.gguf"));
        // A directory only root may enter: the file in it is readable, the way to it is not.
        var closed = Directory.CreateDirectory(Path.Combine(models, "closed")).FullName;
        File.SetUnixFileMode(closed, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.Copy(HiveNode.Model, Path.Combine(closed, "hidden.gguf"));

        await using var hive = HiveNode.Start(home, $"http://127.0.0.1:{FreePort.Next()}", testWorkers: true, settings: new Dictionary<string, string>
        {
            [TestWorkerUser.Variable] = "", // the default
            ["RBEE_Workers__Types__llm__Executable"] = programs.Executable("llm-worker-rbee"),
            ["RBEE_Models__Paths__80"] = models,
        });
        await hive.WaitHealthyAsync();

        var (lines, terminal) = await hive.RunJobAsync(Spawn(Path.Combine(models, "open.gguf")), TimeSpan.FromSeconds(60));
        Assert.True(terminal == "[DONE]", $"spawn ended {terminal}: {string.Join(" | ", lines)}\n{hive.Process.LogTail()}");
        var ready = lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement)
            .Last(j => j.TryGetProperty("event", out var ev) && ev.GetString() == "ready");
        var (port, pid) = (ready.GetProperty("port").GetInt32(), ready.GetProperty("pid").GetInt32());

        var status = await File.ReadAllLinesAsync($"/proc/{pid}/status");
        Assert.Equal("65534 65534 65534 65534", Field(status, "Uid:"));
        Assert.Equal("65534 65534 65534 65534", Field(status, "Gid:"));
        Assert.Equal("", Field(status, "Groups:")); // root's supplementary groups stay behind
        Assert.Equal("1", Field(status, "NoNewPrivs:"));
        Assert.Contains(hive.CgroupRootName, await File.ReadAllTextAsync($"/proc/{pid}/cgroup"), StringComparison.Ordinal);
        // It loaded the model and serves it as that user.
        using (var response = await Http.Client.SendAsync(Http.Request(HttpMethod.Get, $"http://127.0.0.1:{port}/v1/models", TestClusterToken.WorkerKey(hive.HiveId, port))))
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        // The log is the hive's: opened by the shim as root, not the worker's to replace.
        var log = Directory.EnumerateFiles(home, "worker.log", SearchOption.AllDirectories).Single();
        Assert.Equal("0", OwnerOf(Path.GetDirectoryName(log)!));
        Assert.Equal("0", OwnerOf(log));

        using var refused = await Http.Client.PostAsync($"{hive.Url}/v1/jobs",
            new StringContent(Spawn(Path.Combine(closed, "hidden.gguf")), Encoding.UTF8, "application/json"));
        var body = await refused.Content.ReadAsStringAsync();
        Assert.True(refused.StatusCode == HttpStatusCode.BadRequest, body);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("model", error.GetProperty("param").GetString());
        Assert.Equal("model_not_readable", error.GetProperty("code").GetString());
        var message = error.GetProperty("message").GetString()!;
        Assert.Contains("hidden.gguf", message, StringComparison.Ordinal);
        Assert.Contains("uid 65534", message, StringComparison.Ordinal);
        Assert.Contains(closed, message, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(closed)); // never changed

        // Outside the model directories: a GGUF file that uid 65534 could read on its own may be named by path (the
        // spawn makes no one read what they could not already); anything else is the same 400 as a missing file.
        var loose = Path.Combine(Subdirectory("elsewhere"), "loose.gguf");
        File.Copy(HiveNode.Model, loose);
        var privateDir = Directory.CreateDirectory(Path.Combine(_root.FullName, "private")).FullName;
        File.SetUnixFileMode(privateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var hidden = Path.Combine(privateDir, "secret.gguf");
        File.Copy(HiveNode.Model, hidden);
        foreach (var outside in new[] { hidden, "/bin/ls", "/etc/shadow" })
        {
            using var no = await Http.Client.PostAsync($"{hive.Url}/v1/jobs", new StringContent(Spawn(outside), Encoding.UTF8, "application/json"));
            var text = await no.Content.ReadAsStringAsync();
            Assert.True(no.StatusCode == HttpStatusCode.BadRequest, $"{outside}: {(int)no.StatusCode} {text}");
            Assert.Equal("model_not_found", JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("code").GetString());
        }
        (lines, terminal) = await hive.RunJobAsync(Spawn(loose), TimeSpan.FromSeconds(60));
        Assert.True(terminal == "[DONE]", $"spawn of {loose} ended {terminal}: {string.Join(" | ", lines)}");
    }

    private static string Spawn(string model) =>
        $"{{\"operation\":\"worker_spawn\",\"model\":{JsonSerializer.Serialize(model)},\"worker_type\":\"llm\",\"device\":\"cpu\"}}";

    private static string Field(string[] status, string name) =>
        string.Join(' ', status.Single(l => l.StartsWith(name, StringComparison.Ordinal))[name.Length..].Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries));

    private static string OwnerOf(string path)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var owner = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return owner;
    }

    private string Subdirectory(string name)
    {
        var path = Directory.CreateDirectory(Path.Combine(_root.FullName, name)).FullName;
        File.SetUnixFileMode(path, Public);
        return path;
    }

    public void Dispose()
    {
        try { _root.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
