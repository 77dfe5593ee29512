namespace Rbee.Platform.Remote;

/// <summary>How a hive on another machine is supervised when it crashes (<c>rbee hive install --supervisor</c>).</summary>
public static class Supervisors
{
    public const string Auto = "auto";
    public const string Systemd = "systemd";
    public const string Queen = "queen";

    public static readonly string[] All = [Auto, Systemd, Queen];

    /// <summary>
    /// The supervisor <paramref name="requested"/> means on <paramref name="host"/>, with the line install prints to say
    /// which and why; <c>Supervisor</c> is null when it cannot be had there, and the line then says what to use instead.
    /// <c>auto</c> is systemd where systemd is the host's init (booted with it, as <c>sd_booted</c> checks: the directory
    /// <c>/run/systemd/system</c> exists) and new enough for the unit (<see cref="HiveUnit.MinimumSystemd"/>), else the queen.
    /// </summary>
    public static (string? Supervisor, string Line) Choose(string requested, string alias, RemoteHost host)
    {
        string? missing = !host.SystemdBooted
            ? $"{alias} is not booted with systemd (no /run/systemd/system)"
            : host.SystemdVersion is { } v && v < HiveUnit.MinimumSystemd
                ? $"{alias} runs systemd {v}, older than the {HiveUnit.MinimumSystemd} the hive's unit needs"
                : null;
        var unit = host.IsRoot
            ? $"system unit {HiveUnit.SystemPath}"
            : $"user unit ~/.config/systemd/user/{HiveUnit.Name}, with lingering for {host.User}";
        return requested switch
        {
            Queen => (Queen, $"supervisor: queen (the queen restarts the hive over SSH when it crashes)"),
            Systemd when missing is null => (Systemd, $"supervisor: systemd ({unit}; systemd restarts the hive when it crashes)"),
            Systemd => (null, $"{missing}; use --supervisor queen (the queen restarts the hive over SSH)"),
            _ when missing is null => (Systemd, $"supervisor: systemd (auto: {alias} booted with systemd; {unit}; systemd restarts the hive when it crashes)"),
            _ => (Queen, $"supervisor: queen (auto: {missing}; the queen restarts the hive over SSH when it crashes)"),
        };
    }
}

/// <summary>
/// What the probe over SSH found on a host: its .NET runtime id (<c>linux-x64</c>), the SSH user (name, root or not) and
/// home, whether it booted with systemd and which version, and the environment a hive started over SSH gets there
/// (<c>PATH</c>, the XDG configuration and state homes), which the systemd unit repeats so both starts run the same hive.
/// </summary>
public sealed record RemoteHost(
    string Rid,
    string Home,
    string User,
    bool IsRoot,
    bool SystemdBooted,
    int? SystemdVersion,
    string Path,
    string ConfigHome,
    string StateHome,
    bool UnitInstalled);
