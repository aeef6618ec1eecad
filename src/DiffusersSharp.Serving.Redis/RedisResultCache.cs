using StackExchange.Redis;

namespace DiffusersSharp.Serving.Redis;

/// <summary>
/// The result cache every node shares: a request's pictures under its fingerprint, within a byte budget
/// (<see cref="RedisServingOptions.CacheBudgetBytes"/>, least recently used evicted first) and a TTL
/// (<see cref="RedisServingOptions.CacheTtl"/>). The budget is kept by the cache itself, so Redis can run with
/// <c>maxmemory-policy noeviction</c> and never drop queue or job state.
/// </summary>
public sealed class RedisResultCache
{
    private readonly RedisJobStore _store;

    internal RedisResultCache(RedisJobStore store) => _store = store;

    public bool Enabled => _store.Options.CacheBudgetBytes > 0;

    public async Task<IReadOnlyList<byte[]>?> GetAsync(string key)
    {
        if (!Enabled) return null;
        var k = _store.Keys;
        var value = await _store.EvalAsync(RedisScripts.CacheGet, [k.CacheEntry(key), k.CacheLru, k.CacheSizes, k.CacheBytes], [key]).ConfigureAwait(false);
        return value.IsNull ? null : ImageBundle.Unpack((byte[])value!);
    }

    /// <summary>Stores pictures under a key; returns how many older entries were evicted to stay within the budget.</summary>
    public async Task<int> PutAsync(string key, IReadOnlyList<byte[]> images)
    {
        if (!Enabled) return 0;
        var k = _store.Keys;
        var evicted = await _store.EvalAsync(RedisScripts.CachePut, [k.CacheEntry(key), k.CacheLru, k.CacheSizes, k.CacheBytes],
            [key, ImageBundle.Pack(images), RedisJobStore.Seconds(_store.Options.CacheTtl), _store.Options.CacheBudgetBytes]).ConfigureAwait(false);
        return (int)(long)evicted;
    }
}
