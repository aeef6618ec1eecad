using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;

namespace DiffusersSharp.Serving.Redis;

/// <summary>
/// The job service of an API node in a Redis cluster: jobs go to the shared queue, state and events come from Redis,
/// so any node answers for any job. Runs no jobs itself (see <see cref="RedisWorker"/>). While Redis is unreachable
/// every call throws <see cref="ServiceUnavailableException"/>; it works again as soon as Redis is back.
/// </summary>
public sealed class RedisJobService : IJobService, IAsyncDisposable
{
    /// <summary>How often a watcher re-reads the job when no event came, to cover events lost while Redis was away.</summary>
    private static readonly TimeSpan ResyncInterval = TimeSpan.FromSeconds(2);

    private readonly RedisJobStore _store;
    private readonly Func<GenerationRequest, AcceptedRequest>? _validate;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _statsLoop;
    private RedisClusterStats? _stats;
    private int _disposed;

    /// <param name="store">The node's Redis connection (the caller keeps ownership).</param>
    /// <param name="validate">Checks a request before it is queued, throwing <see cref="RequestValidationException"/>
    /// (<see cref="AcceptedRequest.From"/>); without it, requests are taken as they are and the cache key is a hash of the request.</param>
    public RedisJobService(RedisJobStore store, Func<GenerationRequest, AcceptedRequest>? validate = null)
    {
        _store = store;
        _validate = validate;
        _statsLoop = RefreshStatsAsync(_stop.Token);
    }

    public RedisJobStore Store => _store;

    /// <summary>The last cluster figures read from Redis (refreshed every second), or null before the first read.</summary>
    public RedisClusterStats? Stats => Volatile.Read(ref _stats);

    public int QueueDepth => Stats?.Waiting ?? 0;

    public bool IsReady => _store.IsConnected && !_stop.IsCancellationRequested;

    /// <summary>Why <see cref="IsReady"/> is false, for <c>/readyz</c>.</summary>
    public string NotReadyReason => _stop.IsCancellationRequested
        ? "The node is stopping."
        : $"Redis at {_store.Endpoint} is unreachable; this node takes no jobs until it is back.";

    public async Task<JobInfo> SubmitAsync(GenerationRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var accepted = _validate?.Invoke(request) ?? new AcceptedRequest(RequestFingerprint(request), request.NumInferenceSteps ?? 0);
        if (idempotencyKey is { Length: 0 or > 200 })
            throw new RequestValidationException("idempotency_key", "must be 1 to 200 characters.");
        // Without a seed the pictures are not reproducible; one is drawn now so that a job run again after a
        // worker died gives the same picture. Only requests that name their seed are cacheable.
        var cacheKey = _store.Cache.Enabled ? accepted.CacheKey : null;
        var seeded = request with { Seed = request.Seed ?? Random.Shared.NextInt64(0, 1L << 53), Model = accepted.Model ?? request.Model };
        var json = JsonSerializer.Serialize(seeded);
        var totalSteps = accepted.TotalSteps;

        for (var tries = 0; ; tries++)
        {
            var id = Guid.NewGuid().ToString("N");
            string jobId;
            if (cacheKey is not null && await _store.Cache.GetAsync(cacheKey).ConfigureAwait(false) is { } images)
            {
                jobId = await _store.SubmitCachedAsync(id, json, idempotencyKey, images, totalSteps, seeded.Seed!.Value).ConfigureAwait(false);
            }
            else
            {
                var result = await _store.SubmitAsync(id, json, idempotencyKey, cacheKey, totalSteps, seeded.Seed!.Value).ConfigureAwait(false);
                if (result.Outcome < 0)
                    throw new QueueFullException(_store.Options.MaxQueueLength, _store.Options.RetryAfter);
                jobId = result.Outcome == 0 ? result.Value : id;
            }
            if (await _store.GetJobAsync(jobId).ConfigureAwait(false) is { } job) return job;
            // A repeated idempotency key whose job has expired: forget the key and submit afresh, once.
            if (tries > 0 || idempotencyKey is null)
                throw new InvalidOperationException($"Job {jobId} vanished from Redis right after it was submitted.");
            await _store.Guard(db => db.KeyDeleteAsync(_store.Keys.Idempotency(idempotencyKey))).ConfigureAwait(false);
        }
    }

