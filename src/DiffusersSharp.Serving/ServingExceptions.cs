namespace DiffusersSharp.Serving;

/// <summary>A request that cannot run as given; each entry names a field (diffusers' parameter name) and what is allowed.</summary>
public sealed class RequestValidationException(IReadOnlyDictionary<string, string[]> errors)
    : Exception(string.Join(" ", errors.SelectMany(e => e.Value.Select(m => $"{e.Key}: {m}"))))
{
    public IReadOnlyDictionary<string, string[]> Errors { get; } = errors;

    public RequestValidationException(string field, string message) : this(new Dictionary<string, string[]> { [field] = [message] }) { }
}

/// <summary>The queue is full; retry after <see cref="RetryAfter"/>.</summary>
public sealed class QueueFullException(int capacity, TimeSpan retryAfter)
    : Exception($"The job queue is full ({capacity} jobs waiting); retry after {retryAfter.TotalSeconds:0} s.")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>The service cannot take work now (not ready, draining, or its broker is unreachable).</summary>
public sealed class ServiceUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
