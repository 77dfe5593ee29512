using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Hosting.Security;

namespace Rbee.Hosting.Jobs;

/// <summary>
/// The operations one daemon runs as jobs. <see cref="Plan"/> checks a request on its face (known operation, fields
/// present and well-formed) and returns the work, or the reason it is refused, so that <c>POST /v1/jobs</c> answers
/// 400 at once for a bad request and 202 for one that may still fail while it runs (DESIGN.md "Wire contract").
/// </summary>
public interface IJobOperations
{
    JobPlan Plan(string operation, JsonElement request);

    /// <summary>
    /// The same, knowing who asked (<c>POST /v1/jobs</c> calls this one). A daemon that records who did what (the queen's
    /// audit log) implements it; the default ignores the caller (the hive, which keeps no audit log).
    /// </summary>
    JobPlan Plan(string operation, JsonElement request, ControlCaller caller) => Plan(operation, request);
}

/// <summary>Either the work to run or why the request is invalid (message, offending field, error code).</summary>
public readonly record struct JobPlan(JobWork? Work, string? Error, string? Param, string Code)
{
    public static JobPlan Run(JobWork work) => new(work, null, null, "");

    public static JobPlan Invalid(string message, string? param, string code = "invalid_job") => new(null, message, param, code);

    public static JobPlan UnknownOperation(string operation) =>
        Invalid($"unknown operation '{operation}'", "operation", "unknown_operation");
}

/// <summary>Reading fields of a job request with the checks every operation needs.</summary>
public static class JobFields
{
    /// <summary>A string field: absent → null, present but not a string → <paramref name="error"/> set.</summary>
    public static string? String(JsonElement request, string name, out string? error)
    {
        error = null;
        if (!request.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) { error = $"'{name}' must be a string"; return null; }
        if (!JsonText.TryGetString(v, out var text)) error = $"'{name}' {JsonText.NotText}";
        return text;
    }

    /// <summary>An integer field: absent → null, present but not an integer → <paramref name="error"/> set.</summary>
    public static int? Int(JsonElement request, string name, out string? error)
    {
        error = null;
        if (!request.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var i)) { error = $"'{name}' must be an integer"; return null; }
        return i;
    }

    /// <summary>A boolean field: absent → null, present but not a boolean → <paramref name="error"/> set.</summary>
    public static bool? Bool(JsonElement request, string name, out string? error)
    {
        error = null;
        if (!request.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) { error = $"'{name}' must be true or false"; return null; }
        return v.GetBoolean();
    }
}
