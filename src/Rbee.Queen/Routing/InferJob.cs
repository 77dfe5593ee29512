using System.Buffers;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Rbee.Contracts.Json;
using Rbee.Contracts.Wire;
using Rbee.Hosting.Jobs;
using Rbee.Platform.Sse;
using Rbee.Queen.Scheduling;
using Rbee.Queen.Telemetry;

namespace Rbee.Queen.Routing;

/// <summary>
/// The queen job <c>infer {model, messages | prompt, max_tokens, …}</c> (DESIGN.md "Jobs"): one inference request through
/// the same scheduling as the OpenAI endpoints, for the CLI and the dashboard, which hold the cluster token rather than an
/// API key. Its stream narrates the wait (queue position, cold start, placement), then carries each piece of text as
/// <c>{"event":"token","text":…}</c> and ends with <c>{"event":"done","finish_reason":…,"usage":…}</c>; any other field
/// of the request (temperature, stop…) goes to the worker as it is.
/// </summary>
public sealed class InferJob(InferencePipeline pipeline, WorkerForwarder forwarder, ClusterEventHub events, TimeProvider time, ILoggerFactory loggers,
    Telemetry.QueenMetrics metrics)
{
    /// <param name="caller">Who posted the job: a cold start or pull it causes is audited as theirs.</param>
    public JobPlan Plan(JsonElement request, Audit.Actor caller)
    {
        var model = JobFields.String(request, "model", out var error);
        if (error is not null) return JobPlan.Invalid(error, "model");
        if (string.IsNullOrWhiteSpace(model)) return JobPlan.Invalid("'model' is required (see GET /v1/models)", "model", "missing_field");
        var hasMessages = request.TryGetProperty("messages", out var messages) && messages.ValueKind != JsonValueKind.Null;
        var hasPrompt = request.TryGetProperty("prompt", out var prompt) && prompt.ValueKind != JsonValueKind.Null;
        if (hasMessages == hasPrompt)
            return JobPlan.Invalid("give exactly one of 'messages' (a chat) or 'prompt' (a completion)", hasMessages ? "prompt" : "messages", "missing_field");
        if (hasMessages && messages.ValueKind != JsonValueKind.Array) return JobPlan.Invalid("'messages' must be an array", "messages");
        if (hasPrompt && prompt.ValueKind is not (JsonValueKind.String or JsonValueKind.Array)) return JobPlan.Invalid("'prompt' must be a string or an array", "prompt");

        var path = hasMessages ? "/v1/chat/completions" : "/v1/completions";
        var body = WorkerBody(request);
        return JobPlan.Run(async (job, ct) =>
        {
            var requestId = "job-" + job.Id;
            var timeline = new RequestTimeline(events, time, loggers.CreateLogger("Rbee.Queen.Requests"), requestId, JobOperations.Infer, metrics)
            {
                Model = model,
                Stream = true,
            };
            timeline.Received();
            var client = new JobClient(job, forwarder, path, body, requestId, model);
            await pipeline.RunAsync(model, client, timeline, caller, ct).ConfigureAwait(false);
            if (client.Failure is { } failure) throw new JobFailedException(failure);
        });
    }

    /// <summary>The request as the worker gets it: every field but the job's own, streamed, with usage at the end.</summary>
    private static byte[] WorkerBody(JsonElement request)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var p in request.EnumerateObject())
            {
                if (p.NameEquals("operation") || p.NameEquals("stream") || p.NameEquals("stream_options")) continue;
                p.WriteTo(w);
            }
            w.WriteBoolean("stream", true);
            w.WriteStartObject("stream_options");
            w.WriteBoolean("include_usage", true);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private sealed class JobClient(Job job, WorkerForwarder forwarder, string path, byte[] body, string requestId, string model) : IInferenceClient
    {
        public string? Failure { get; private set; }

        public bool Streaming => true;

        public ValueTask WaitingLongAsync(CancellationToken ct) => ValueTask.CompletedTask;

        private string? _lastLine;

        public ValueTask ProgressAsync(string line, CancellationToken ct)
        {
            // The pipeline repeats its last line now and then to keep a waiting HTTP stream alive; a job's log keeps it once.
            if (line != _lastLine) job.Narrate(line);
            _lastLine = line;
            return ValueTask.CompletedTask;
        }

        public Task<HttpResponseMessage> SendAsync(WorkerLease lease, CancellationToken ct)
        {
            // Served by another name of the model (tiny → tiny:latest, an alias): the worker answers only to its own id.
            if (lease.Model != model) (model, body) = (lease.Model, InferenceBody.WithModel(body, lease.Model));
            return forwarder.SendAsync(lease.Url, path, body, requestId, ct, forwarder.KeyOf(lease));
        }

        public async ValueTask<Delivery> DeliverAsync(HttpResponseMessage upstream, WorkerLease lease, RequestTimeline timeline, WorkerDeadline deadline)
        {
            var ct = deadline.Token;
            if ((int)upstream.StatusCode >= 300)
            {
                Failure = $"worker {lease.Url} answered {(int)upstream.StatusCode}: {await InferencePipeline.ErrorTextAsync(upstream, ct).ConfigureAwait(false)}";
                return Delivery.Ok;
            }
            string? finish = null;
            TokenUsage? usage = null;
            var any = false;
            var finished = false;
            try
            {
                using var reader = new SseEventReader(await upstream.Content.ReadAsStreamAsync(ct).ConfigureAwait(false));
                while (await reader.NextAsync(ct).ConfigureAwait(false) is { } e)
                {
                    deadline.Extend();
                    if (!any)
                    {
                        any = true;
                        timeline.FirstByte();
                    }
                    if (e.Data == "[DONE]")
                    {
                        finished = true;
                        break;
                    }
                    using var doc = JsonDocument.Parse(e.Data);
                    var root = doc.RootElement;
                    if (root.TryGetProperty("error", out var error))
                    {
                        Failure = error.TryGetProperty("message", out var m) ? m.GetString() : error.GetRawText();
                        return Delivery.Ok;
                    }
                    if (root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object) usage = UsageOf(u) ?? usage;
                    if (!root.TryGetProperty("choices", out var choices) || choices.GetArrayLength() == 0) continue;
                    var choice = choices[0];
                    var text = choice.TryGetProperty("delta", out var delta)
                        ? delta.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null
                        : choice.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                    if (!string.IsNullOrEmpty(text)) job.Data(new InferToken(text));
                    if (choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String) finish = f.GetString();
                }
            }
            catch (Exception e) when (e is JsonException || HttpInferenceClient.IsWorkerFault(e, deadline))
            {
                var why = HttpInferenceClient.Why(e, deadline);
                if (!any) return new Delivery(DeliveryOutcome.FailedBeforeFirstByte, why);
                Failure = $"worker {lease.Url} failed mid-answer: {why}";
                return new Delivery(DeliveryOutcome.FailedAfterFirstByte, why);
            }
            if (!finished)
            {
                // A worker that stops (SIGTERM cancels its requests) closes the stream without [DONE]: the answer is cut
                // short, which the job must say rather than end as if it were whole.
                const string why = "the worker closed the stream before the end of the answer";
                if (!any) return new Delivery(DeliveryOutcome.FailedBeforeFirstByte, why);
                Failure = $"worker {lease.Url} failed mid-answer: {why}";
                return new Delivery(DeliveryOutcome.FailedAfterFirstByte, why);
            }
            job.Data(new InferDone(lease.HiveId, lease.Url, finish) { Usage = usage });
            return Delivery.Ok;
        }

        public ValueTask FailAsync(int status, ErrorResponse error, int? retryAfterSeconds, CancellationToken ct)
        {
            Failure = retryAfterSeconds is { } s ? $"{error.Error.Message} (retry after {s} s)" : error.Error.Message;
            return ValueTask.CompletedTask;
        }

        /// <summary>The worker's token counts; a usage object that is not OpenAI's shape is left out of the job's answer
        /// rather than failing an answer that was delivered whole.</summary>
        private static TokenUsage? UsageOf(JsonElement usage)
        {
            try { return usage.Deserialize(RbeeJsonContext.Default.TokenUsage); }
            catch (JsonException) { return null; }
        }
    }
}
