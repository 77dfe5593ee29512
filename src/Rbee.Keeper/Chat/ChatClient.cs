using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Rbee.Keeper.Connection;
using Rbee.Platform.Sse;

namespace Rbee.Keeper.Chat;

/// <summary>One message of a conversation, in OpenAI's roles (<c>user</c>, <c>assistant</c>, <c>system</c>).</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>A complete (or, when stopped, partial) answer, with where it was served when the queen said so.</summary>
public sealed record ChatAnswer(string Content, string? FinishReason, string? HiveId, string? WorkerUrl);

/// <summary>
/// <c>POST /v1/chat/completions</c> with <c>stream: true</c> through the queen: each piece of text to a callback as it
/// arrives, and the SSE comments the queen writes while the request waits (<c>: queued position=1</c>,
/// <c>: loading model on …</c>, <c>: pulling …</c>, docs/routing.md) to another, so a person sees what it is doing.
/// This is the OpenAI endpoint, not the control plane: it carries an API key (<c>RBEE_API_KEY</c>) when one is set,
/// never the cluster token, which the queen refuses there.
/// </summary>
public sealed class ChatClient : IDisposable
{
    /// <summary>The variable holding an API key of the queen's <c>Api:Keys</c>, for a queen that requires one.</summary>
    public const string ApiKeyVariable = "RBEE_API_KEY";

    private readonly HttpClient _client;
    private readonly string? _apiKey;

    public ChatClient(Uri queenUrl, string? apiKey)
    {
        QueenUrl = queenUrl;
        _apiKey = apiKey;
        _client = new HttpClient(new SocketsHttpHandler { ConnectTimeout = KeeperHttp.ConnectTimeout, UseProxy = false, AllowAutoRedirect = false })
        {
            // A cold start may take minutes; the queen's own MaxWait bounds the wait, and Ctrl-C the person's patience.
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public Uri QueenUrl { get; }

    public static ChatClient Create(Uri queenUrl, IReadOnlyList<KeyValuePair<string, string>> parameters) =>
        new(queenUrl, Environment.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } key ? key.Trim() : null) { Parameters = parameters };

    /// <summary><c>KEY=VALUE</c> words as pairs (the parser has checked that each has a key).</summary>
    public static List<KeyValuePair<string, string>> ParseParameters(IEnumerable<string> words) =>
        words.Select(w => new KeyValuePair<string, string>(w[..w.IndexOf('=')], w[(w.IndexOf('=') + 1)..])).ToList();

    /// <summary>Further fields of every request (<c>--param KEY=VALUE</c>): a value that parses as JSON is sent as that JSON.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Parameters { get; init; } = [];

    public async Task<ChatAnswer> StreamAsync(string model, IReadOnlyList<ChatMessage> messages, Action<string> onText, Action<string> onStatus, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(QueenUrl, "/v1/chat/completions"))
        {
            Content = new StringContent(Body(model, messages, Parameters), Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (_apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _apiKey);

        HttpResponseMessage response;
        try
        {
            response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException)
        {
            throw CliFailure.QueenUnreachable(QueenUrl);
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode) throw Refused(model, response.StatusCode, await response.Content.ReadAsStringAsync(ct));
            var hive = Header(response, "X-Rbee-Hive");
            var worker = Header(response, "X-Rbee-Worker");
            var text = new StringBuilder();
            string? finish = null;
            try
            {
                using var reader = new SseEventReader(await response.Content.ReadAsStreamAsync(ct),
                    comment => { if (comment.Trim() is { Length: > 0 } status) onStatus(status); });
                while (await reader.NextAsync(ct) is { } e)
                {
                    if (e.Data == "[DONE]") return new ChatAnswer(text.ToString(), finish, hive, worker);
                    if (e.Data.Trim().Length == 0) continue;
                    var (piece, reason) = ReadChunk(e.Data);
                    if (piece is { Length: > 0 })
                    {
                        text.Append(piece);
                        onText(piece);
                    }
                    finish = reason ?? finish;
                }
            }
            catch (HttpRequestException)
            {
                throw new CliFailure($"the answer was cut off: lost the queen at {CliFailure.Display(QueenUrl)}");
            }
            catch (IOException)
            {
                throw new CliFailure($"the answer was cut off: lost the queen at {CliFailure.Display(QueenUrl)}");
            }
            throw new CliFailure("the answer ended without its last line: the worker or the queen stopped mid-answer (`rbee ps`, `rbee status`)");
        }
    }

    /// <summary>One streamed chunk: the delta's text and the finish reason; an error frame is a failure.</summary>
    public static (string? Text, string? FinishReason) ReadChunk(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.TryGetProperty("error", out var error))
            throw new CliFailure("the answer failed: " + (error.TryGetProperty("message", out var m) ? m.GetString() : error.ToString()));
        if (!root.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array || choices.GetArrayLength() == 0) return (null, null);
        var choice = choices[0];
        string? text = null;
        if (choice.TryGetProperty("delta", out var delta) && delta.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            text = content.GetString();
        else if (choice.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String)
            text = t.GetString();
        var reason = choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
        return (text, reason);
    }

    /// <summary>An answer that never began, as one line that says what to do.</summary>
    public CliFailure Refused(string model, HttpStatusCode status, string body)
    {
        var error = QueenClient.ReadError(body);
        var message = error?.Message ?? $"status {(int)status}";
        return (status, error?.Code) switch
        {
            (HttpStatusCode.NotFound, _) => new CliFailure(
                $"model '{model}' is not on any hive ({message}): `rbee ls` lists the models, `rbee pull SOURCE --hive H` fetches one"),
            (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden, _) => new CliFailure(
                $"the queen at {CliFailure.Display(QueenUrl)} refused the request ({message}): set {ApiKeyVariable} to one of its API keys"),
            _ => new CliFailure(message),
        };
    }

    public static string Body(string model, IReadOnlyList<ChatMessage> messages, IReadOnlyList<KeyValuePair<string, string>> parameters)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model"u8, model);
            w.WriteStartArray("messages"u8);
            foreach (var m in messages)
            {
                w.WriteStartObject();
                w.WriteString("role"u8, m.Role);
                w.WriteString("content"u8, m.Content);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteBoolean("stream"u8, true);
            foreach (var (key, value) in parameters)
            {
                w.WritePropertyName(key);
                using var json = AsJson(value);
                if (json is not null) json.RootElement.WriteTo(w);
                else w.WriteStringValue(value);
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static JsonDocument? AsJson(string value)
    {
        try
        {
            return JsonDocument.Parse(value);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    public void Dispose() => _client.Dispose();
}
