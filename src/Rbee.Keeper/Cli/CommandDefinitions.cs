using System.CommandLine;
using Rbee.Contracts.Protocol;

namespace Rbee.Keeper.Cli;

/// <summary>Options shared by several commands.</summary>
public static class CommonOptions
{
    public static Option<int> HivePort() => new("--hive-port")
    {
        Description = "port of the local rbee-hive",
        DefaultValueFactory = _ => ProtocolConstants.HivePort,
        Validators = { r => { if (r.GetValueOrDefault<int>() is <= 0 or > 65535) r.AddError("--hive-port must be 1-65535"); } },
    };

    public static Option<int> TimeoutSeconds(int seconds) => new("--timeout")
    {
        Description = "seconds to wait before giving up",
        DefaultValueFactory = _ => seconds,
        Validators = { r => { if (r.GetValueOrDefault<int>() <= 0) r.AddError("--timeout must be positive"); } },
    };
}

/// <summary><c>rbee up</c>: its options (STYLE.md §7: definition apart from behaviour).</summary>
public sealed class UpCommandDefinition : Command
{
    public Option<int> HivePort { get; } = CommonOptions.HivePort();
    public Option<int> Timeout { get; } = CommonOptions.TimeoutSeconds(60);

    public UpCommandDefinition() : base("up", "start queen-rbee and a local rbee-hive in the background (or attach), wait until the hive is online")
    {
        Options.Add(HivePort);
        Options.Add(Timeout);
    }
}

/// <summary><c>rbee down</c>.</summary>
public sealed class DownCommandDefinition : Command
{
    public Option<int> HivePort { get; } = CommonOptions.HivePort();
    public Option<int> Timeout { get; } = CommonOptions.TimeoutSeconds(30);

    public DownCommandDefinition() : base("down", "stop queen-rbee and the local rbee-hive (and its workers), verified")
    {
        Options.Add(HivePort);
        Options.Add(Timeout);
    }
}

/// <summary><c>rbee status</c>.</summary>
public sealed class StatusCommandDefinition : Command
{
    public Option<bool> Watch { get; } = new("--watch", "-w")
    {
        Description = "keep the table up to date from the queen's event stream until Ctrl-C (--json: one view per line)",
    };

    public StatusCommandDefinition() : base("status", "show the hives the queen knows: state, last frame, devices, CPU, RAM, workers")
    {
        Options.Add(Watch);
    }
}
