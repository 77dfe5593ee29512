using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Queen.Cluster;

namespace Rbee.Queen.Jobs;

/// <summary>
/// The hives a queen job names in <c>hive_id</c>: one id (<c>"gpu-box"</c>), a list (<c>["a","b"]</c>), or <c>"*"</c> for
/// every online hive (narrowed further by the operation, e.g. to the hives that hold a model). Checked on the job's face
/// against the cluster view, so <c>POST /v1/jobs</c> answers 400 naming <c>hive_id</c> for a missing or ill-typed field,
/// an unknown hive, an empty list, or a <c>"*"</c> that matches no hive.
/// </summary>
public static class HiveTargets
{
    public const string Field = "hive_id";

    /// <summary>The spelling of "every online hive".</summary>
    public const string Every = "*";

    /// <summary>
    /// Reads <c>hive_id</c>. Returns the hive ids (in the order given, each once), or null with <paramref name="invalid"/>
    /// set. <paramref name="every"/> picks the hives <c>"*"</c> stands for among the online ones (all of them when null);
    /// <paramref name="everyNone"/> is the 400's message when it picks none.
    /// </summary>
    public static IReadOnlyList<string>? Read(JsonElement request, ClusterSnapshot snapshot, string operation, out JobPlan invalid,
        Func<HiveEntry, bool>? every = null, string? everyNone = null)
    {
        invalid = default;
        if (!request.TryGetProperty(Field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            invalid = JobPlan.Invalid($"'{Field}' is required for {operation} at the queen: a hive id, a list of them, or \"*\" for every online hive (see GET /v1/cluster)",
                Field, "missing_field");
            return null;
        }
        if (!IsText(value))
        {
            invalid = JobPlan.Invalid($"'{Field}' {JsonText.NotText}", Field);
            return null;
        }
        if (value.ValueKind == JsonValueKind.String && value.GetString() == Every)
        {
            var ids = snapshot.Hives.Values.Where(h => h.State == HiveState.Online && (every is null || every(h))).Select(h => h.HiveId).ToList();
            if (ids.Count == 0) invalid = JobPlan.Invalid(everyNone ?? "no hive is online now (see GET /v1/cluster)", Field, "no_online_hive");
            return ids.Count == 0 ? null : ids;
        }

        var named = new List<string>();
        if (value.ValueKind == JsonValueKind.String) named.Add(value.GetString()!);
        else if (value.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in value.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String || !IsText(item) || string.IsNullOrWhiteSpace(item.GetString()) || item.GetString() == Every)
                {
                    invalid = JobPlan.Invalid($"'{Field}' must list hive ids as strings (\"*\" stands alone, not in a list)", Field);
                    return null;
                }
                if (!named.Contains(item.GetString()!, StringComparer.Ordinal)) named.Add(item.GetString()!);
            }
            if (named.Count == 0)
            {
                invalid = JobPlan.Invalid($"'{Field}' is an empty list; name at least one hive, or \"*\" for every online hive", Field);
                return null;
            }
        }
        else
        {
            invalid = JobPlan.Invalid($"'{Field}' must be a hive id, a list of hive ids, or \"*\"", Field);
            return null;
        }

        var unknown = named.Where(id => snapshot.Find(id) is null).ToList();
        if (unknown.Count > 0)
        {
            invalid = JobPlan.Invalid(
                $"the queen knows no hive {string.Join(", ", unknown.Select(id => $"'{id}'"))} (see GET /v1/cluster)", Field, "hive_not_found");
            return null;
        }
        return named;
    }

    // A hive id whose bytes are not text (invalid UTF-8, a lone surrogate) would throw when read: a 400 instead.
    private static bool IsText(JsonElement value) => value.ValueKind != JsonValueKind.String || JsonText.TryGetString(value, out _);
}
