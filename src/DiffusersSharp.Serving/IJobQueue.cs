namespace DiffusersSharp.Serving;

/// <summary>The waiting jobs, first in first out, from which workers take batches; a shared broker can stand in for the local one.</summary>
public interface IJobQueue
{
    int Count { get; }

    int Capacity { get; }

    /// <summary>Adds a job at the back; false when the queue is full (unless <paramref name="ignoreCapacity"/>, for jobs resumed at start).</summary>
    bool TryEnqueue(QueuedJob job, bool ignoreCapacity = false);

    /// <summary>
    /// Waits for a job and takes it, with up to <paramref name="maxBatchSize"/> − 1 later jobs of the same non-null
    /// batch key (in queue order; jobs between them keep their places).
    /// </summary>
    Task<IReadOnlyList<QueuedJob>> DequeueBatchAsync(int maxBatchSize, CancellationToken cancellationToken);

    /// <summary>Takes a waiting job out (it was cancelled); false when it is not waiting.</summary>
    bool TryRemove(string id);
}
