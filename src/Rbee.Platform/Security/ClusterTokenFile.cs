using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Rbee.Platform.Security;

/// <summary>What <see cref="ClusterTokenFile.ReadOrCreate"/> found: the token and whether this call created the file.</summary>
public readonly record struct ClusterTokenFileResult(string Token, bool Created);

/// <summary>
/// The one token file of queen, hive and CLI (DESIGN.md "Security"): <c>$XDG_CONFIG_HOME/rbee/token</c>, 256 random bits
/// as hex, mode 0600. Whoever needs a token and finds none creates it here, so a single machine works with nothing
/// typed. Creation is race-free: the token is written whole to a temporary file beside the target (0600 from the start)
/// and hard-linked into place with link(2), which fails if the target exists; two daemons starting at once therefore
/// end with one token, the loser reading the winner's. The token is never part of an exception message.
/// </summary>
public static partial class ClusterTokenFile
{
    private const int TokenBytes = 32;
    private const int EEXIST = 17;

    /// <summary>The token in <paramref name="path"/>, or null when the file does not exist.</summary>
    /// <exception cref="ClusterTokenFileException">The file exists but cannot be read by this user, or is empty.</exception>
    public static string? Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            throw new ClusterTokenFileException(path,
                $"the cluster token is in {path}, which user {UserName} cannot read: it belongs to the user the daemons run as " +
                "(root for a hive started by a service manager), and reading it needs that user or root, by design; " +
                "run as that user, or set RBEE_CLUSTER_TOKEN to the token");
        }
        catch (IOException e)
        {
            throw new ClusterTokenFileException(path, $"cannot read the cluster token file {path}: {e.Message}");
        }
        var token = text.Trim();
        return token.Length > 0 ? token : throw new ClusterTokenFileException(path, $"the cluster token file {path} is empty");
    }

    /// <summary>
    /// The token in <paramref name="path"/>, creating the file with a new random token when there is none. Safe to call
    /// from several processes at once: all of them return the same token.
    /// </summary>
    /// <exception cref="ClusterTokenFileException">The file cannot be read or created.</exception>
    public static ClusterTokenFileResult ReadOrCreate(string path)
    {
        if (Read(path) is { } existing) return new(existing, Created: false);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(TokenBytes));
        var temporary = Path.Combine(directory, $".token.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
            else Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            WriteWhole(temporary, token);
            if (Link(temporary, path)) return new(token, Created: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ClusterTokenFileException(path, $"cannot create the cluster token file {path}: {e.Message}");
        }
        finally
        {
            try { File.Delete(temporary); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        // Another process linked its token first: it is complete (written before the link), and it is the one in force.
        return new(Read(path) ?? throw new ClusterTokenFileException(path, $"the cluster token file {path} vanished while it was being created"), Created: false);
    }

    private static void WriteWhole(string path, string token)
    {
        // 0600 from the start: there is no moment at which another user could open it.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        stream.Write(Encoding.ASCII.GetBytes(token + "\n"));
        stream.Flush(flushToDisk: true);
    }

    /// <summary>link(2): true when <paramref name="target"/> now names the temporary file, false when it already existed.</summary>
    private static bool Link(string temporary, string target)
    {
        if (OperatingSystem.IsWindows())
        {
            try { File.Move(temporary, target, overwrite: false); return true; }
            catch (IOException) when (File.Exists(target)) { return false; }
        }
        if (link(temporary, target) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == EEXIST) return false;
        throw new IOException($"link failed: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    private static string UserName => Environment.UserName is { Length: > 0 } u ? u : "(this user)";

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string oldpath, string newpath);
}

/// <summary>The token file cannot be used; the message names the file and says what to do, and never holds the token.</summary>
public sealed class ClusterTokenFileException(string path, string message) : IOException(message)
{
    public string TokenPath { get; } = path;
}
