using System.Collections.Concurrent;

namespace DiffusersSharp.Serving.Tests.Support;

/// <summary>Records what the service reports.</summary>
internal sealed class RecordingMetrics : IServingMetrics
{
    public ConcurrentQueue<int> Batches { get; } = new();
    public ConcurrentQueue<string> Evicted { get; } = new();
    public ConcurrentQueue<JobState> Finished { get; } = new();
    private int _oom;
    private int _hits;

    public int OutOfMemoryFallbacks => Volatile.Read(ref _oom);
    public int CacheHits => Volatile.Read(ref _hits);

    public void BatchRun(string model, int jobs) => Batches.Enqueue(jobs);
    public void OutOfMemoryFallback(string model, int jobs) => Interlocked.Increment(ref _oom);
    public void ResultCacheHit() => Interlocked.Increment(ref _hits);
    public void ModelEvicted(string model, long bytes) => Evicted.Enqueue(model);
    public void JobFinished(string model, JobState state, TimeSpan runTime) => Finished.Enqueue(state);
}
