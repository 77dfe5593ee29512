namespace Rbee.Keeper.Connection;

/// <summary>
/// An operation that failed in a way the person can act on: its message is the one line <c>rbee</c> prints on stderr
/// (what went wrong, then what to do next), and the command exits with <see cref="ExitCode"/>.
/// </summary>
public sealed class CliFailure(string message, int exitCode = ExitCodes.Failed) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    public static CliFailure QueenUnreachable(Uri queenUrl) =>
        new($"queen not reachable at {Display(queenUrl)}: start it with `rbee up` (or point --queen-url / RBEE_QUEEN_URL at it)");

    public static CliFailure Usage(string message) => new(message, ExitCodes.Usage);

    /// <summary>A base URL as people write it: no trailing slash.</summary>
    public static string Display(Uri url) => url.ToString().TrimEnd('/');
}

/// <summary>The exit codes of every command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The operation was tried and failed (a daemon unreachable, a job that ended in an error, nothing matched).</summary>
    public const int Failed = 1;

    /// <summary>The command line itself is wrong.</summary>
    public const int Usage = 2;
}