    public async Task<JobResult> GenerateAsync(GenerationRequest request, IProgress<JobEvent>? progress = null, CancellationToken cancellationToken = default)
    {
        var job = await SubmitAsync(request, null, cancellationToken).ConfigureAwait(false);
        try
        {
            await foreach (var e in WatchAsync(job.Id, cancellationToken).ConfigureAwait(false))
            {
                progress?.Report(e);
                job = e.Job;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await CancelAsync(job.Id, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        // As the single-process service: pictures for a job that succeeded, GenerationFailedException otherwise.
        if (job.State != JobState.Succeeded)
            throw new GenerationFailedException(job.Error ?? $"Job {job.Id} was {JobHash.StateName(job.State)}.", job);
        var images = new List<byte[]>(job.ImageCount);
        for (var i = 0; i < job.ImageCount; i++)
            images.Add(await GetImageAsync(job.Id, i, cancellationToken).ConfigureAwait(false)
                ?? throw new GenerationFailedException($"Picture {i} of job {job.Id} is gone.", job));
        return new JobResult(job, images);
    }

    public Task<JobInfo?> GetAsync(string id, CancellationToken cancellationToken = default) => _store.GetJobAsync(id);

    public async IAsyncEnumerable<JobEvent> WatchAsync(string id, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Subscribed before the job is read, so no event falls between; events already in the snapshot are skipped by sequence number.
        var queue = await _store.Guard(_ => _store.Subscriber.SubscribeAsync(_store.Keys.Events(id))).ConfigureAwait(false);
        try
        {
            var (job, seq) = await _store.GetJobWithSeqAsync(id).ConfigureAwait(false);
            if (job is null) yield break;
            yield return JobEvent.Of(job);
            if (job.State.IsFinal()) yield break;
            while (true)
            {
                var message = await ReadAsync(queue, cancellationToken).ConfigureAwait(false);
                JobEvent? next = null;
                if (message is { } json)
                {
                    if (JobHash.ParseEvent(id, json) is { } parsed && parsed.Seq > seq)
                        (seq, next) = (parsed.Seq, parsed.Event);
                }
                else if (await ResyncAsync(id).ConfigureAwait(false) is { } snapshot)
                {
                    if (snapshot.Job is null) yield break;
                    if (snapshot.Seq > seq)
                        (seq, next) = (snapshot.Seq, JobEvent.Of(snapshot.Job));
                }
                if (next is null) continue;
                yield return next;
                if (next.Job.State.IsFinal()) yield break;
            }
        }
        finally
        {
            try
            {
                await queue.UnsubscribeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (RedisJobStore.IsUnavailable(e))
            {
                // The subscription ended with the connection.
            }
        }
    }

    public Task<byte[]?> GetImageAsync(string id, int index, CancellationToken cancellationToken = default) => _store.GetImageAsync(id, index);

    public Task<bool> CancelAsync(string id, CancellationToken cancellationToken = default) => _store.CancelAsync(id);

    /// <summary>A hash of everything in a seeded request, for when no validator gives the service's own cache key.</summary>
    private static string? RequestFingerprint(GenerationRequest request) =>
        request.Seed is null ? null : Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(request)));

    /// <summary>The next published event, or null after <see cref="ResyncInterval"/> without one.</summary>
    private static async Task<string?> ReadAsync(StackExchange.Redis.ChannelMessageQueue queue, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ResyncInterval);
        try
        {
            return (string?)(await queue.ReadAsync(timeout.Token).ConfigureAwait(false)).Message;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>The job as Redis has it now, or null while Redis is unreachable (the watch waits for it).</summary>
    private async Task<(JobInfo? Job, long Seq)?> ResyncAsync(string id)
    {
        try
        {
            return await _store.GetJobWithSeqAsync(id).ConfigureAwait(false);
        }
        catch (ServiceUnavailableException)
        {
            return null;
        }
    }

    private async Task RefreshStatsAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                Volatile.Write(ref _stats, await _store.GetStatsAsync().ConfigureAwait(false));
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            }
            catch (ServiceUnavailableException)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        // A host may dispose it once per service type it is registered as.
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _statsLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
        _stop.Dispose();
    }
}
