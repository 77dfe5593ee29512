using Rbee.Contracts.Wire;
using Rbee.Platform.Configuration;

namespace Rbee.Queen.Cluster;

/// <summary>Checks a <c>POST /v1/hive/ready</c> body before it reaches the registry.</summary>
public static class HiveReadyValidation
{
    public const int MaxIdLength = 128;

    /// <summary>The parsed hive_url, or the problem and the field it is in.</summary>
    public static (Uri? HiveUrl, string? Error, string? Param) Validate(HiveReady? ready)
    {
        if (ready is null) return (null, "body must be a JSON object", null);
        if (!IsSaneId(ready.HiveId)) return (null, "hive_id must be 1-128 characters of letters, digits, '.', '_' or '-'", "hive_id");
        if (!IsSaneId(ready.InstanceId)) return (null, "instance_id must be 1-128 characters of letters, digits, '.', '_' or '-'", "instance_id");
        if (!DaemonUrl.TryParse(ready.HiveUrl, out var url) || url.Query.Length > 0 || url.Fragment.Length > 0)
            return (null, "hive_url must be an absolute http(s) URL without credentials, query or fragment", "hive_url");
        if (ready.Version is { Length: > MaxIdLength }) return (null, "version is too long", "version");
        if (ready.Protocol <= 0) return (null, "protocol must be a positive integer", "protocol");
        return (url, null, null);
    }

    public static bool IsSaneId(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxIdLength) return false;
        foreach (var c in id)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')) return false;
        return true;
    }
}
