namespace DiffusersSharp.Serving.Redis;

/// <summary>
/// How API nodes and workers share one Redis. Every node of a cluster must use the same <see cref="KeyPrefix"/>,
/// <see cref="MaxQueueLength"/> and result settings; <see cref="SharedResultFolder"/> must be the same mounted folder.
/// </summary>
public sealed record RedisServingOptions
{
    /// <summary>StackExchange.Redis configuration: <c>HOST:PORT</c>, optionally with <c>,password=...</c> and other options.</summary>
    public required string Configuration { get; init; }

    /// <summary>Prefix of every key and channel, so several clusters (or tests) can share one Redis.</summary>
    public string KeyPrefix { get; init; } = "diffuse:";

    /// <summary>Jobs waiting (not yet taken by a worker), cluster-wide, before submissions answer 429.</summary>
    public int MaxQueueLength { get; init; } = 256;

    /// <summary>What a 429 answer tells the client to wait.</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a job's state lives while it waits or runs (refreshed on each change).</summary>
    public TimeSpan JobTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How long a finished job's state and pictures stay readable.</summary>
    public TimeSpan ResultTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long a repeated idempotency key returns the first job.</summary>
    public TimeSpan IdempotencyTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>A running job whose worker has not renewed it for this long is taken over by another worker.</summary>
    public TimeSpan ClaimIdleTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a worker renews its running job and announces itself; well under <see cref="ClaimIdleTime"/>.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How many times a job may start; one abandoned more often than this fails (a job that kills its workers must not loop).</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>How long a job may run on a worker before it fails as timed out; null or zero for no limit.</summary>
    public TimeSpan? JobTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long an idle worker waits for a new-job notice before it looks at the queue again.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Results whose PNGs together exceed <see cref="LargeResultBytes"/> go here instead of Redis (a folder every node mounts); null keeps all in Redis.</summary>
    public string? SharedResultFolder { get; init; }

    public long LargeResultBytes { get; init; } = 8 << 20;

    /// <summary>Byte budget of the shared result cache; least recently used entries are evicted beyond it. 0 disables the cache.</summary>
    public long CacheBudgetBytes { get; init; } = 256L << 20;

    /// <summary>Longest a cache entry lives even when used.</summary>
    public TimeSpan CacheTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Answer time for Redis calls before the node reports Redis unreachable.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
