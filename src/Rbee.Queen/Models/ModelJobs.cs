using System.Buffers;
using System.Text;
using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Models;
using Rbee.Models.Downloads;
using Rbee.Models.Sources;
using Rbee.Queen.Cluster;
using Rbee.Queen.Jobs;

namespace Rbee.Queen.Models;

/// <summary>
/// The queen's jobs on models across the cluster (issue 10):
/// <list type="bullet">
/// <item><c>model_download {source, hive_id, name?}</c>: the hive job of the same name on each hive <c>hive_id</c> names
/// (one id, a list, or <c>"*"</c> for every online hive), in parallel, merged into one stream (<see cref="HiveForwarder.RunEachAsync"/>).
/// The source is parsed here with the hives' own parser, so the queen refuses at once what no hive would take; an alias
/// (<c>Models:Aliases</c>) stands for its source and names the file after itself.</item>
/// <item><c>model_list {hive_id?}</c>: every model of every hive's catalog as the queen holds it (no hive is asked), one
/// data row per (hive, model): the <see cref="ModelInfo"/> fields plus <c>hive_id</c> and <c>hive_state</c>.</item>
/// <item><c>model_delete {model, hive_id}</c>: the hive job on each named hive; <c>"*"</c> is every online hive whose
/// catalog lists the model.</item>
/// </list>
/// </summary>
public sealed class ModelJobs(ClusterRegistry registry, HiveForwarder hives, ModelOptions options)
{
    public JobPlan PlanDownload(JsonElement request)
    {
        var snapshot = registry.Current;
        if (HiveTargets.Read(request, snapshot, JobOperations.ModelDownload, out var invalid) is not { } targets) return invalid;
        var source = JobFields.String(request, "source", out var error);
        if (error is not null) return JobPlan.Invalid(error, "source");
        var name = JobFields.String(request, "name", out error);
        if (error is not null) return JobPlan.Invalid(error, "name");
        if (string.IsNullOrWhiteSpace(source))
            return JobPlan.Invalid("'source' is required: org/repo:file.gguf, org/repo:Q4_K_M, an https://…/file.gguf URL, or an alias of Models:Aliases", "source", "missing_field");

        string? aliasNote = null;
        if (options.Aliases.TryGetValue(source.Trim(), out var aliased))
        {
            // `rbee pull tinyllama` pulls what the alias names, under the alias's name, as a pull on demand would.
            aliasNote = $"{source.Trim()} is an alias of {aliased.Trim()}";
            name ??= source.Trim();
            source = aliased.Trim();
        }
        if (!ModelReference.TryParse(source, out var reference, out var parseError)) return JobPlan.Invalid(parseError, "source", "invalid_source");
        // The hives' own rule for a model's file name, so a name no hive would take is refused here, once.
        var stem = name ?? reference.DefaultId;
        if (stem is not null && stem.EndsWith(ModelFiles.Extension, StringComparison.OrdinalIgnoreCase)) stem = stem[..^ModelFiles.Extension.Length];
        if (stem is not null && DownloadTarget.NameProblem(stem) is { } badName)
            return JobPlan.Invalid(name is null ? $"the file name of {source} cannot be a model name on a hive ({badName}); give 'name'" : $"'name' {badName}", "name", "invalid_name");

        var body = HiveBody(request, JobOperations.ModelDownload, ("source", source), ("name", name));
        return JobPlan.Run((job, ct) =>
        {
            if (aliasNote is not null) job.Narrate(aliasNote);
            return hives.RunEachAsync(job, JobOperations.ModelDownload, targets, body, ct);
        });
    }

    public JobPlan PlanDelete(JsonElement request)
    {
        var model = JobFields.String(request, "model", out var error);
        if (error is not null) return JobPlan.Invalid(error, "model");
        if (string.IsNullOrWhiteSpace(model)) return JobPlan.Invalid("'model' is required: the id of the model to delete (see the job model_list)", "model", "missing_field");
        var snapshot = registry.Current;
        var targets = HiveTargets.Read(request, snapshot, JobOperations.ModelDelete, out var invalid,
            every: h => h.Catalog?.Models.Any(m => m.Id == model) == true,
            everyNone: $"no online hive lists the model '{model}' (see the job model_list)");
        if (targets is null) return invalid;
        var body = HiveBody(request, JobOperations.ModelDelete, ("model", model));
        return JobPlan.Run((job, ct) => hives.RunEachAsync(job, JobOperations.ModelDelete, targets, body, ct));
    }

