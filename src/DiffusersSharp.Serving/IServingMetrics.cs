namespace DiffusersSharp.Serving;

/// <summary>
/// What the service counts, for the host to export (e.g. as Prometheus metrics). Every method has a no-op default,
/// so an implementation overrides only what it exports. Calls come from worker threads.
/// </summary>
public interface IServingMetrics
{
    /// <summary>A pipeline call ran <paramref name="jobs"/> jobs together.</summary>
    void BatchRun(string model, int jobs) { }

    /// <summary>A generation ran out of memory and is retried with attention slicing, VAE tiling and the batch split.</summary>
    void OutOfMemoryFallback(string model, int jobs) { }

    /// <summary>A job ended in <paramref name="state"/> after running for <paramref name="runTime"/> (zero when it never ran).</summary>
    void JobFinished(string model, JobState state, TimeSpan runTime) { }

    void ResultCacheHit() { }

    void ResultCacheMiss() { }

    /// <summary>A pipeline call found its model already loaded.</summary>
    void ModelCacheHit(string model) { }

    /// <summary>A model's pipelines were loaded, taking <paramref name="bytes"/> of parameters.</summary>
    void ModelLoaded(string model, long bytes, TimeSpan loadTime) { }

    /// <summary>A model was evicted from the pipeline cache to stay within the memory budget.</summary>
    void ModelEvicted(string model, long bytes) { }
}
