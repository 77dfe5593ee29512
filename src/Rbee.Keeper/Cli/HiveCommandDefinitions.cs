using System.CommandLine;

namespace Rbee.Keeper.Cli;

/// <summary>The options of the log commands: <c>-n N</c> lines, <c>-f</c> to follow (as <c>tail</c> takes them).</summary>
public static class LogOptions
{
    public static Option<int> Lines() => new("--lines", "-n")
    {
        Description = "how many of the last lines to show (0 to 10000)",
        DefaultValueFactory = _ => 100,
        CustomParser = r =>
        {
            var text = r.Tokens.Single().Value;
            if (int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n) && n is >= 0 and <= 10_000) return n;
            r.AddError($"--lines '{text}': give a number of lines from 0 to 10000");
            return 0;
        },
    };

    public static Option<bool> Follow() => new("--follow", "-f") { Description = "keep printing what is appended, until Ctrl-C" };
}

/// <summary><c>rbee logs WORKER [-n N] [-f]</c>.</summary>
public sealed class LogsCommandDefinition : Command
{
    public Argument<string> Worker { get; } = new("WORKER")
    {
        Description = "HIVE:PORT, PORT, the worker's URL, or a model served by one worker (an exited worker: HIVE:PORT)",
    };

    public Option<int> Lines { get; } = LogOptions.Lines();
    public Option<bool> Follow { get; } = LogOptions.Follow();

    public LogsCommandDefinition() : base("logs", "print a worker's log (its last lines; -f follows it)")
    {
        Arguments.Add(Worker);
        Options.Add(Lines);
        Options.Add(Follow);
    }
}

/// <summary><c>rbee hive status|logs [HIVE]</c>, and <c>install|start|stop|restart|uninstall --host ALIAS</c> for a hive on another machine.</summary>
public sealed class HiveCommandDefinition : Command
{
    public HiveStatusCommandDefinition Status { get; } = new();
    public HiveLogsCommandDefinition Logs { get; } = new();
    public RemoteHiveCommandDefinition Install { get; } = new("install",
        "install rbee-hive on a machine over SSH (~/.local/lib/rbee), configure it for this queen, and have the queen manage it", supervisor: true);
    public RemoteHiveCommandDefinition Start { get; } = new("start", "start the hive of a machine over SSH (refused when one runs there)");
    public RemoteHiveCommandDefinition Stop { get; } = new("stop", "stop the hive of a machine over SSH (the queen then does not restart it)");
    public RemoteHiveCommandDefinition Restart { get; } = new("restart", "stop, then start, the hive of a machine over SSH");
    public RemoteHiveCommandDefinition Uninstall { get; } = new("uninstall", "stop the hive of a machine, remove its programs and configuration, and have the queen forget it");

    public IEnumerable<RemoteHiveCommandDefinition> Remote => [Install, Start, Stop, Restart, Uninstall];

    public HiveCommandDefinition() : base("hive", "one hive: its status and log; install, start and stop hives on other machines over SSH")
    {
        Subcommands.Add(Status);
        Subcommands.Add(Logs);
        foreach (var c in Remote) Subcommands.Add(c);
    }
}

/// <summary><c>rbee hive ACTION --host ALIAS</c>: a machine of the SSH config (<c>--ssh-config</c>, <c>RBEE_SSH_CONFIG</c>).</summary>
public sealed class RemoteHiveCommandDefinition : Command
{
    public Option<string> Host { get; } = new("--host")
    {
        Description = "the machine's alias in the SSH config (also the hive's id)",
        Required = true,
    };

    public Option<int> HivePort { get; } = new("--hive-port")
    {
        Description = "the hive's port there",
        DefaultValueFactory = _ => Rbee.Contracts.Protocol.ProtocolConstants.HivePort,
    };

    public Option<string>? Supervisor { get; }

    public Option<string>? From { get; }

    public RemoteHiveCommandDefinition(string name, string description, bool supervisor = false) : base(name, description)
    {
        Options.Add(Host);
        Options.Add(HivePort);
        if (!supervisor) return;
        From = new Option<string>("--from")
        {
            Description = "take rbee-hive and llm-worker-rbee from this folder (default: the release for the machine's architecture, built by scripts/publish.sh in a checkout)",
        };
        Options.Add(From);
        Supervisor = new Option<string>("--supervisor")
        {
            Description = "who restarts the hive when it crashes: auto (systemd where the host booted with it, else the queen), systemd (a unit with Restart=on-failure), or queen (over SSH)",
            DefaultValueFactory = _ => Rbee.Platform.Remote.Supervisors.Auto,
        };
        Supervisor.AcceptOnlyFromAmong(Rbee.Platform.Remote.Supervisors.All);
        Options.Add(Supervisor);
    }
}

/// <summary><c>--host ALIAS</c> and <c>--hive-port</c> on status and logs: ask the machine over SSH instead of the hive's API
/// (it answers when the hive does not run: why it stopped is in its log).</summary>
public static class RemoteHiveOptions
{
    public static Option<string> Host() => new("--host")
    {
        Description = "a machine of the SSH config: read its hive's process and log over SSH (works when the hive is down)",
    };

    public static Option<int> HivePort() => new("--hive-port")
    {
        Description = "with --host: the hive's port there",
        DefaultValueFactory = _ => Rbee.Contracts.Protocol.ProtocolConstants.HivePort,
    };
}

public sealed class HiveStatusCommandDefinition : Command
{
    public Argument<string?> Hive { get; } = new("HIVE") { Description = "the hive (default: the only one)", Arity = ArgumentArity.ZeroOrOne };
    public Option<string> Host { get; } = RemoteHiveOptions.Host();
    public Option<int> HivePort { get; } = RemoteHiveOptions.HivePort();

    public HiveStatusCommandDefinition() : base("status", "a hive's state, devices, CPU, RAM and workers, and its own check (monitoring, worker types)")
    {
        Arguments.Add(Hive);
        Options.Add(Host);
        Options.Add(HivePort);
    }
}

public sealed class HiveLogsCommandDefinition : Command
{
    public Argument<string?> Hive { get; } = new("HIVE") { Description = "the hive (default: the only one)", Arity = ArgumentArity.ZeroOrOne };
    public Option<int> Lines { get; } = LogOptions.Lines();
    public Option<bool> Follow { get; } = LogOptions.Follow();
    public Option<string> Host { get; } = RemoteHiveOptions.Host();
    public Option<int> HivePort { get; } = RemoteHiveOptions.HivePort();

    public HiveLogsCommandDefinition() : base("logs", "print a hive's own log (its last lines; -f follows it)")
    {
        Arguments.Add(Hive);
        Options.Add(Lines);
        Options.Add(Follow);
        Options.Add(Host);
        Options.Add(HivePort);
    }
}

/// <summary><c>rbee config show [--hive H]</c>.</summary>
public sealed class ConfigCommandDefinition : Command
{
    public ConfigShowCommandDefinition Show { get; } = new();

    public ConfigCommandDefinition() : base("config", "the configuration in force")
    {
        Subcommands.Add(Show);
    }
}

public sealed class ConfigShowCommandDefinition : Command
{
    public Option<string> Hive { get; } = new("--hive") { Description = "also show this hive's configuration (through the queen)" };

    public ConfigShowCommandDefinition() : base("show", "every value in force with its source (flag, environment, file, default): this rbee's, the queen's, a hive's; secrets masked")
    {
        Options.Add(Hive);
    }
}
