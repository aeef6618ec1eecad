namespace DiffusersSharp.Serving;

/// <summary>A bounded in-process <see cref="IJobQueue"/>.</summary>
public sealed class LocalJobQueue(int capacity) : IJobQueue
{
    private readonly object _lock = new();
    private readonly LinkedList<QueuedJob> _jobs = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Count
    {
        get { lock (_lock) return _jobs.Count; }
    }

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "The queue capacity must be at least 1.");

    public bool TryEnqueue(QueuedJob job, bool ignoreCapacity = false)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (!ignoreCapacity && _jobs.Count >= Capacity) return false;
            _jobs.AddLast(job);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
        return true;
    }

    public async Task<IReadOnlyList<QueuedJob>> DequeueBatchAsync(int maxBatchSize, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_jobs.First is { } first)
                {
                    _jobs.RemoveFirst();
                    var batch = new List<QueuedJob> { first.Value };
                    for (var node = _jobs.First; node is not null && first.Value.BatchKey is not null && batch.Count < maxBatchSize;)
                    {
                        var next = node.Next;
                        if (node.Value.BatchKey == first.Value.BatchKey)
                        {
                            batch.Add(node.Value);
                            _jobs.Remove(node);
                        }
                        node = next;
                    }
                    return batch;
                }
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public bool TryRemove(string id)
    {
        lock (_lock)
        {
            for (var node = _jobs.First; node is not null; node = node.Next)
                if (node.Value.Id == id)
                {
                    _jobs.Remove(node);
                    return true;
                }
        }
        return false;
    }
}
