using System.Text.Json;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Worker.Sampling;

namespace Rbee.Worker.Serving;

/// <summary>A request refused before it runs, answered in OpenAI's error shape with this status.</summary>
public sealed class RequestException(int status, string message, string code, string? param = null,
    string type = ErrorTypes.InvalidRequest) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public string? Param { get; } = param;
    public string Type { get; } = type;

    public ErrorResponse ToError() => ErrorResponse.Of(Message, Type, Code, Param);

    public static RequestException Invalid(string message, string? param, string code = "invalid_value") =>
        new(StatusCodes.Status400BadRequest, message, code, param);
}

public enum EndpointKind { Completion, Chat }

/// <summary>The prompt of a legacy completion: text or token ids, as OpenAI allows.</summary>
public sealed record PromptInput(string? Text, int[]? Tokens);

/// <summary>An OpenAI completion or chat request read and checked field by field; tokenizing comes later.</summary>
public sealed record OpenAiRequest
{
    public required EndpointKind Kind { get; init; }
    public string? Model { get; init; }
    public PromptInput? Prompt { get; init; }
    public IReadOnlyList<ChatTurn>? Messages { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public SamplingParameters Sampling { get; init; } = SamplingParameters.Default;
    public int? MaxTokens { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public bool IgnoreEos { get; init; }

    public const int MaxStopStrings = 16;

    /// <summary>The roles of OpenAI's chat API (<c>developer</c> is the newer name of <c>system</c>; <c>function</c> the
    /// older of <c>tool</c>). Anything else is refused rather than handed to a chat template that may render it as
    /// text the model was never trained on.</summary>
    public static readonly IReadOnlySet<string> Roles = new SortedSet<string>(StringComparer.Ordinal)
        { "system", "developer", "user", "assistant", "tool", "function" };

    /// <summary>Reads a request body. Throws <see cref="RequestException"/> with the offending field as
    /// <c>param</c>; unknown fields are ignored, as OpenAI-compatible servers do.</summary>
    public static OpenAiRequest Parse(JsonElement root, EndpointKind kind)
    {
        if (root.ValueKind != JsonValueKind.Object) throw RequestException.Invalid("the request body must be a JSON object", null, "invalid_json");
        var model = OptString(root, "model");
        PromptInput? prompt = null;
        IReadOnlyList<ChatTurn>? messages = null;
        if (kind == EndpointKind.Completion) prompt = ReadPrompt(root);
        else messages = ReadMessages(root);

        if (OptInt(root, "n", 1, 128) is { } n && n != 1)
            throw RequestException.Invalid("only n = 1 is supported", "n", "unsupported_value");

        var includeUsage = false;
        if (root.TryGetProperty("stream_options", out var so) && so.ValueKind != JsonValueKind.Null)
        {
            if (so.ValueKind != JsonValueKind.Object) throw RequestException.Invalid("stream_options must be an object", "stream_options");
            includeUsage = OptBool(so, "include_usage", "stream_options.include_usage") ?? false;
        }

        var d = SamplingParameters.Default;
        var sampling = new SamplingParameters
        {
            Temperature = OptFloat(root, "temperature", 0, 100) ?? d.Temperature,
            TopK = OptInt(root, "top_k", 0, int.MaxValue) ?? d.TopK,
            TopP = OptFloat(root, "top_p", 0, 1) ?? d.TopP,
            MinP = OptFloat(root, "min_p", 0, 1) ?? d.MinP,
            RepeatPenalty = OptFloat(root, "repeat_penalty", 0.0001f, 100) ?? d.RepeatPenalty,
            RepeatLastN = OptInt(root, "repeat_last_n", -1, int.MaxValue) ?? d.RepeatLastN,
            FrequencyPenalty = OptFloat(root, "frequency_penalty", -2, 2) ?? d.FrequencyPenalty,
            PresencePenalty = OptFloat(root, "presence_penalty", -2, 2) ?? d.PresencePenalty,
            Seed = OptSeed(root),
        };

        // max_completion_tokens is the chat API's newer name; n_predict is llama.cpp's (-1: no limit).
        var maxTokens = OptInt(root, "max_completion_tokens", 0, int.MaxValue)
            ?? OptInt(root, "max_tokens", 0, int.MaxValue);
        if (maxTokens is null && OptInt(root, "n_predict", -1, int.MaxValue) is { } np && np >= 0) maxTokens = np;

        return new OpenAiRequest
        {
            Kind = kind,
            Model = model,
            Prompt = prompt,
            Messages = messages,
            Stream = OptBool(root, "stream", "stream") ?? false,
            IncludeUsage = includeUsage,
            Sampling = sampling,
            MaxTokens = maxTokens,
            Stop = ReadStop(root),
            IgnoreEos = OptBool(root, "ignore_eos", "ignore_eos") ?? false,
        };
    }

    private static PromptInput ReadPrompt(JsonElement root)
    {
        if (!root.TryGetProperty("prompt", out var p) || p.ValueKind == JsonValueKind.Null)
            throw RequestException.Invalid("'prompt' is required", "prompt", "missing_required_parameter");
        switch (p.ValueKind)
        {
            case JsonValueKind.String:
                return new PromptInput(Text(p, "prompt"), null);
            case JsonValueKind.Array:
                var len = p.GetArrayLength();
                if (len == 0) throw RequestException.Invalid("'prompt' must not be empty", "prompt");
                var first = p[0];
                if (first.ValueKind == JsonValueKind.String)
                {
                    if (len > 1) throw RequestException.Invalid("only one prompt per request is supported", "prompt", "unsupported_value");
                    return new PromptInput(Text(first, "prompt"), null);
                }
                if (first.ValueKind == JsonValueKind.Number) return new PromptInput(null, Tokens(p));
                if (first.ValueKind == JsonValueKind.Array)
                {
                    if (len > 1) throw RequestException.Invalid("only one prompt per request is supported", "prompt", "unsupported_value");
                    return new PromptInput(null, Tokens(first));
                }
                break;
        }
        throw RequestException.Invalid("'prompt' must be a string, an array of one string, or an array of token ids", "prompt");
    }

    private static int[] Tokens(JsonElement array)
    {
        var tokens = new int[array.GetArrayLength()];
        var i = 0;
        foreach (var t in array.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.Number || !t.TryGetInt32(out var id) || id < 0)
                throw RequestException.Invalid("token ids in 'prompt' must be non-negative integers", "prompt");
            tokens[i++] = id;
        }
        if (tokens.Length == 0) throw RequestException.Invalid("'prompt' must not be empty", "prompt");
        return tokens;
    }

    private static List<ChatTurn> ReadMessages(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out var m) || m.ValueKind == JsonValueKind.Null)
            throw RequestException.Invalid("'messages' is required", "messages", "missing_required_parameter");
        if (m.ValueKind != JsonValueKind.Array) throw RequestException.Invalid("'messages' must be an array", "messages");
        if (m.GetArrayLength() == 0) throw RequestException.Invalid("'messages' must not be empty", "messages");
        var turns = new List<ChatTurn>();
        var i = 0;
        foreach (var msg in m.EnumerateArray())
        {
            var at = $"messages[{i++}]";
            if (msg.ValueKind != JsonValueKind.Object) throw RequestException.Invalid($"{at} must be an object", at);
            var role = OptString(msg, "role", at + ".role");
            if (string.IsNullOrEmpty(role)) throw RequestException.Invalid($"{at}.role is required", at + ".role", "missing_required_parameter");
            if (!Roles.Contains(role))
                throw RequestException.Invalid($"{at}.role '{role}' is not a chat role (one of {string.Join(", ", Roles)})", at + ".role");
            turns.Add(new ChatTurn(role, ReadContent(msg, at)));
        }
        return turns;
    }

    /// <summary>Content is a string or, in the newer API, an array of parts of which the text parts count.</summary>
    private static string ReadContent(JsonElement msg, string at)
    {
        if (!msg.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null) return "";
        if (c.ValueKind == JsonValueKind.String) return Text(c, at + ".content");
        if (c.ValueKind != JsonValueKind.Array) throw RequestException.Invalid($"{at}.content must be a string or an array of parts", at + ".content");
        var sb = new System.Text.StringBuilder();
        foreach (var part in c.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || OptString(part, "type", at + ".content") != "text")
                throw RequestException.Invalid("only text content parts are supported", at + ".content", "unsupported_value");
            sb.Append(OptString(part, "text", at + ".content") ?? "");
        }
        return sb.ToString();
    }

    private static IReadOnlyList<string> ReadStop(JsonElement root)
    {
        if (!root.TryGetProperty("stop", out var s) || s.ValueKind == JsonValueKind.Null) return [];
        if (s.ValueKind == JsonValueKind.String) return [Text(s, "stop")];
        if (s.ValueKind != JsonValueKind.Array) throw RequestException.Invalid("'stop' must be a string or an array of strings", "stop");
        if (s.GetArrayLength() > MaxStopStrings) throw RequestException.Invalid($"at most {MaxStopStrings} stop strings", "stop");
        var list = new List<string>();
        foreach (var e in s.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String) throw RequestException.Invalid("'stop' must be a string or an array of strings", "stop");
            list.Add(Text(e, "stop"));
        }
        return list;
    }

    private static string? OptString(JsonElement o, string name, string? param = null)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw RequestException.Invalid($"'{name}' must be a string", param ?? name);
        return Text(v, param ?? name);
    }

    /// <summary>A string value the client sent; one whose bytes are not text is refused naming <paramref name="param"/>
    /// (the parser accepts such a document and only the conversion fails).</summary>
    private static string Text(JsonElement v, string param) =>
        JsonText.TryGetString(v, out var text) ? text
            : throw RequestException.Invalid($"'{param}' {JsonText.NotText}", param, "invalid_encoding");

    private static bool? OptBool(JsonElement o, string name, string param)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw RequestException.Invalid($"'{name}' must be a boolean", param),
        };
    }

    private static int? OptInt(JsonElement o, string name, int min, int max)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var l))
            throw RequestException.Invalid($"'{name}' must be an integer", name);
        if (l < min || l > max) throw RequestException.Invalid($"'{name}' must be between {min} and {max}", name);
        return (int)l;
    }

    private static float? OptFloat(JsonElement o, string name, float min, float max)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number) throw RequestException.Invalid($"'{name}' must be a number", name);
        var d = v.GetDouble();
        if (double.IsNaN(d) || d < min || d > max) throw RequestException.Invalid($"'{name}' must be between {min} and {max}", name);
        return (float)d;
    }

    private static ulong? OptSeed(JsonElement o)
    {
        if (!o.TryGetProperty("seed", out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (v.TryGetInt64(out var l)) return l == -1 ? null : unchecked((ulong)l); // -1: random, as in llama.cpp
            if (v.TryGetUInt64(out var u)) return u;
        }
        throw RequestException.Invalid("'seed' must be an integer", "seed");
    }
}
