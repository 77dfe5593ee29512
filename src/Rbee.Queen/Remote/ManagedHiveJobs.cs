using System.Text.Json;
using System.Text.RegularExpressions;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Platform.Remote;
using Rbee.Queen.Audit;

namespace Rbee.Queen.Remote;

/// <summary>
/// <c>hive_manage</c> and <c>hive_unmanage</c> (issue 14): what <c>rbee hive install|start|stop|uninstall --host</c>
/// tell the queen, so it knows which hives it restarts when they crash and which were stopped on purpose.
/// </summary>
public sealed partial class ManagedHiveJobs(ManagedHives hives, AuditLog audit, HiveSupervisor restarts)
{
    public const string WantRunning = "running";
    public const string WantStopped = "stopped";

    public JobPlan PlanManage(JsonElement request, Actor actor)
    {
        if (Host(request, out var host) is { } bad) return bad;
        var supervisor = JobFields.String(request, "supervisor", out var e1);
        if (e1 is not null) return JobPlan.Invalid(e1, "supervisor");
        if (supervisor is not null && supervisor is not (Supervisors.Queen or Supervisors.Systemd))
            return JobPlan.Invalid($"'supervisor' must be \"{Supervisors.Queen}\" or \"{Supervisors.Systemd}\"", "supervisor");
        var want = JobFields.String(request, "want", out var e2);
        if (e2 is not null) return JobPlan.Invalid(e2, "want");
        if (want is not (null or WantRunning or WantStopped))
            return JobPlan.Invalid($"'want' must be \"{WantRunning}\" or \"{WantStopped}\"", "want");
        return JobPlan.Run(async (job, _) =>
        {
            var old = hives.Find(host);
            var next = new ManagedHive(host, supervisor ?? old?.Supervisor ?? Supervisors.Queen, want is null ? old?.WantRunning ?? false : want == WantRunning);
            hives.Put(next);
            audit.Write(actor, old is null ? "manage" : "update", host, $"supervisor {next.Supervisor}, {(next.WantRunning ? "wanted running" : "wanted stopped")}");
            job.Narrate($"the queen manages {host}: supervisor {next.Supervisor}, {(next.WantRunning ? "restarted when it crashes" : "stopped on purpose, not restarted")}");
            // The caller stops the hive when this job ends: a restart the queen began before it must have landed by then,
            // or that stop could miss the hive it starts.
            if (!next.WantRunning) await restarts.SettleAsync(host);
        });
    }

    public JobPlan PlanUnmanage(JsonElement request, Actor actor)
    {
        if (Host(request, out var host) is { } bad) return bad;
        return JobPlan.Run((job, _) =>
        {
            if (hives.Remove(host))
            {
                audit.Write(actor, "unmanage", host);
                job.Narrate($"the queen no longer manages {host}");
            }
            else job.Narrate($"the queen did not manage {host}");
            return Task.CompletedTask;
        });
    }

    private static JobPlan? Host(JsonElement request, out string host)
    {
        host = JobFields.String(request, "host", out var err) ?? "";
        if (err is not null) return JobPlan.Invalid(err, "host");
        if (host.Length == 0) return JobPlan.Invalid("'host' is required: the SSH alias of the hive's machine", "host", "missing_field");
        if (!AliasPattern().IsMatch(host)) return JobPlan.Invalid($"'host' '{host}' must be 1-63 letters, digits, '.', '_' or '-' (an SSH alias, also the hive's id)", "host");
        return null;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,63}$")]
    private static partial Regex AliasPattern();
}
