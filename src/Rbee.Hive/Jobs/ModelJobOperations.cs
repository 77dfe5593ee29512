using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hive.Models;
using Rbee.Hive.Monitoring;
using Rbee.Hosting.Jobs;
using Rbee.Models;
using Rbee.Models.Downloads;
using Rbee.Models.Sources;

namespace Rbee.Hive.Jobs;

/// <summary>
/// The hive's model jobs: <c>model_download {source, name?}</c> (into the models directory, through
/// <see cref="ModelDownloads"/>), <c>model_list</c> (one row per catalog entry) and <c>model_delete {model}</c> (a file of the
/// models directory that no worker serves). What can be checked before anything runs is checked in the plan, so a bad
/// request is a 400.
/// </summary>
public sealed partial class ModelJobOperations(HiveModelCatalog catalog, ModelDownloads downloads, WorkerMonitor monitor, ILogger<ModelJobOperations> logger)
{
    public JobPlan PlanDownload(JsonElement request)
    {
        var source = JobFields.String(request, "source", out var e1);
        if (e1 is not null) return JobPlan.Invalid(e1, "source");
        if (string.IsNullOrWhiteSpace(source))
            return JobPlan.Invalid("'source' is required: org/repo:file.gguf, org/repo:Q4_K_M or an https://…/file.gguf URL", "source", "missing_field");
        if (!ModelReference.TryParse(source, out var reference, out var why)) return JobPlan.Invalid(why, "source", "invalid_source");
        var name = JobFields.String(request, "name", out var e2);
        if (e2 is not null) return JobPlan.Invalid(e2, "name");
        if (name is not null)
        {
            if (name.EndsWith(ModelFiles.Extension, StringComparison.OrdinalIgnoreCase)) name = name[..^ModelFiles.Extension.Length];
            if (DownloadTarget.NameProblem(name) is { } bad) return JobPlan.Invalid($"'name' {bad}", "name", "invalid_name");
        }
        else if (reference.DefaultId is { } id && DownloadTarget.NameProblem(id) is { } bad)
        {
            return JobPlan.Invalid($"the file name of {source} cannot be a model name here ({bad}); give 'name'", "name", "invalid_name");
        }
        return JobPlan.Run((job, ct) => DownloadAsync(job, source.Trim(), reference, name, ct));
    }

    private async Task DownloadAsync(Job job, string source, ModelReference reference, string? name, CancellationToken ct)
    {
        var downloader = downloads.Downloader;
        Uri url;
        string file;
        try { (url, file) = await downloader.ResolveAsync(reference, ct).ConfigureAwait(false); }
        catch (DownloadFailedException e) { throw new JobFailedException(e.Message, e); }
        // A file the hive has already, from another tool's store (the Hugging Face cache names the same repository file),
        // is not fetched again, unless the job asks for a copy under a name of its own.
        if (name is null && AlreadyListed(reference, url) is { Sha256: { } knownSha } known)
        {
            job.Narrate($"{source} is already on this hive as {known.Id} ({known.Source}: {known.Path}); nothing to download");
            job.Data(new ModelDownloaded(known.Id, downloads.HiveId, known.Path, knownSha, known.SizeBytes));
            return;
        }
        name ??= ModelFiles.IdOf(file);
        if (DownloadTarget.NameProblem(name) is { } bad) throw new JobFailedException($"the file {file} cannot be a model name here ({bad}); give 'name'");
        var target = new DownloadTarget(catalog.ModelsDirectory, name);
        job.Narrate($"downloading {source} ({url}) to {target.FinalPath}");
        var result = await downloads.FollowAsync(job, url, source, reference.Sha256, target, ct).ConfigureAwait(false);
        // A job that joined a download started without its digest checks it here.
        if (reference.Sha256 is { } expected && result.Sha256 != expected)
            throw new JobFailedException($"sha256 mismatch: expected {expected} (the digest given with #sha256=), got {result.Sha256} for {result.Path}; delete it (model_delete) to download again");
        job.Narrate(result.AlreadyPresent
            ? $"{name} was already on this hive: {result.Path}"
            : $"downloaded {name}: {result.Size} bytes, sha256 {result.Sha256}, at {result.Path}");
        job.Data(new ModelDownloaded(name, downloads.HiveId, result.Path, result.Sha256, result.Size));
    }

    /// <summary>The catalog entry of another tool's store whose origin is exactly this Hugging Face file (named, or picked
    /// for a quantisation: its path is the end of the resolve URL) at revision main (a cache file's origin is
    /// <c>org/repo:path</c>); null for anything else.</summary>
    private ModelInfo? AlreadyListed(ModelReference reference, Uri url)
    {
        if (reference is not HuggingFaceReference { Revision: HuggingFaceReference.DefaultRevision } hf) return null;
        const string Marker = "/resolve/" + HuggingFaceReference.DefaultRevision + "/";
        var at = url.AbsolutePath.IndexOf(Marker, StringComparison.Ordinal);
        if (at < 0) return null;
        var origin = $"{hf.RepoId}:{Uri.UnescapeDataString(url.AbsolutePath[(at + Marker.Length)..])}";
        return catalog.Snapshot.Models.FirstOrDefault(m => m.Source != ModelSources.ModelsDir && m.Origin == origin
            && (reference.Sha256 is null || m.Sha256 == reference.Sha256));
    }

