namespace Rbee.Queen.Discovery;

/// <summary>A concrete host of the SSH config: an alias with the values that apply to it.</summary>
/// <param name="Alias">The name after <c>Host</c>.</param>
/// <param name="HostName">The <c>HostName</c> that applies, else the alias itself.</param>
/// <param name="SshPort">The SSH <c>Port</c> (not the hive port).</param>
public sealed record SshHost(string Alias, string HostName, string? User, int? SshPort, string File, int Line);

/// <summary>A line the parser could not use; the rest of the file still counts.</summary>
public sealed record SshConfigWarning(string File, int Line, string Message)
{
    public override string ToString() => $"{File}:{Line}: {Message}";
}

/// <summary>The result of reading an SSH config: hosts in file order, warnings, and every file read (for watching).</summary>
public sealed record SshConfig(IReadOnlyList<SshHost> Hosts, IReadOnlyList<SshConfigWarning> Warnings, IReadOnlyList<string> Files)
{
    public static SshConfig Empty { get; } = new([], [], []);
}
