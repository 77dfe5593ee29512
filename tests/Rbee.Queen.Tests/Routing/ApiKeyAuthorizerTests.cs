using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Rbee.Hosting.Security;
using Rbee.Platform.Configuration;
using Rbee.Queen.Audit;
using Rbee.Queen.Routing;

namespace Rbee.Queen.Tests.Routing;

public sealed class ApiKeyAuthorizerTests
{
    private static readonly LocalAddresses Local = new(() => [IPAddress.Parse("192.168.1.10")]);

    private static ClusterTokenOptions Token(string? token)
    {
        var o = new ClusterTokenOptions { ClusterToken = token };
        o.Resolve(_ => null);
        return o;
    }

    private static List<ApiKey> Keys(params string[] entries) => [.. entries.Select((e, i) => ApiKey.Parse(e, $"entry {i}"))];

    private static ApiKeyAuthorizer Authorizer(params string[] entries) =>
        new(Keys(entries), Token("cluster-secret"), Local, NullLogger<ApiKeyAuthorizer>.Instance);

    private static async Task<int> StatusAsync(ApiKeyAuthorizer auth, string remote, string? bearer) => (await CheckAsync(auth, remote, bearer)).Status;

    private static async Task<(int Status, Actor Caller)> CheckAsync(ApiKeyAuthorizer auth, string remote, string? bearer)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        if (bearer is not null) context.Request.Headers.Authorization = "Bearer " + bearer;
        context.Response.Body = new MemoryStream();
        context.RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider();
        if (auth.Check(context, out var caller) is not { } refusal) return (200, caller);
        await refusal.ExecuteAsync(context);
        return (context.Response.StatusCode, caller);
    }

    [Fact]
    public async Task WithoutKeys_OnlyTheMachinesOwnAddressesAreServed()
    {
        var auth = Authorizer();
        Assert.False(auth.KeysConfigured);
        Assert.Equal(200, await StatusAsync(auth, "127.0.0.1", null));
        Assert.Equal(200, await StatusAsync(auth, "192.168.1.10", null));
        Assert.Equal(403, await StatusAsync(auth, "192.168.1.11", null));
    }

    [Fact]
    public async Task WithKeys_EveryCallerNeedsOne_AndTheClusterTokenIsNotOne()
    {
        var auth = Authorizer("key-1", "key-2");
        Assert.Equal(200, await StatusAsync(auth, "192.168.1.11", "key-2"));
        Assert.Equal(401, await StatusAsync(auth, "127.0.0.1", null));
        Assert.Equal(401, await StatusAsync(auth, "127.0.0.1", "key-3"));
        Assert.Equal(401, await StatusAsync(auth, "127.0.0.1", "cluster-secret"));
    }

    [Fact]
    public void AKeyEqualToTheClusterToken_StopsStartUp()
    {
        var e = Assert.Throws<StartupException>(() => Authorizer("cluster-secret"));
        Assert.Contains("equals the cluster token", e.Message);
        // A name does not make it another key.
        e = Assert.Throws<StartupException>(() => Authorizer("key-1 alice", "cluster-secret ops"));
        Assert.Contains("equals the cluster token", e.Message);
        Assert.DoesNotContain("cluster-secret", e.Message);
    }

    [Fact]
    public void KeysFile_AddsOneKeyPerLine_SkippingCommentsAndBlanks()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "# keys\nalpha\n\n  beta  \n");
            Assert.Equal(["inline", "alpha", "beta"], new ApiOptions { Keys = ["inline"], KeysFile = path }.LoadKeys().Select(k => k.Secret));
            Assert.Throws<StartupException>(() => new ApiOptions { KeysFile = path + ".missing" }.LoadKeys());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AKeyWithoutAName_IsNamedByTheFingerprintOfItsHash_NeverByTheKey()
    {
        var key = ApiKey.Parse("sk-plain-key", "test");
        Assert.Equal("sk-plain-key", key.Secret);
        // key- and the first 8 hex digits of SHA-256("sk-plain-key").
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("sk-plain-key"u8));
        Assert.Equal("key-" + sha[..8], key.Name);
        Assert.Matches("^key-[0-9a-f]{8}$", key.Name);
        Assert.DoesNotContain("sk-plain-key", key.ToString());
    }

    [Fact]
    public void KeysFile_NamesAKeyByWhatFollowsItOnItsLine_AndPlainLinesKeepWorking()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "# team keys\nsk-alice  alice@laptop\n\tsk-ci\tci-runner \nsk-old\n  # sk-gone gone\n");
            var keys = new ApiOptions { Keys = ["sk-inline ops.team_1"], KeysFile = path }.LoadKeys();
            Assert.Equal(["sk-inline", "sk-alice", "sk-ci", "sk-old"], keys.Select(k => k.Secret));
            Assert.Equal(["ops.team_1", "alice@laptop", "ci-runner", ApiKey.Fingerprint("sk-old")], keys.Select(k => k.Name));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("sk-1 two words")]
    [InlineData("sk-1 # a trailing comment")]
    [InlineData("sk-1 name\u00e9")]
    public void AMalformedName_StopsStartUp_SayingWhere_WithoutTheKey(string entry)
    {
        var e = Assert.Throws<StartupException>(() => new ApiOptions { Keys = ["sk-ok", entry] }.LoadKeys());
        Assert.StartsWith("Api:Keys:1:", e.Message);
        Assert.DoesNotContain("sk-1", e.Message);
    }

    [Fact]
    public async Task ACallerIsKnownByItsKeysName_OrAsALocalCallerWhenNoKeysAreConfigured()
    {
        var auth = Authorizer("sk-alice alice", "sk-bob");
        Assert.Equal((200, Actor.ApiKey("alice")), await CheckAsync(auth, "192.168.1.11", "sk-alice"));
        Assert.Equal((200, Actor.ApiKey(ApiKey.Fingerprint("sk-bob"))), await CheckAsync(auth, "192.168.1.11", "sk-bob"));
        Assert.Equal(401, (await CheckAsync(auth, "192.168.1.11", "alice")).Status);
        Assert.Equal((200, Actor.LocalCaller), await CheckAsync(Authorizer(), "127.0.0.1", null));
    }
}
