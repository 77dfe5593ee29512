using System.Security.Cryptography;
using Rbee.Contracts.Protocol;
using Rbee.Platform.Paths;

namespace Rbee.Keeper.Connection;

/// <summary>
/// The cluster token the keeper uses and hands to the daemons it starts (DESIGN.md "Security"): env
/// <c>RBEE_CLUSTER_TOKEN</c> when set, else the token file, created by <c>rbee up</c> readable by the user only.
/// </summary>
public static class ClusterTokenStore
{
    /// <summary>The token in force, or null when there is none.</summary>
    public static string? Read()
    {
        if (Environment.GetEnvironmentVariable(ProtocolConstants.ClusterTokenEnvironmentVariable) is { Length: > 0 } env) return env.Trim();
        try
        {
            var text = File.ReadAllText(RbeePaths.TokenFile).Trim();
            return text.Length > 0 ? text : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The token in force, creating the token file (mode 0600) with a random token when there is none.</summary>
    public static string ReadOrCreate()
    {
        if (Read() is { } existing) return existing;
        var path = RbeePaths.TokenFile;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        // Created with 0600 from the start: no window in which another user could read it.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(path, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(token);
            writer.Write('\n');
        }
        return token;
    }
}
