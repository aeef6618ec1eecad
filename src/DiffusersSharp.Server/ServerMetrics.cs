using DiffusersSharp.Serving;
using Prometheus;

namespace DiffusersSharp.Server;

/// <summary>
/// The service's Prometheus metrics, in a registry of its own (so two servers in one process keep separate counts),
/// with .NET process metrics registered alongside. The serving library reports into it through <see cref="IServingMetrics"/>.
/// </summary>
public sealed class ServerMetrics : IServingMetrics
{
    private static readonly double[] DurationBuckets = Histogram.ExponentialBuckets(0.005, 2, 16);

    public ServerMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        var factory = Metrics.WithCustomRegistry(Registry);
        Requests = factory.CreateCounter("diffuse_requests_total", "Generation requests by pipeline (model) and outcome.", "pipeline", "status");
        GenerationDuration = factory.CreateHistogram("diffuse_generation_duration_seconds", "Time from a job's start to its pictures, by pipeline.",
            new HistogramConfiguration { LabelNames = ["pipeline"], Buckets = DurationBuckets });
        StepDuration = factory.CreateHistogram("diffuse_step_duration_seconds", "Duration of one denoising step, by pipeline.",
            new HistogramConfiguration { LabelNames = ["pipeline"], Buckets = DurationBuckets });
        QueueWait = factory.CreateHistogram("diffuse_queue_wait_seconds", "Time jobs waited in the queue.",
            new HistogramConfiguration { Buckets = DurationBuckets });
        QueueDepth = factory.CreateGauge("diffuse_queue_depth", "Jobs waiting in the queue.");
        JobsInProgress = factory.CreateGauge("diffuse_jobs_in_progress", "Jobs being generated now.");
        ModelCacheHits = factory.CreateCounter("diffuse_model_cache_hits_total", "Requests whose model was already loaded.");
        ModelCacheMisses = factory.CreateCounter("diffuse_model_cache_misses_total", "Requests that had to load their model.");
        ModelCacheEvictions = factory.CreateCounter("diffuse_model_cache_evictions_total", "Models unloaded to make room.");
        ModelCacheBytes = factory.CreateGauge("diffuse_model_cache_bytes", "Bytes of weights held by loaded models.");
        ResultCacheHits = factory.CreateCounter("diffuse_result_cache_hits_total", "Requests answered from the result cache.");
        MemoryFallbacks = factory.CreateCounter("diffuse_memory_fallbacks_total", "Generations retried with less memory after running out (attention slicing, VAE tiling, split batch), by pipeline.", "pipeline");
        ModelLoadDuration = factory.CreateHistogram("diffuse_model_load_duration_seconds", "Time to load a model's weights.",
            new HistogramConfiguration { Buckets = DurationBuckets });
        BatchSize = factory.CreateHistogram("diffuse_batch_size", "Jobs run together in one pipeline call.",
            new HistogramConfiguration { Buckets = [1, 2, 3, 4, 6, 8, 12, 16] });
    }

    public CollectorRegistry Registry { get; }
    public Counter Requests { get; }
    public Histogram GenerationDuration { get; }
    public Histogram StepDuration { get; }
    public Histogram QueueWait { get; }
    public Gauge QueueDepth { get; }
    public Gauge JobsInProgress { get; }
    public Counter ModelCacheHits { get; }
    public Counter ModelCacheMisses { get; }
    public Counter ModelCacheEvictions { get; }
    public Gauge ModelCacheBytes { get; }
    public Counter ResultCacheHits { get; }
    public Counter MemoryFallbacks { get; }
    public Histogram ModelLoadDuration { get; }
    public Histogram BatchSize { get; }

    void IServingMetrics.BatchRun(string model, int jobs) => BatchSize.Observe(jobs);

    void IServingMetrics.OutOfMemoryFallback(string model, int jobs) => MemoryFallbacks.WithLabels(model).Inc();

    void IServingMetrics.JobFinished(string model, JobState state, TimeSpan runTime)
    {
        Requests.WithLabels(model, state.ToString().ToLowerInvariant()).Inc();
        if (state == JobState.Succeeded && runTime > TimeSpan.Zero) GenerationDuration.WithLabels(model).Observe(runTime.TotalSeconds);
    }

    void IServingMetrics.ResultCacheHit() => ResultCacheHits.Inc();

    void IServingMetrics.ModelCacheHit(string model) => ModelCacheHits.Inc();

    void IServingMetrics.ModelLoaded(string model, long bytes, TimeSpan loadTime)
    {
        ModelCacheMisses.Inc();
        ModelCacheBytes.Inc(bytes);
        ModelLoadDuration.Observe(loadTime.TotalSeconds);
    }

    void IServingMetrics.ModelEvicted(string model, long bytes)
    {
        ModelCacheEvictions.Inc();
        ModelCacheBytes.Dec(bytes);
    }
}
