using StackExchange.Redis;

namespace DiffusersSharp.Serving.Redis;

/// <summary>The names of every key and channel a cluster uses, all under one prefix.</summary>
public sealed class RedisKeys(string prefix)
{
    public const string Group = "workers";

    public string Prefix { get; } = prefix;

    /// <summary>The job queue: a stream read by the consumer group <see cref="Group"/>; entries are deleted once acknowledged.</summary>
    public RedisKey Stream => Prefix + "jobs";

    public RedisKey Job(string id) => Prefix + "job:" + id;

    public RedisKey Image(string id, int index) => $"{Prefix}result:{id}:{index}";

    public RedisKey Idempotency(string key) => Prefix + "idem:" + key;

    public RedisKey CacheEntry(string key) => Prefix + "cache:" + key;

    /// <summary>Sorted set of cache keys by last use (ms), for LRU eviction.</summary>
    public RedisKey CacheLru => Prefix + "cache-lru";

    /// <summary>Hash of cache key → entry size in bytes.</summary>
    public RedisKey CacheSizes => Prefix + "cache-sizes";

    /// <summary>Bytes the cache holds by its own count.</summary>
    public RedisKey CacheBytes => Prefix + "cache-bytes";

    /// <summary>Sorted set of worker name → when its heartbeat expires (ms, Redis clock).</summary>
    public RedisKey Workers => Prefix + "workers";

    public RedisKey Worker(string name) => Prefix + "worker:" + name;

    public RedisKey ClaimsCounter => Prefix + "stats:claims";

    public RedisKey HeartbeatsCounter => Prefix + "stats:heartbeats";

    /// <summary>A job's events, JSON <c>[seq, type, [fields]]</c>.</summary>
    public RedisChannel Events(string id) => RedisChannel.Literal(Prefix + "events:" + id);

    /// <summary>Notice to idle workers that a job was queued.</summary>
    public RedisChannel Wake => RedisChannel.Literal(Prefix + "wake");

    /// <summary>Job ids whose running job must stop.</summary>
    public RedisChannel Cancel => RedisChannel.Literal(Prefix + "cancel");
}
