using System.Security.Cryptography;
using System.Text;

namespace Rbee.Hosting.Security;

/// <summary>
/// Bearer credentials as every rbee endpoint checks them (the cluster token, the queen's API keys): the token of an
/// <c>Authorization: Bearer</c> header, compared as SHA-256 hashes in constant time. Comparing hashes keeps the length
/// secret too (<see cref="CryptographicOperations.FixedTimeEquals"/> returns at once on a length mismatch).
/// </summary>
public static class BearerTokens
{
    private const string Scheme = "Bearer ";

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>The token of an <c>Authorization</c> header value, or null when it is not a non-empty bearer.</summary>
    public static string? From(string? header)
    {
        if (string.IsNullOrEmpty(header) || !header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)) return null;
        var token = header.AsSpan(Scheme.Length).Trim();
        return token.IsEmpty ? null : token.ToString();
    }

    /// <summary>Whether <paramref name="tokenHash"/> is the hash of <paramref name="expectedHash"/>'s token, in constant time.</summary>
    public static bool Same(byte[] tokenHash, byte[] expectedHash) => CryptographicOperations.FixedTimeEquals(tokenHash, expectedHash);
}
