namespace DiffusersSharp.Serving;

/// <summary>
/// The service's job API, the seam between the HTTP layer and whatever runs jobs: the single-process queue and
/// store, or a Redis-backed cluster. Implementations validate requests before accepting them.
/// </summary>
public interface IJobService
{
    /// <summary>Accepts a job. Throws <see cref="RequestValidationException"/> for a bad request and
    /// <see cref="QueueFullException"/> when the queue is full. A repeated idempotency key returns the first job.</summary>
    Task<JobInfo> SubmitAsync(GenerationRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default);

    /// <summary>Submits and waits for the pictures; cancelling the token cancels the job (client disconnect).</summary>
    Task<JobResult> GenerateAsync(GenerationRequest request, IProgress<JobEvent>? progress = null, CancellationToken cancellationToken = default);

    Task<JobInfo?> GetAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>The job's events from now on, starting with its current state; ends after its final event.</summary>
    IAsyncEnumerable<JobEvent> WatchAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>PNG bytes of a finished job's picture, or null when there is no such job or picture.</summary>
    Task<byte[]?> GetImageAsync(string id, int index, CancellationToken cancellationToken = default);

    /// <summary>Cancels a queued or running job (a running one stops within one denoising step); false when it had already ended or is unknown.</summary>
    Task<bool> CancelAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Jobs waiting, for metrics and back-pressure.</summary>
    int QueueDepth { get; }

    /// <summary>True once the default model is loaded and workers run, false while draining.</summary>
    bool IsReady { get; }
}
