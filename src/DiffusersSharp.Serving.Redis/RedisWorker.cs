using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace DiffusersSharp.Serving.Redis;

/// <summary>
/// Takes jobs from the cluster's queue one at a time and runs them: first any job abandoned by a worker that stopped
/// (claimed once it has been idle for <see cref="RedisServingOptions.ClaimIdleTime"/>), else the next new one. While
/// a job runs, its queue entry is renewed every heartbeat so no other worker takes it; its pictures are stored before
/// the entry is acknowledged; one running past <see cref="RedisServingOptions.JobTimeout"/> fails as timed out. While
/// Redis is unreachable the worker pauses and resumes once it is back; a job finished meanwhile waits for Redis to be
/// stored.
/// </summary>
public sealed class RedisWorker
{
    private readonly RedisJobStore _store;
    private readonly IJobExecutor _executor;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Lock _gate = new();
    private (string JobId, CancellationTokenSource Cts)? _current;
    private long _completed;
    private long _failed;
    private long _claimed;
    private volatile bool _paused;

    public RedisWorker(RedisJobStore store, IJobExecutor executor, string? name = null, ILogger? logger = null)
    {
        _store = store;
        _executor = executor;
        _logger = logger ?? NullLogger.Instance;
        Name = name ?? $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";
    }

    /// <summary>This worker's consumer name in the group; unique per process run.</summary>
    public string Name { get; }

    public long JobsCompleted => Interlocked.Read(ref _completed);

    public long JobsFailed => Interlocked.Read(ref _failed);

    /// <summary>Abandoned jobs this worker took over.</summary>
    public long JobsClaimed => Interlocked.Read(ref _claimed);

