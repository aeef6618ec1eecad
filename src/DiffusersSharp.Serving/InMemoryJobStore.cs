namespace DiffusersSharp.Serving;

/// <summary>An <see cref="IJobStore"/> in memory, for a service whose jobs need not survive a restart.</summary>
public sealed class InMemoryJobStore : IJobStore
{
    private readonly object _lock = new();
    private readonly Dictionary<string, StoredJob> _jobs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyList<byte[]>> _images = new(StringComparer.Ordinal);

    public Task<StoredJob> AddAsync(StoredJob job, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (job.IdempotencyKey is { } key)
            {
                if (_byKey.TryGetValue(key, out var existing)) return Task.FromResult(_jobs[existing]);
                _byKey[key] = job.Info.Id;
            }
            _jobs[job.Info.Id] = job;
            return Task.FromResult(job);
        }
    }

    public Task<StoredJob?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        lock (_lock) return Task.FromResult(_jobs.GetValueOrDefault(id));
    }

    public Task<StoredJob?> FindByIdempotencyKeyAsync(string idempotencyKey, CancellationToken cancellationToken = default)
    {
        lock (_lock) return Task.FromResult(_byKey.TryGetValue(idempotencyKey, out var id) ? _jobs.GetValueOrDefault(id) : null);
    }

    public Task UpdateAsync(JobInfo info, CancellationToken cancellationToken = default)
    {
        lock (_lock)
            if (_jobs.TryGetValue(info.Id, out var job))
                _jobs[info.Id] = job with { Info = info };
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<StoredJob>> ListUnfinishedAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
            return Task.FromResult<IReadOnlyList<StoredJob>>(_jobs.Values
                .Where(j => j.Info.State is JobState.Queued or JobState.Running).OrderBy(j => j.Info.CreatedAt).ToArray());
    }

    public Task SaveImagesAsync(string id, IReadOnlyList<byte[]> images, CancellationToken cancellationToken = default)
    {
        lock (_lock) _images[id] = images;
        return Task.CompletedTask;
    }

    public Task<byte[]?> GetImageAsync(string id, int index, CancellationToken cancellationToken = default)
    {
        lock (_lock)
            return Task.FromResult(_images.TryGetValue(id, out var images) && index >= 0 && index < images.Count ? images[index] : null);
    }

    public Task<int> DeleteFinishedBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            var expired = _jobs.Values.Where(j => j.Info.FinishedAt is { } f && f < cutoff).ToArray();
            foreach (var job in expired)
            {
                _jobs.Remove(job.Info.Id);
                _images.Remove(job.Info.Id);
                if (job.IdempotencyKey is { } key) _byKey.Remove(key);
            }
            return Task.FromResult(expired.Length);
        }
    }

    public void Dispose() { }
}
