using System.Text.Json;

namespace Rbee.Worker.ChatTemplates;

/// <summary>Converts request JSON into the plain .NET values <see cref="ChatTemplate.Render(IReadOnlyDictionary{string, object?}, TimeProvider?)"/> takes.</summary>
public static class ChatTemplateValues
{
    /// <summary>
    /// JSON to Python-shaped values: objects to <c>Dictionary&lt;string, object?&gt;</c> in document order,
    /// arrays to <c>List&lt;object?&gt;</c>, integers to <c>long</c>, other numbers to <c>double</c>, null to null.
    /// </summary>
    public static object? FromJson(JsonElement element) => Py.FromJson(element);

    /// <summary>The members of a JSON object as template variables (e.g. a whole chat request's fields).</summary>
    public static IReadOnlyDictionary<string, object?> VariablesFromJson(JsonElement obj)
    {
        if (obj.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException($"template variables must be a JSON object, not {obj.ValueKind}", nameof(obj));
        }

        return (Dictionary<string, object?>)Py.FromJson(obj)!;
    }
}
