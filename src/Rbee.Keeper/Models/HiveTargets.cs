using Rbee.Contracts.Wire;
using Rbee.Keeper.Connection;

namespace Rbee.Keeper.Models;

/// <summary>
/// The hives a model command acts on, as the queen's <c>hive_id</c> field takes them: the ones named with
/// <c>--hive</c>, <c>"*"</c> for <c>--all</c>, else the one online hive when the cluster has exactly one.
/// </summary>
public static class HiveTargets
{
    public const string All = "*";

    /// <returns>The <c>hive_id</c> field's value; null at a hive (<c>--hive-url</c>), whose jobs take none.</returns>
    public static async Task<object?> ResolveAsync(QueenClient queen, IReadOnlyList<string> hives, bool all, string command, CancellationToken ct)
    {
        if (queen.IsHive)
        {
            if (all || hives.Count > 0) throw CliFailure.Usage($"rbee {command}: --hive and --all choose hives at the queen; with --hive-url the hive is that one");
            return null;
        }
        if (all && hives.Count > 0) throw CliFailure.Usage($"rbee {command}: give --hive or --all, not both");
        if (all) return All;
        if (hives.Count == 1) return hives[0];
        if (hives.Count > 1) return hives;
        var online = (await queen.ClusterAsync(ct)).Hives.Where(h => h.State == HiveState.Online).Select(h => h.HiveId).ToList();
        return online.Count switch
        {
            1 => online[0],
            0 => throw new CliFailure("no hive is online at the queen: `rbee status` shows the hives, `rbee up` starts the local one"),
            _ => throw CliFailure.Usage($"the cluster has {online.Count} online hives ({string.Join(", ", online)}): choose with --hive H, or --all"),
        };
    }

    /// <summary>
    /// The one hive a hive command is about: <paramref name="named"/> when given, else the only hive the queen knows
    /// (in any state: the logs of an offline hive are what one reads first).
    /// </summary>
    public static async Task<string> OneAsync(QueenClient queen, string? named, string command, CancellationToken ct)
    {
        if (named is not null) return named;
        var known = (await queen.ClusterAsync(ct)).Hives.Select(h => h.HiveId).ToList();
        return known.Count switch
        {
            1 => known[0],
            0 => throw new CliFailure("the queen knows no hive: `rbee up` starts the local one"),
            _ => throw CliFailure.Usage($"rbee {command}: the cluster has {known.Count} hives ({string.Join(", ", known)}): name one"),
        };
    }
}
