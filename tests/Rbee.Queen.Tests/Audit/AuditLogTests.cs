using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Rbee.Hosting.Security;
using Rbee.Queen.Audit;

namespace Rbee.Queen.Tests.Audit;

/// <summary>
/// An audit line says who acted as structured fields: how the caller proved itself (<c>actor</c>), and for a token holder
/// the user it claims (<c>claimed_user</c>), for an API key caller the key's name (<c>key</c>), never a secret.
/// </summary>
public sealed class AuditLogTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("rbee-audit-");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 4, 19, 30, 0, TimeSpan.Zero));

    public void Dispose() => _dir.Delete(recursive: true);

    private List<JsonElement> Lines(AuditLog log) =>
        [.. File.ReadAllLines(log.Path).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    private static Dictionary<string, string?> Fields(JsonElement line) =>
        line.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());

    [Fact]
    public void EachActor_IsWrittenAsStructuredFields()
    {
        var log = new AuditLog(_dir.FullName, _time);
        log.Write(Actor.Of(new ControlCaller(true, "alice@laptop")), "worker_spawn", "gpu-box tinyllama port 8080");
        log.Write(Actor.ApiKey("ci-runner"), "model_download", "gpu-box tinyllama", "pull on demand of TheBloke/x");
        log.Write(Actor.LocalCaller, "worker_spawn", "gpu-box tinyllama cpu");
        log.Write(Actor.Queen, "worker_stop", "gpu-box tinyllama port 8080", "idle for 300 s (Scheduling:IdleTimeout)");
        log.Write(Actor.Of(new ControlCaller(true, null)), "unmanage", "gpu-box");

        var lines = Lines(log);
        Assert.Equal(5, lines.Count);
        Assert.Equal(new Dictionary<string, string?>
        {
            ["time"] = "2026-12-04T19:30:00+00:00", ["actor"] = "cluster token", ["claimed_user"] = "alice@laptop",
            ["action"] = "worker_spawn", ["target"] = "gpu-box tinyllama port 8080",
        }, Fields(lines[0]));
        Assert.Equal(new Dictionary<string, string?>
        {
            ["time"] = "2026-12-04T19:30:00+00:00", ["actor"] = "api key", ["key"] = "ci-runner",
            ["action"] = "model_download", ["target"] = "gpu-box tinyllama", ["detail"] = "pull on demand of TheBloke/x",
        }, Fields(lines[1]));
        Assert.Equal(["time", "actor", "action", "target"], Fields(lines[2]).Keys);
        Assert.Equal("local caller", lines[2].GetProperty("actor").GetString());
        Assert.Equal("queen", lines[3].GetProperty("actor").GetString());
        Assert.Equal(["time", "actor", "action", "target"], Fields(lines[4]).Keys);
    }

    [Fact]
    public void AClaimedUserIsSanitisedOnItsWayIn_AndAControlCallWithoutTheTokenIsUnknown()
    {
        Assert.Null(Actor.ClusterToken("alice\n{\"actor\":\"queen\"}").ClaimedUser);
        Assert.Equal("alice@laptop", Actor.ClusterToken(" alice@laptop ").ClaimedUser);
        Assert.Equal(Actor.Unknown, Actor.Of(ControlCaller.Unknown));
        Assert.Equal("cluster token (claims alice@laptop)", Actor.ClusterToken("alice@laptop").ToString());
        Assert.Equal("api key ci-runner", Actor.ApiKey("ci-runner").ToString());
    }
}
