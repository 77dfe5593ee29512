using System.Diagnostics.CodeAnalysis;

namespace Rbee.Platform.Configuration;

/// <summary>
/// The one rule for a daemon's address (a queen URL, a hive URL, an advertise URL), wherever it comes from: flags,
/// <c>?queen_url=</c>, a ready body. Absolute, http or https, with a host, without credentials.
/// </summary>
public static class DaemonUrl
{
    public static bool TryParse(string? value, [NotNullWhen(true)] out Uri? uri)
    {
        if (Uri.TryCreate(value, UriKind.Absolute, out var parsed)
            && (parsed.Scheme == Uri.UriSchemeHttp || parsed.Scheme == Uri.UriSchemeHttps)
            && !string.IsNullOrEmpty(parsed.Host)
            && string.IsNullOrEmpty(parsed.UserInfo))
        {
            uri = parsed;
            return true;
        }
        uri = null;
        return false;
    }

    public static bool IsValid(string? value) => TryParse(value, out _);
}
