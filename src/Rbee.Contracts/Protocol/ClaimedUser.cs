namespace Rbee.Contracts.Protocol;

/// <summary>
/// The user a control caller says it is (DESIGN.md "Security"): the <c>rbee</c> CLI sends its OS user and host name as
/// <c>X-Rbee-User: alice@laptop</c> on every call, and the queen writes it into its audit log next to the cluster token
/// that proved the call. The token is the proof; the name is only what the caller claims, so it is bounded and kept to
/// printable ASCII (anything else is dropped whole, never repaired), and the audit log labels it as claimed.
/// </summary>
public static class ClaimedUser
{
    public const string Header = "X-Rbee-User";

    /// <summary>Longest name kept: a Linux user name (32) and a host name (64) with room to spare.</summary>
    public const int MaxLength = 128;

    /// <summary>The name trimmed, or null when it is empty, longer than <see cref="MaxLength"/>, or holds anything but
    /// printable ASCII (a control character could forge a line of a log that prints it).</summary>
    public static string? Sanitize(string? value)
    {
        var name = value?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > MaxLength) return null;
        foreach (var c in name)
            if (c is < ' ' or > '~') return null;
        return name;
    }

    /// <summary>This process's <c>user@host</c>, sanitised (null when the OS names hold anything but printable ASCII).</summary>
    public static string? OfThisProcess() => Sanitize($"{Environment.UserName}@{Environment.MachineName}");
}
