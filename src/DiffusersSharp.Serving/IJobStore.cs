namespace DiffusersSharp.Serving;

/// <summary>Where jobs and their pictures are kept (a local SQLite file and folder, or a shared store).</summary>
public interface IJobStore : IDisposable
{
    /// <summary>Adds a job; when its idempotency key is taken, adds nothing and returns the job that has it.</summary>
    Task<StoredJob> AddAsync(StoredJob job, CancellationToken cancellationToken = default);

    Task<StoredJob?> GetAsync(string id, CancellationToken cancellationToken = default);

    Task<StoredJob?> FindByIdempotencyKeyAsync(string idempotencyKey, CancellationToken cancellationToken = default);

    /// <summary>Replaces a job's state.</summary>
    Task UpdateAsync(JobInfo info, CancellationToken cancellationToken = default);

    /// <summary>Queued and running jobs, oldest first: what a start resumes.</summary>
    Task<IReadOnlyList<StoredJob>> ListUnfinishedAsync(CancellationToken cancellationToken = default);

    Task SaveImagesAsync(string id, IReadOnlyList<byte[]> images, CancellationToken cancellationToken = default);

    Task<byte[]?> GetImageAsync(string id, int index, CancellationToken cancellationToken = default);

    /// <summary>Removes jobs that finished before <paramref name="cutoff"/>, with their pictures; returns how many.</summary>
    Task<int> DeleteFinishedBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default);
}
