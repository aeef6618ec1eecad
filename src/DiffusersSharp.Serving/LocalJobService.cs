using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DiffusersSharp.Serving;

/// <summary>
/// The single-process job service: validates and accepts jobs into a bounded queue, runs them on
/// <see cref="ServingOptions.WorkerCount"/> workers (batching compatible ones up to
/// <see cref="ServingOptions.MaxBatchSize"/>), keeps jobs and pictures in a job store that survives restarts, answers
/// seeded repeats from the result cache, and removes finished jobs after their retention time. Call
/// <see cref="StartAsync"/> before submitting and <see cref="StopAsync"/> (or dispose) to drain.
/// </summary>
public sealed class LocalJobService : IJobService, IAsyncDisposable
{
    private readonly ServingOptions _options;
    private readonly ILogger _logger;
    private readonly IServingMetrics _metrics;
    private readonly PipelineManager _manager;
    private readonly GenerationExecutor _executor;
    private readonly bool _ownsManager;
    private readonly IJobStore _store;
    private readonly IJobQueue _queue;
    private readonly IResultCache? _cache;
    private readonly TimeProvider _clock;
    private readonly JobEventHub _events = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, LiveJob> _live = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _submitLock = new(1, 1);
    private readonly CancellationTokenSource _stopTaking = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly List<Task> _workers = [];
    private Task _cleanup = Task.CompletedTask;
    private volatile bool _ready;
    private int _started;
    private int _stopped;

    /// <param name="manager">
    /// Pipelines to run on; the service makes (and disposes) its own when null. Its validation limits and models folder
    /// apply; this service's options give the queue, workers, store, cache, metrics and fault injector.
    /// </param>
    /// <param name="store">Where jobs are kept; by default SQLite under <see cref="ServingOptions.StoreDirectory"/>, or memory without one.</param>
    /// <param name="queue">The queue; by default an in-process one of <see cref="ServingOptions.QueueCapacity"/>.</param>
    /// <param name="cache">The result cache; by default in memory with <see cref="ServingOptions.ResultCacheBytes"/> (none when 0).</param>
    public LocalJobService(ServingOptions options, ILoggerFactory? loggerFactory = null, PipelineManager? manager = null,
        IJobStore? store = null, IJobQueue? queue = null, IResultCache? cache = null)
    {
        _options = options;
        loggerFactory ??= NullLoggerFactory.Instance;
        _logger = loggerFactory.CreateLogger<LocalJobService>();
        _metrics = options.Metrics;
        _clock = options.TimeProvider;
        _ownsManager = manager is null;
        _manager = manager ?? new PipelineManager(options, loggerFactory);
        _executor = new GenerationExecutor(_manager, options, loggerFactory.CreateLogger<GenerationExecutor>());
        _store = store ?? (options.StoreDirectory is { } dir ? new SqliteJobStore(dir) : new InMemoryJobStore());
        _queue = queue ?? new LocalJobQueue(options.QueueCapacity);
        _cache = cache ?? (options.ResultCacheBytes > 0 ? new MemoryResultCache(options.ResultCacheBytes) : null);
    }

    public PipelineManager Manager => _manager;

    public int QueueDepth => _queue.Count;

    public bool IsReady => _ready;

