using System.Text.Json;
using Rbee.Hosting.Security;

namespace Rbee.Queen.Audit;

/// <summary>
/// Who did a lifecycle action, as the audit log records it (docs/security.md "Audit log"). <see cref="Kind"/> is how the
/// caller proved itself, and the one field that is proof:
/// <list type="bullet">
/// <item><c>cluster token</c>: a control caller (the CLI, the dashboard); <see cref="ClaimedUser"/> is the user it says it
/// is (<c>X-Rbee-User</c>, sanitised), written as <c>claimed_user</c>: the token proves the call, not the name.</item>
/// <item><c>api key</c>: an OpenAI request whose key is <see cref="KeyName"/> (its name in the keys file, else its
/// fingerprint), when the request made the queen start a worker or pull a model.</item>
/// <item><c>local caller</c>: the same, with no API keys configured (only the machine's own addresses are served).</item>
/// <item><c>queen</c>: the queen's own supervision (restarting a managed hive, stopping an idle worker).</item>
/// <item><c>unknown</c>: a job planned outside a request (tests); the queen's control endpoints always require the token.</item>
/// </list>
/// </summary>
public sealed record Actor
{
    public const string ClusterTokenKind = "cluster token";
    public const string ApiKeyKind = "api key";
    public const string LocalCallerKind = "local caller";
    public const string QueenKind = "queen";
    public const string UnknownKind = "unknown";

    private Actor(string kind, string? claimedUser = null, string? keyName = null)
    {
        Kind = kind;
        ClaimedUser = claimedUser;
        KeyName = keyName;
    }

    public string Kind { get; }

    /// <summary>What a cluster-token caller says it is; never proof.</summary>
    public string? ClaimedUser { get; }

    /// <summary>The name of an API key caller's key (never the key).</summary>
    public string? KeyName { get; }

    public static Actor Queen { get; } = new(QueenKind);

    public static Actor LocalCaller { get; } = new(LocalCallerKind);

    public static Actor Unknown { get; } = new(UnknownKind);

    public static Actor ClusterToken(string? claimedUser) => new(ClusterTokenKind, Rbee.Contracts.Protocol.ClaimedUser.Sanitize(claimedUser));

    public static Actor ApiKey(string keyName) => new(ApiKeyKind, keyName: keyName);

    /// <summary>The actor of a control call: the token's holder with the name it claims, else unknown.</summary>
    public static Actor Of(ControlCaller caller) => caller.PresentedClusterToken ? ClusterToken(caller.ClaimedUser) : Unknown;

    /// <summary>Writes <c>actor</c> and, when known, <c>claimed_user</c> or <c>key</c>.</summary>
    public void WriteTo(Utf8JsonWriter json)
    {
        json.WriteString("actor", Kind);
        if (ClaimedUser is not null) json.WriteString("claimed_user", ClaimedUser);
        if (KeyName is not null) json.WriteString("key", KeyName);
    }

    /// <summary>For the daemon's own log: <c>cluster token (claims alice@laptop)</c>, <c>api key alice</c>, <c>queen</c>.</summary>
    public override string ToString() =>
        ClaimedUser is not null ? $"{Kind} (claims {ClaimedUser})" : KeyName is not null ? $"{Kind} {KeyName}" : Kind;
}