    public JobPlan PlanList() => JobPlan.Run((job, ct) =>
    {
        var models = catalog.Snapshot.Models;
        job.Narrate(models.Count == 0 ? $"no models; put .gguf files in {catalog.ModelsDirectory} or download one with model_download" : $"{models.Count} model(s):");
        foreach (var m in models)
        {
            job.Narrate($"{m.Id} {m.SizeBytes} bytes {m.Quantization ?? "?"} ctx {Num(m.ContextLength)} from {m.Source}{(m.Origin is { } o ? $" ({o})" : "")} at {m.Path}");
            job.Data(m, RbeeJsonContext.Default.ModelInfo);
        }
        // Interrupted downloads are not models, but they hold disk space: say so, and how to free it.
        foreach (var part in PartialDownloads())
            job.Narrate($"interrupted download: {part.Name} ({part.Length} bytes in {part.FullName}); model_download resumes it, model_delete {{\"model\": \"{part.Name[..^".gguf.part".Length]}\"}} removes it");
        return Task.CompletedTask;
    });

    public JobPlan PlanDelete(JsonElement request)
    {
        var model = JobFields.String(request, "model", out var e1);
        if (e1 is not null) return JobPlan.Invalid(e1, "model");
        if (string.IsNullOrWhiteSpace(model)) return JobPlan.Invalid("'model' is required: a model id of this hive (see model_list)", "model", "missing_field");
        if (!catalog.Snapshot.TryGet(model, out _) && PartOf(model) is { } part) return PlanDeletePart(model, part);
        if (DeleteProblem(model, out _) is { } refused) return JobPlan.Invalid(refused.Message, "model", refused.Code);
        return JobPlan.Run((job, ct) =>
        {
            // Checked again: a worker may have started on it since the plan.
            if (DeleteProblem(model, out var current) is { } now) throw new JobFailedException(now.Message);
            var path = current!.Path;
            try { File.Delete(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new JobFailedException($"cannot delete {path}: {e.Message}", e); }
            ModelProvenance.Delete(path);
            catalog.Rescan();
            Log.Deleted(logger, model, path);
            job.Narrate($"deleted {model} ({path})");
            job.Data(new ModelDeleted(model, downloads.HiveId, path));
            return Task.CompletedTask;
        });
    }

    /// <summary>The interrupted download of <paramref name="model"/> in the models directory, when there is one.</summary>
    private DownloadTarget? PartOf(string model) =>
        DownloadTarget.NameProblem(model) is null && new DownloadTarget(catalog.ModelsDirectory, model) is var target && File.Exists(target.PartPath)
            ? target : null;

    /// <summary>An interrupted download is never listed; deleting it by its model name frees its space.</summary>
    private JobPlan PlanDeletePart(string model, DownloadTarget target)
    {
        if (downloads.IsRunning(target.FinalPath))
            return JobPlan.Invalid($"'{model}' is being downloaded now; cancel its download job first", "model", "model_in_use");
        return JobPlan.Run((job, ct) =>
        {
            if (downloads.IsRunning(target.FinalPath)) throw new JobFailedException($"'{model}' is being downloaded now; cancel its download job first");
            var bytes = new FileInfo(target.PartPath).Length;
            try
            {
                File.Delete(target.PartPath);
                File.Delete(target.PartStatePath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new JobFailedException($"cannot delete {target.PartPath}: {e.Message}", e); }
            Log.Deleted(logger, model, target.PartPath);
            job.Narrate($"deleted the interrupted download of {model} ({target.PartPath}, {bytes} bytes)");
            job.Data(new ModelDeleted(model, downloads.HiveId, target.PartPath));
            return Task.CompletedTask;
        });
    }

    /// <summary>Why <paramref name="model"/> may not be deleted now, or null: it must be listed, be a file of the models
    /// directory (rbee never deletes what other tools or the operator keep elsewhere) and be served by no worker.</summary>
    private (string Message, string Code)? DeleteProblem(string model, out ModelInfo? info)
    {
        if (!catalog.Snapshot.TryGet(model, out var found))
        {
            info = null;
            return ($"no model '{model}' on this hive (see model_list)", "model_not_found");
        }
        info = found;
        var owner = found.Source switch
        {
            ModelSources.ModelsDir => null,
            ModelSources.Ollama => $"it is in Ollama's store ({found.Origin ?? found.Path}); remove it with `ollama rm {model}`",
            ModelSources.HuggingFace => $"it is in the Hugging Face cache ({found.Path}); remove it with `huggingface-cli delete-cache`",
            _ => $"it is listed from the hive's Models:Paths ({found.Path}); remove the file or the setting yourself",
        };
        if (owner is not null) return ($"model '{model}' is not in this hive's models directory, so rbee does not delete it: {owner}", "model_not_owned");
        var full = Path.GetFullPath(found.Path);
        var users = monitor.Snapshot.Workers
            .Where(w => w.ModelId == model || (w.Model is { } p && Path.GetFullPath(p) == full))
            .ToList();
        if (users.Count > 0)
            return ($"model '{model}' is in use by {string.Join(", ", users.Select(w => $"worker {w.Key} (pid {(w.MainPid is { } pid ? pid.ToString(CultureInfo.InvariantCulture) : "?")}, port {w.Port})"))}; " +
                $"stop {(users.Count == 1 ? "it" : "them")} first (worker_stop {{\"port\": {users[0].Port}}})", "model_in_use");
        return null;
    }

    private List<FileInfo> PartialDownloads()
    {
        try
        {
            return new DirectoryInfo(catalog.ModelsDirectory).EnumerateFiles("*" + ModelFiles.Extension + ".part")
                .Where(f => !downloads.IsRunning(f.FullName[..^".part".Length])).OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static string Num(int? v) => v is { } n ? n.ToString(CultureInfo.InvariantCulture) : "?";

    private static partial class Log
    {
        [LoggerMessage(EventId = HiveEventIds.ModelDeleted, Level = LogLevel.Information, Message = "Model {Model} deleted: {Path}")]
        public static partial void Deleted(ILogger logger, string model, string path);
    }
}
