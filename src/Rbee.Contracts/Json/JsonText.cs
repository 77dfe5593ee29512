using System.Diagnostics.CodeAnalysis;
using System.Text.Json;

namespace Rbee.Contracts.Json;

/// <summary>
/// Reading a JSON string value as .NET text when it may not be text at all. System.Text.Json accepts a document whose
/// strings hold invalid UTF-8 or an escaped lone surrogate (<c>"\ud800"</c>), and throws only when such a value is
/// turned into a string: every reader of a client's field asks here, so such a value is a 400 naming the field, never a
/// 500 (issue 12 §4).
/// </summary>
public static class JsonText
{
    /// <summary>The end of a message naming the field: <c>$"'{field}' {JsonText.NotText}"</c>.</summary>
    public const string NotText = "is not valid Unicode text (invalid UTF-8, or a lone surrogate such as \\ud800)";

    /// <summary>The value of a string element; false when its bytes are not valid text.</summary>
    public static bool TryGetString(JsonElement value, [NotNullWhen(true)] out string? text)
    {
        try
        {
            text = value.GetString()!;
            return true;
        }
        catch (InvalidOperationException) when (value.ValueKind == JsonValueKind.String)
        {
            text = null;
            return false;
        }
    }

    /// <summary>The value of the reader's current string token; false when its bytes are not valid text.</summary>
    public static bool TryGetString(ref Utf8JsonReader reader, [NotNullWhen(true)] out string? text)
    {
        try
        {
            text = reader.GetString()!;
            return true;
        }
        catch (InvalidOperationException) when (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName)
        {
            text = null;
            return false;
        }
    }
}
