using static TorchSharp.torch;

namespace DiffusersSharp.Serving;

/// <summary>How the local service runs: where the models are, how pipelines are kept, the queue, workers and job store.</summary>
public sealed record ServingOptions
{
    /// <summary>The folder whose subfolders are the models requests may name (diffusers folders, and ControlNet model folders).</summary>
    public required string ModelsDirectory { get; init; }

    /// <summary>The model a request without <c>model</c> gets; loaded at start so the service is ready for it.</summary>
    public string? DefaultModel { get; init; }

    /// <summary>The dtype models are loaded in; null keeps float32 (diffusers' default).</summary>
    public ScalarType? DType { get; init; }

    /// <summary>The device models run on: <c>cpu</c>, <c>cuda</c>, <c>cuda:1</c>, …</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Jobs that may wait; a submission beyond gets <see cref="QueueFullException"/>.</summary>
    public int QueueCapacity { get; init; } = 64;

    /// <summary>
    /// Jobs running at once. One per device is the right number: libtorch already uses every core (or the whole GPU)
    /// for one generation, and one loaded model runs one generation (or one batch) at a time.
    /// </summary>
    public int WorkerCount { get; init; } = 1;

    /// <summary>Most jobs one pipeline call runs together (see <see cref="ResolvedRequest.BatchKey"/>); 1 turns batching off.</summary>
    public int MaxBatchSize { get; init; } = 4;

    /// <summary>How long a job may run before it fails as timed out; null for no limit.</summary>
    public TimeSpan? JobTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Loaded pipelines are evicted, least recently used first, while their parameters take more than this.</summary>
    public long MemoryBudgetBytes { get; init; } = 8L << 30;

    /// <summary>
    /// Bytes of PNGs the result cache keeps for requests with a seed (identical seeded requests give identical
    /// pictures); 0 turns it off. Requests without a seed are never cached.
    /// </summary>
    public long ResultCacheBytes { get; init; } = 256L << 20;

    /// <summary>The folder of the job store (SQLite database and result PNGs), which survives restarts; null keeps jobs in memory only.</summary>
    public string? StoreDirectory { get; init; }

    /// <summary>How long a finished job and its pictures are kept.</summary>
    public TimeSpan ResultRetention { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How often expired jobs are removed.</summary>
    public TimeSpan CleanupInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>On shutdown, how long running jobs may take to finish before they are stopped (and kept queued for the next start).</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The Retry-After a full queue suggests.</summary>
    public TimeSpan QueueFullRetryAfter { get; init; } = TimeSpan.FromSeconds(5);

    public ValidationLimits Limits { get; init; } = new();

    /// <summary>Where the service reports what a metrics endpoint shows; no-op by default.</summary>
    public IServingMetrics Metrics { get; init; } = NullServingMetrics.Instance;

    /// <summary>A hook called before every pipeline call, for tests that inject failures (e.g. out of memory).</summary>
    public IGenerationFaultInjector? FaultInjector { get; init; }

    /// <summary>The clock for job times and retention.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