    /// <summary>True while Redis is unreachable and the worker waits for it.</summary>
    public bool IsPaused => _paused;

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled; a job running then is handed back to the queue.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await UntilAvailableAsync(SubscribeAsync, cancellationToken).ConfigureAwait(false);
        using var heartbeatStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var heartbeat = HeartbeatLoopAsync(heartbeatStop.Token);
        var claimEvery = TimeSpan.FromMilliseconds(Math.Min(_store.Options.ClaimIdleTime.TotalMilliseconds / 2, _store.Options.PollInterval.TotalMilliseconds));
        var nextClaimCheck = DateTime.UtcNow;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    QueueEntry? entry = null;
                    if (DateTime.UtcNow >= nextClaimCheck)
                    {
                        entry = await _store.ClaimAbandonedAsync(Name).ConfigureAwait(false);
                        nextClaimCheck = DateTime.UtcNow + claimEvery;
                        if (entry is not null)
                        {
                            Interlocked.Increment(ref _claimed);
                            _logger.LogWarning("Worker {Worker} took over job {Job}, abandoned by a worker that stopped.", Name, entry.JobId);
                        }
                    }
                    entry ??= await _store.ReadNewAsync(Name).ConfigureAwait(false);
                    SetPaused(false);
                    if (entry is null)
                        await _wake.WaitAsync(_store.Options.PollInterval, cancellationToken).ConfigureAwait(false);
                    else
                        await RunJobAsync(entry, cancellationToken).ConfigureAwait(false);
                }
                catch (ServiceUnavailableException e)
                {
                    SetPaused(true, e.Message);
                    await Task.Delay(_store.Options.PollInterval, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            await heartbeatStop.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
            try
            {
                await _store.RemoveWorkerAsync(Name).ConfigureAwait(false);
            }
            catch (ServiceUnavailableException)
            {
                // Its heartbeat key expires by itself.
            }
        }
    }

    private async Task RunJobAsync(QueueEntry entry, CancellationToken stopping)
    {
        var start = await _store.StartAsync(entry, Name).ConfigureAwait(false);
        if (!start.Run) return;
        var attempt = start.Attempt;
        _logger.LogInformation("Job {Job} started on worker {Worker} (attempt {Attempt})", entry.JobId, Name, attempt);
        using var deadline = new CancellationTokenSource();
        if (_store.Options.JobTimeout is { } timeout && timeout > TimeSpan.Zero) deadline.CancelAfter(timeout);
        using var jobCts = CancellationTokenSource.CreateLinkedTokenSource(stopping, deadline.Token);
        lock (_gate) _current = (entry.JobId, jobCts);
        var renew = RenewLoopAsync(entry, attempt, jobCts);
        IReadOnlyList<byte[]> images;
        var cached = false;
        try
        {
            var request = JsonSerializer.Deserialize<GenerationRequest>(start.RequestJson!)
                ?? throw new InvalidDataException("The job's request in Redis is empty.");
            if (start.CacheKey is not null && await _store.Cache.GetAsync(start.CacheKey).ConfigureAwait(false) is { } hit)
            {
                images = hit;
                cached = true;
            }
            else
            {
                images = await _executor.ExecuteAsync(request, new StepReporter(_store, entry.JobId, attempt), jobCts.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Handed back: another worker takes it once the entry has been idle for the claim time.
            await TryAsync(() => _store.ReleaseAsync(entry, attempt)).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            await FailAsync(GenerationFailedException.TimedOut(_store.Options.JobTimeout!.Value)).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException)
        {
            // Cancelled by a client, or taken over by another worker: settle the entry if the job has ended.
            await TryAsync(() => _store.FinishAsync(entry, attempt, JobState.Cancelled, 0, null, "redis", false)).ConfigureAwait(false);
            return;
        }
        catch (Exception e) when (e is not ServiceUnavailableException)
        {
            await FailAsync(e.Message).ConfigureAwait(false);
            return;
        }
        finally
        {
            lock (_gate) _current = null;
            await jobCts.CancelAsync().ConfigureAwait(false);
            await renew.ConfigureAwait(false);
        }

        var store = await PersistAsync(() => _store.StoreImagesAsync(entry.JobId, images), stopping).ConfigureAwait(false);
        var ended = await PersistAsync(() => _store.FinishAsync(entry, attempt, JobState.Succeeded, images.Count, null, store, cached), stopping).ConfigureAwait(false);
        if (!ended) return;
        Interlocked.Increment(ref _completed);
        _logger.LogInformation("Job {Job} succeeded on worker {Worker} ({Count} picture(s){Cached})", entry.JobId, Name, images.Count, cached ? ", from the cache" : "");
        if (!cached && start.CacheKey is not null)
            await TryAsync(() => _store.Cache.PutAsync(start.CacheKey, images)).ConfigureAwait(false);

        async Task FailAsync(string error)
        {
            _logger.LogWarning("Job {Job} failed on worker {Worker}: {Error}", entry.JobId, Name, error);
            Interlocked.Increment(ref _failed);
            await PersistAsync(() => _store.FinishAsync(entry, attempt, JobState.Failed, 0, error, "redis", false), stopping).ConfigureAwait(false);
        }
    }

    /// <summary>Renews the running attempt every heartbeat; stops the job when it no longer runs (cancelled or taken over).</summary>
    private async Task RenewLoopAsync(QueueEntry entry, long attempt, CancellationTokenSource job)
    {
        try
        {
            while (!job.IsCancellationRequested)
            {
                await Task.Delay(_store.Options.HeartbeatInterval, job.Token).ConfigureAwait(false);
                try
                {
                    if (!await _store.RenewAsync(entry, attempt, Name).ConfigureAwait(false))
                    {
                        await job.CancelAsync().ConfigureAwait(false);
                        return;
                    }
                }
                catch (ServiceUnavailableException)
                {
                    // The job goes on; its entry is renewed once Redis is back.
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The job ended.
        }
    }

    private async Task HeartbeatLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                string? job;
                lock (_gate) job = _current?.JobId;
                try
                {
                    await _store.HeartbeatAsync(Name, job).ConfigureAwait(false);
                }
                catch (ServiceUnavailableException e)
                {
                    SetPaused(true, e.Message);
                }
                await Task.Delay(_store.Options.HeartbeatInterval, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private async Task SubscribeAsync()
    {
        await _store.Guard(_ => _store.Subscriber.SubscribeAsync(_store.Keys.Wake, (_, _) => Wake())).ConfigureAwait(false);
        await _store.Guard(_ => _store.Subscriber.SubscribeAsync(_store.Keys.Cancel, (_, id) => CancelIfCurrent(id))).ConfigureAwait(false);
        await _store.EnsureGroupAsync().ConfigureAwait(false);
    }

    private void Wake()
    {
        lock (_gate)
        {
            if (_wake.CurrentCount == 0) _wake.Release();
        }
    }

    private void CancelIfCurrent(RedisValue id)
    {
        lock (_gate)
        {
            if (_current is { } current && current.JobId == (string?)id) current.Cts.Cancel();
        }
    }

    /// <summary>Retries an operation while Redis is unreachable (the worker pauses), until it succeeds or the worker stops.</summary>
    private async Task<T> PersistAsync<T>(Func<Task<T>> operation, CancellationToken stopping)
    {
        while (true)
        {
            try
            {
                var result = await operation().ConfigureAwait(false);
                SetPaused(false);
                return result;
            }
            catch (ServiceUnavailableException e)
            {
                SetPaused(true, e.Message);
                await Task.Delay(_store.Options.PollInterval, stopping).ConfigureAwait(false);
            }
        }
    }

    private Task UntilAvailableAsync(Func<Task> operation, CancellationToken stopping) =>
        PersistAsync(async () => { await operation().ConfigureAwait(false); return true; }, stopping);

    private static async Task TryAsync(Func<Task> operation)
    {
        try
        {
            await operation().ConfigureAwait(false);
        }
        catch (ServiceUnavailableException)
        {
            // Best effort: the entry stays pending and is settled by whoever takes it next.
        }
    }

    private void SetPaused(bool paused, string? reason = null)
    {
        if (_paused == paused) return;
        _paused = paused;
        if (paused) _logger.LogWarning("Worker {Worker} paused: {Reason}", Name, reason);
        else _logger.LogInformation("Worker {Worker} resumed: Redis is reachable again.", Name);
    }
}
