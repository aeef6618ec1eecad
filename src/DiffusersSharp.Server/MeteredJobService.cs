using System.Collections.Concurrent;
using System.Diagnostics;
using DiffusersSharp.Serving;
using Microsoft.Extensions.Logging;

namespace DiffusersSharp.Server;

/// <summary>
/// Wraps the job service the HTTP layer uses to measure what only a job's events show: jobs in progress, time
/// queued and the duration of each denoising step, by pipeline; requests refused before a job exists (invalid, queue full) are
/// counted too. Works over any <see cref="IJobService"/>, local or remote.
/// </summary>
internal sealed class MeteredJobService : IJobService, IDisposable
{
    private readonly IJobService _inner;
    private readonly ServerMetrics _metrics;
    private readonly string _defaultModel;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, byte> _watched = new();

    public MeteredJobService(IJobService inner, ServerMetrics metrics, ServedModels served, ILogger<MeteredJobService> logger)
    {
        _inner = inner;
        _metrics = metrics;
        _defaultModel = served.DefaultModel;
        _logger = logger;
        metrics.Registry.AddBeforeCollectCallback(() => metrics.QueueDepth.Set(inner.QueueDepth));
    }

    public int QueueDepth => _inner.QueueDepth;
    public bool IsReady => _inner.IsReady;

    public async Task<JobInfo> SubmitAsync(GenerationRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        var job = await Refusals(request, () => _inner.SubmitAsync(request, idempotencyKey, cancellationToken));
        if (job.State is JobState.Queued or JobState.Running && _watched.TryAdd(job.Id, 0))
            _ = Task.Run(() => WatchInBackground(job.Id, Pipeline(request)), CancellationToken.None);
        return job;
    }

    public Task<JobResult> GenerateAsync(GenerationRequest request, IProgress<JobEvent>? progress = null, CancellationToken cancellationToken = default)
    {
        var meter = new StepMeter(_metrics, Pipeline(request), progress);
        return Refusals(request, async () =>
        {
            try
            {
                return await _inner.GenerateAsync(request, meter, cancellationToken);
            }
            finally
            {
                meter.End();
            }
        });
    }

    public Task<JobInfo?> GetAsync(string id, CancellationToken cancellationToken = default) => _inner.GetAsync(id, cancellationToken);

    public IAsyncEnumerable<JobEvent> WatchAsync(string id, CancellationToken cancellationToken = default) => _inner.WatchAsync(id, cancellationToken);

    public Task<byte[]?> GetImageAsync(string id, int index, CancellationToken cancellationToken = default) => _inner.GetImageAsync(id, index, cancellationToken);

    public Task<bool> CancelAsync(string id, CancellationToken cancellationToken = default) => _inner.CancelAsync(id, cancellationToken);

    /// <summary>Stops the background watchers; safe to call twice (the container disposes it under both its registrations).</summary>
    public void Dispose()
    {
        if (!_stop.IsCancellationRequested) _stop.Cancel();
    }

    private string Pipeline(GenerationRequest request) => request.Model ?? _defaultModel;

    private async Task<T> Refusals<T>(GenerationRequest request, Func<Task<T>> run)
    {
        try
        {
            return await run();
        }
        catch (RequestValidationException)
        {
            _metrics.Requests.WithLabels(Pipeline(request), "invalid").Inc();
            throw;
        }
        catch (QueueFullException)
        {
            _metrics.Requests.WithLabels(Pipeline(request), "queue_full").Inc();
            throw;
        }
    }

    private async Task WatchInBackground(string id, string pipeline)
    {
        var meter = new StepMeter(_metrics, pipeline, null);
        try
        {
            await foreach (var e in _inner.WatchAsync(id, _stop.Token))
                meter.Report(e);
        }
        catch (Exception e) when (_stop.IsCancellationRequested || e is ObjectDisposedException)
        {
            // Shutting down: the container may dispose the job backend (its Redis connection) before this watcher sees the stop.
            _logger.LogDebug(e, "Stopped measuring job {JobId} at shutdown", id);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Stopped measuring job {JobId}", id);
        }
        finally
        {
            meter.End();
            _watched.TryRemove(id, out _);
        }
    }

    /// <summary>Turns one job's events into the in-progress gauge and step durations, passing them on.</summary>
    private sealed class StepMeter(ServerMetrics metrics, string pipeline, IProgress<JobEvent>? next) : IProgress<JobEvent>
    {
        private long _lastStep;
        private int _running;

        public void Report(JobEvent value)
        {
            var now = Stopwatch.GetTimestamp();
            if (value.Job.State == JobState.Running && Interlocked.CompareExchange(ref _running, 1, 0) == 0)
            {
                metrics.JobsInProgress.Inc();
                Volatile.Write(ref _lastStep, now);
                if (value.Job.StartedAt is { } started) metrics.QueueWait.Observe(Math.Max(0, (started - value.Job.CreatedAt).TotalSeconds));
            }
            if (value.Type == "step" && Volatile.Read(ref _running) == 1)
            {
                var last = Interlocked.Exchange(ref _lastStep, now);
                if (value.Job.Step > 0) metrics.StepDuration.WithLabels(pipeline).Observe(Stopwatch.GetElapsedTime(last, now).TotalSeconds);
            }
            if (value.Job.State.IsFinal()) End();
            next?.Report(value);
        }

        public void End()
        {
            if (Interlocked.CompareExchange(ref _running, 2, 1) == 1) metrics.JobsInProgress.Dec();
        }
    }
}
