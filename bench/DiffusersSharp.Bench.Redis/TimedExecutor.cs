using System.Collections.Concurrent;
using System.Diagnostics;
using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Redis;

namespace DiffusersSharp.Bench.Redis;

/// <summary>Times each job's own run on the worker, so a job's latency splits into its run and the queue's part.</summary>
internal sealed class TimedExecutor(IJobExecutor inner) : IJobExecutor
{
    private readonly ConcurrentQueue<double> _runs = new();

    /// <summary>Takes the run time of the one job that finished since the last call.</summary>
    public double TakeOnly() => _runs.TryDequeue(out var ms) && _runs.IsEmpty ? ms : throw new InvalidOperationException("Expected exactly one timed run.");

    public async Task<IReadOnlyList<byte[]>> ExecuteAsync(GenerationRequest request, IProgress<GenerationProgress> progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var images = await inner.ExecuteAsync(request, progress, cancellationToken).ConfigureAwait(false);
        _runs.Enqueue(clock.Elapsed.TotalMilliseconds);
        return images;
    }
}