    public JobPlan PlanList(JsonElement request)
    {
        var snapshot = registry.Current;
        IReadOnlyList<string>? only = null;
        if (request.TryGetProperty(HiveTargets.Field, out var field) && field.ValueKind != JsonValueKind.Null)
        {
            only = HiveTargets.Read(request, snapshot, JobOperations.ModelList, out var invalid);
            if (only is null) return invalid;
        }
        return JobPlan.Run((job, _) =>
        {
            // The view when the job runs, not when it was planned: a catalog may have arrived in between.
            List(job, registry.Current, only);
            return Task.CompletedTask;
        });
    }

    /// <summary>Narration and one data row per (hive, model) of <paramref name="snapshot"/>, for the hives in <paramref name="only"/> (all when null).</summary>
    public static void List(Job job, ClusterSnapshot snapshot, IReadOnlyList<string>? only)
    {
        int models = 0, hivesWithModels = 0;
        foreach (var hive in snapshot.Hives.Values)
        {
            if (only is not null && !only.Contains(hive.HiveId, StringComparer.Ordinal)) continue;
            if (hive.Catalog is not { } catalog)
            {
                job.Narrate($"{hive.HiveId} ({hive.State.ToWire()}): no model catalog at the queen yet");
                continue;
            }
            if (catalog.Models.Count > 0) hivesWithModels++;
            foreach (var m in catalog.Models.OrderBy(m => m.Id, StringComparer.Ordinal))
            {
                models++;
                job.Narrate(Line(hive, m));
                job.Data(Row(hive, m));
            }
        }
        job.Narrate(models == 0 ? "no models in the cluster" : $"{models} model(s) on {hivesWithModels} hive(s)");
    }

    /// <summary><c>tiny on gpu-box (online): 1.1 MB, Q8_0, models_dir, from org/repo:tiny.gguf</c>.</summary>
    public static string Line(HiveEntry hive, ModelInfo m) =>
        $"{m.Id} on {hive.HiveId} ({hive.State.ToWire()}): {PullProgress.Bytes(m.SizeBytes)}, {m.Quantization ?? "unknown quantisation"}, {m.Source}"
        + (m.Origin is { } origin ? $", from {origin}" : "");

    /// <summary>A <c>model_list</c> row: <c>hive_id</c> and <c>hive_state</c>, then every field of <see cref="ModelInfo"/>
    /// as the hive's catalog writes it (so a reader can take the row as a ModelInfo and ignore the two).</summary>
    public static string Row(HiveEntry hive, ModelInfo m)
    {
        using var info = JsonSerializer.SerializeToDocument(m, RbeeJsonContext.Default.ModelInfo);
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("hive_id"u8, hive.HiveId);
            w.WriteString("hive_state"u8, hive.State.ToWire());
            foreach (var p in info.RootElement.EnumerateObject()) p.WriteTo(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// The hive job's body: <paramref name="operation"/>, the <paramref name="fields"/> given (null ones left out), and every
    /// other field of the queen's request (when there is one) as it came, except <c>hive_id</c> (the hive is the one it is
    /// posted to).
    /// </summary>
    public static string HiveBody(JsonElement? request, string operation, params (string Name, string? Value)[] fields)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("operation"u8, operation);
            foreach (var (name, value) in fields)
                if (value is not null) w.WriteString(name, value);
            if (request is { } r)
                foreach (var p in r.EnumerateObject())
                {
                    if (p.NameEquals("operation"u8) || p.NameEquals(HiveTargets.Field) || fields.Any(f => p.NameEquals(f.Name))) continue;
                    p.WriteTo(w);
                }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