    /// <summary>Resumes the jobs the store holds unfinished (queued, or running when the last process stopped), loads the default model, and starts the workers.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("The service was already started.");
        foreach (var job in await _store.ListUnfinishedAsync(cancellationToken).ConfigureAwait(false))
            await ResumeAsync(job, cancellationToken).ConfigureAwait(false);
        if (_options.DefaultModel is { } model) await _manager.PreloadAsync(model, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < Math.Max(1, _options.WorkerCount); i++)
            _workers.Add(Task.Run(WorkAsync, CancellationToken.None));
        _cleanup = Task.Run(CleanUpPeriodicallyAsync, CancellationToken.None);
        _ready = true;
        _logger.LogInformation("Job service ready: {Workers} worker(s), {Queued} job(s) resumed", _workers.Count, _queue.Count);
    }

    private async Task ResumeAsync(StoredJob job, CancellationToken cancellationToken)
    {
        var info = job.Info with { State = JobState.Queued, StartedAt = null, Step = 0 };
        ResolvedRequest resolved;
        try
        {
            resolved = _manager.Validator.Validate(job.Request);
        }
        catch (RequestValidationException e)
        {
            await _store.UpdateAsync(info with { State = JobState.Failed, FinishedAt = _clock.GetUtcNow(), Error = e.Message }, cancellationToken).ConfigureAwait(false);
            return;
        }
        await _store.UpdateAsync(info, cancellationToken).ConfigureAwait(false);
        _live[info.Id] = new LiveJob(info, resolved);
        _queue.TryEnqueue(new QueuedJob(info.Id, resolved.BatchKey), ignoreCapacity: true);
    }

    public async Task<JobInfo> SubmitAsync(GenerationRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ThrowIfNotAccepting();
        var resolved = _manager.Validator.Validate(request);
        await _submitLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfNotAccepting();
            if (idempotencyKey is not null && await _store.FindByIdempotencyKeyAsync(idempotencyKey, cancellationToken).ConfigureAwait(false) is { } existing)
                return Current(existing.Info);
            var now = _clock.GetUtcNow();
            var info = new JobInfo
            {
                Id = Guid.NewGuid().ToString("N"),
                State = JobState.Queued,
                CreatedAt = now,
                TotalSteps = resolved.TotalSteps,
                Seed = resolved.Seed,
            };
            if (resolved.CacheKey is { } key && _cache is not null)
            {
                if (_cache.TryGet(key, out var images))
                {
                    _metrics.ResultCacheHit();
                    var done = info with { State = JobState.Succeeded, FinishedAt = now, StartedAt = now, Step = info.TotalSteps, ImageCount = images.Count, Cached = true };
                    await _store.AddAsync(new StoredJob(done, request, idempotencyKey), cancellationToken).ConfigureAwait(false);
                    await _store.SaveImagesAsync(done.Id, images, cancellationToken).ConfigureAwait(false);
                    _metrics.JobFinished(resolved.Model.Name, JobState.Succeeded, TimeSpan.Zero);
                    return done;
                }
                _metrics.ResultCacheMiss();
            }
            if (_queue.Count >= _queue.Capacity) throw new QueueFullException(_queue.Capacity, _options.QueueFullRetryAfter);
            await _store.AddAsync(new StoredJob(info, request, idempotencyKey), cancellationToken).ConfigureAwait(false);
            _live[info.Id] = new LiveJob(info, resolved);
            if (!_queue.TryEnqueue(new QueuedJob(info.Id, resolved.BatchKey)))
            {
                await FinishAsync(_live[info.Id], info with { State = JobState.Failed, FinishedAt = now, Error = "The job queue was full." }).ConfigureAwait(false);
                throw new QueueFullException(_queue.Capacity, _options.QueueFullRetryAfter);
            }
            _events.Publish(new JobEvent("queued", info));
            return info;
        }
        finally
        {
            _submitLock.Release();
        }
    }

    private void ThrowIfNotAccepting()
    {
        if (!_ready)
            throw new ServiceUnavailableException(Volatile.Read(ref _stopped) != 0
                ? "The service is shutting down and takes no new jobs."
                : "The service is starting and takes no jobs yet.");
    }

    public async Task<JobResult> GenerateAsync(GenerationRequest request, IProgress<JobEvent>? progress = null, CancellationToken cancellationToken = default)
    {
        var info = await SubmitAsync(request, null, cancellationToken).ConfigureAwait(false);
        var final = info;
        using (cancellationToken.Register(() => _ = CancelAsync(info.Id, CancellationToken.None)))
        {
            await foreach (var e in WatchAsync(info.Id, CancellationToken.None).ConfigureAwait(false))
            {
                progress?.Report(e);
                final = e.Job;
            }
        }
        switch (final.State)
        {
            case JobState.Succeeded:
                var images = new List<byte[]>();
                for (var i = 0; i < final.ImageCount; i++)
                    images.Add(await _store.GetImageAsync(final.Id, i, CancellationToken.None).ConfigureAwait(false)
                               ?? throw new GenerationFailedException($"Picture {i} of job {final.Id} is gone.", final));
                return new JobResult(final, images);
            case JobState.Cancelled when cancellationToken.IsCancellationRequested:
                throw new OperationCanceledException(cancellationToken);
            case JobState.Queued or JobState.Running:
                throw new ServiceUnavailableException($"The service stopped before job {final.Id} finished; it stays queued for the next start.");
            default:
                throw new GenerationFailedException(final.Error ?? $"Job {final.Id} was {final.State.ToString().ToLowerInvariant()}.", final);
        }
    }

    public async Task<JobInfo?> GetAsync(string id, CancellationToken cancellationToken = default) =>
        _live.TryGetValue(id, out var job) ? job.Info : (await _store.GetAsync(id, cancellationToken).ConfigureAwait(false))?.Info;

    private JobInfo Current(JobInfo stored) => _live.TryGetValue(stored.Id, out var job) ? job.Info : stored;

    public async IAsyncEnumerable<JobEvent> WatchAsync(string id, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = _events.Subscribe(id);
        try
        {
            var info = await GetAsync(id, cancellationToken).ConfigureAwait(false);
            if (info is null) yield break;
            yield return JobEvent.Of(info);
            if (info.State.IsFinal()) yield break;
            await foreach (var e in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return e;
                if (e.Job.State.IsFinal()) yield break;
            }
        }
        finally
        {
            _events.Unsubscribe(id, channel);
        }
    }

    public Task<byte[]?> GetImageAsync(string id, int index, CancellationToken cancellationToken = default) => _store.GetImageAsync(id, index, cancellationToken);

    public async Task<bool> CancelAsync(string id, CancellationToken cancellationToken = default)
    {
        if (!_live.TryGetValue(id, out var job)) return false;
        bool removed;
        lock (job.Lock)
        {
            if (job.Info.State.IsFinal() || job.CancelRequested) return false;
            job.CancelRequested = true;
            removed = job.Info.State == JobState.Queued && _queue.TryRemove(id);
            job.Running?.Cancel();
        }
        // A queued job is finished here; a job a worker has taken finishes there, within one denoising step.
        if (removed) await FinishAsync(job, job.Info with { State = JobState.Cancelled, FinishedAt = _clock.GetUtcNow() }).ConfigureAwait(false);
        return true;
    }

    private async Task WorkAsync()
    {
        while (!_stopTaking.IsCancellationRequested)
        {
            IReadOnlyList<QueuedJob> batch;
            try
            {
                batch = await _queue.DequeueBatchAsync(Math.Max(1, _options.MaxBatchSize), _stopTaking.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            try
            {
                await RunAsync(batch).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Each job's failure is recorded in RunAsync; this is the store failing, and the worker goes on.
                _logger.LogError(e, "A worker failed recording jobs {Jobs}", string.Join(", ", batch.Select(j => j.Id)));
            }
        }
    }

    private async Task RunAsync(IReadOnlyList<QueuedJob> batch)
    {
        var jobs = new List<LiveJob>();
        foreach (var queued in batch)
        {
            if (!_live.TryGetValue(queued.Id, out var job)) continue;
            JobInfo started;
            lock (job.Lock)
            {
                if (job.CancelRequested) started = job.Info with { State = JobState.Cancelled, FinishedAt = _clock.GetUtcNow() };
                else
                {
                    job.Running = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token);
                    if (_options.JobTimeout is { } timeout) job.Running.CancelAfter(timeout);
                    job.Info = started = job.Info with { State = JobState.Running, StartedAt = _clock.GetUtcNow() };
                }
            }
            if (started.State == JobState.Cancelled)
            {
                await FinishAsync(job, started).ConfigureAwait(false);
                continue;
            }
            await _store.UpdateAsync(started).ConfigureAwait(false);
            _events.Publish(new JobEvent("started", started));
            jobs.Add(job);
        }
        if (jobs.Count == 0) return;

        // The call stops when every job in it was cancelled; one job cancelled in a batch just loses its pictures.
        using var all = new CancellationTokenSource();
        var remaining = jobs.Count;
        var registrations = jobs.Select(j => j.Running!.Token.Register(() =>
        {
            if (Interlocked.Decrement(ref remaining) == 0) all.Cancel();
        })).ToArray();
        IReadOnlyList<GenerationOutcome>? outcomes = null;
        Exception? failure = null;
        try
        {
            var items = jobs.Select(j => new GenerationItem(j.Request, new StepReporter(this, j))).ToArray();
            outcomes = await _executor.RunBatchAsync(items, all.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (all.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Jobs {Jobs} failed", string.Join(", ", jobs.Select(j => j.Info.Id)));
            failure = e;
        }
        finally
        {
            foreach (var registration in registrations) registration.Dispose();
        }
        for (var i = 0; i < jobs.Count; i++)
            await CompleteAsync(jobs[i], outcomes?[i], failure).ConfigureAwait(false);
    }

    private async Task CompleteAsync(LiveJob job, GenerationOutcome? outcome, Exception? failure)
    {
        var now = _clock.GetUtcNow();
        var info = job.Info;
        if (job.Running!.IsCancellationRequested)
        {
            if (job.CancelRequested)
                await FinishAsync(job, info with { State = JobState.Cancelled, FinishedAt = now }).ConfigureAwait(false);
            else if (_abort.IsCancellationRequested)
            {
                // Stopped by shutdown: the job goes back to the queue in the store, for the next start.
                var requeued = info with { State = JobState.Queued, StartedAt = null, Step = 0 };
                await _store.UpdateAsync(requeued).ConfigureAwait(false);
                _live.TryRemove(info.Id, out _);
            }
            else
                await FinishAsync(job, info with
                {
                    State = JobState.Failed, FinishedAt = now,
                    Error = GenerationFailedException.TimedOut(_options.JobTimeout!.Value),
                }).ConfigureAwait(false);
        }
        else if (outcome?.Output is { } output)
        {
            await _store.SaveImagesAsync(info.Id, output.Images).ConfigureAwait(false);
            if (job.Request.CacheKey is { } key) _cache?.Add(key, output.Images);
            await FinishAsync(job, info with { State = JobState.Succeeded, FinishedAt = now, ImageCount = output.Images.Count, Seed = output.Seed }).ConfigureAwait(false);
        }
        else
            await FinishAsync(job, info with { State = JobState.Failed, FinishedAt = now, Error = (outcome?.Error ?? failure)?.Message ?? "The job failed." }).ConfigureAwait(false);
        job.Running.Dispose();
    }

    private async Task FinishAsync(LiveJob job, JobInfo final)
    {
        lock (job.Lock) job.Info = final;
        await _store.UpdateAsync(final).ConfigureAwait(false);
        _live.TryRemove(final.Id, out _);
        _events.Publish(JobEvent.Of(final));
        _metrics.JobFinished(job.Request.Model.Name, final.State, final.StartedAt is { } s && final.FinishedAt is { } f ? f - s : TimeSpan.Zero);
    }

    private void ReportStep(LiveJob job, GenerationProgress progress)
    {
        JobInfo info;
        lock (job.Lock)
        {
            if (job.Info.State != JobState.Running) return;
            job.Info = info = job.Info with { Step = progress.Step, TotalSteps = progress.TotalSteps };
        }
        _events.Publish(new JobEvent("step", info));
    }

    /// <summary>Removes jobs that finished longer than <see cref="ServingOptions.ResultRetention"/> ago, with their pictures; returns how many.</summary>
    public async Task<int> RemoveExpiredAsync(CancellationToken cancellationToken = default)
    {
        var removed = await _store.DeleteFinishedBeforeAsync(_clock.GetUtcNow() - _options.ResultRetention, cancellationToken).ConfigureAwait(false);
        if (removed > 0) _logger.LogInformation("Removed {Count} expired job(s)", removed);
        return removed;
    }

    private async Task CleanUpPeriodicallyAsync()
    {
        using var timer = new PeriodicTimer(_options.CleanupInterval, _clock);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopTaking.Token).ConfigureAwait(false))
            {
                try
                {
                    await RemoveExpiredAsync(_stopTaking.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _logger.LogError(e, "Removing expired jobs failed");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Stops taking jobs (<see cref="IsReady"/> turns false, submissions get <see cref="ServiceUnavailableException"/>),
    /// lets running jobs finish within <see cref="ServingOptions.DrainTimeout"/>, then stops the rest, which stay
    /// queued in the store with every job not yet started, for the next start.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        _ready = false;
        await _submitLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        _submitLock.Release();
        _stopTaking.Cancel();
        var workers = Task.WhenAll(_workers);
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        drain.CancelAfter(_options.DrainTimeout);
        try
        {
            await workers.WaitAsync(drain.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _logger.LogWarning("Running jobs did not finish within {Seconds} s; stopping them (they stay queued)", _options.DrainTimeout.TotalSeconds);
            _abort.Cancel();
            await workers.ConfigureAwait(false);
        }
        await _cleanup.ConfigureAwait(false);
        _events.CompleteAll();
        _logger.LogInformation("Job service stopped; {Queued} job(s) stay queued", _queue.Count);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _store.Dispose();
        if (_ownsManager) _manager.Dispose();
        _stopTaking.Dispose();
        _abort.Dispose();
        _submitLock.Dispose();
    }

    private sealed class StepReporter(LocalJobService service, LiveJob job) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => service.ReportStep(job, value);
    }
}
