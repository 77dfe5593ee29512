using System.Security.Cryptography;
using System.Text;

namespace Rbee.Platform.Security;

/// <summary>
/// The key a worker the hive starts requires for inference (DESIGN.md "Security"): without it a LAN client could call
/// the worker directly and bypass the queen and its API keys. Derived, never stored or sent: HMAC-SHA256 of the hive's id
/// and the worker's port under the cluster token, so the hive computes it for the worker's environment (never its command
/// line, where <c>ps</c> shows it), the queen computes it when it forwards, and a restarted hive needs nothing to re-adopt.
/// Whoever holds the cluster token controls the cluster anyway; a worker's key opens only that worker.
/// </summary>
public static class WorkerApiKey
{
    /// <summary>The variable the hive sets in a worker's environment; llm-worker-rbee reads it at start.</summary>
    public const string EnvironmentVariable = "RBEE_WORKER_API_KEY";

    public static string Derive(string clusterToken, string hiveId, int port) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(clusterToken),
            Encoding.UTF8.GetBytes($"rbee worker api key\n{hiveId}\n{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}")));

    /// <summary>Whether <paramref name="authorizationHeader"/> is <c>Bearer &lt;key&gt;</c>, compared in constant time.</summary>
    public static bool IsPresentedIn(string? authorizationHeader, string key)
    {
        const string scheme = "Bearer ";
        if (authorizationHeader is null || authorizationHeader.Length <= scheme.Length
            || !authorizationHeader.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(authorizationHeader[scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, SHA256.HashData(Encoding.UTF8.GetBytes(key)));
    }
}
