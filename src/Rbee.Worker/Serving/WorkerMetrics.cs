using Prometheus;

namespace Rbee.Worker.Serving;

/// <summary>
/// The worker's Prometheus metrics (<c>GET /metrics</c>). Its own registry, so tests that host several workers in
/// one process do not share counters. Every value is measured: tokens/s is set only after a request that
/// generated tokens in a measurable time.
/// </summary>
public sealed class WorkerMetrics
{
    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();
    private readonly Counter _promptTokens;
    private readonly Counter _generatedTokens;
    private readonly Gauge _tokensPerSecond;
    private readonly Gauge _promptTokensPerSecond;
    private readonly Gauge _queueDepth;
    private readonly Gauge _slotsBusy;
    private readonly Gauge _slotsTotal;
    private readonly Counter _requests;
    private readonly Histogram _batchSequences;
    private readonly Lock _poolGate = new();

    public WorkerMetrics()
    {
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        _promptTokens = f.CreateCounter("rbee_worker_prompt_tokens_total", "Prompt tokens evaluated (cached prefix not counted).");
        _generatedTokens = f.CreateCounter("rbee_worker_generated_tokens_total", "Tokens generated.");
        _tokensPerSecond = f.CreateGauge("rbee_worker_tokens_per_second", "Generation speed of the last finished request.");
        _promptTokensPerSecond = f.CreateGauge("rbee_worker_prompt_tokens_per_second", "Prompt processing speed of the last finished request.");
        _queueDepth = f.CreateGauge("rbee_worker_queue_depth", "Requests waiting for a slot.");
        _slotsBusy = f.CreateGauge("rbee_worker_slots_busy", "Slots running a request.");
        _slotsTotal = f.CreateGauge("rbee_worker_slots_total", "Slots (--parallel).");
        _requests = f.CreateCounter("rbee_worker_requests_total", "Inference requests by HTTP status.", "status");
        // Whether concurrent requests really share forward passes (continuous batching): a mean near 1 under load
        // means they take turns.
        _batchSequences = f.CreateHistogram("llm_worker_batch_sequences", "Sequences per forward pass of the inference loop.",
            new HistogramConfiguration { Buckets = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64] });
    }

    public void Watch(SlotPool pool)
    {
        _slotsTotal.Set(pool.Total);
        // Changed fires outside the pool's lock from several threads; reading and setting under one lock means
        // the last update to run read the pool after the last change, so a stale read cannot overwrite a newer one.
        void Update()
        {
            lock (_poolGate)
            {
                _slotsBusy.Set(pool.Busy);
                _queueDepth.Set(pool.QueueDepth);
            }
        }
        pool.Changed += Update;
        Update();
    }

    public void Finished(GenerationTimings t)
    {
        _promptTokens.Inc(t.PromptN);
        _generatedTokens.Inc(t.PredictedN);
        if (t.PredictedPerSecond is { } tps) _tokensPerSecond.Set(tps);
        if (t.PromptPerSecond is { } pps) _promptTokensPerSecond.Set(pps);
    }

    /// <summary>One forward pass of the inference loop ran <paramref name="sequences"/> sequences.</summary>
    public void BatchSequences(int sequences) => _batchSequences.Observe(sequences);

    public void Request(int status) => _requests.WithLabels(status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
}
