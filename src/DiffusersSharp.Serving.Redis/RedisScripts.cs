namespace DiffusersSharp.Serving.Redis;

/// <summary>
/// The Lua scripts that change a job: each runs atomically in Redis, so state, queue and events never disagree
/// between nodes. Workers are fenced by the job's <c>attempt</c> number: only the worker that started the current
/// attempt may report progress or finish it, and the queue entry is acknowledged only once the job has ended.
/// </summary>
internal static class RedisScripts
{
    /// <summary>Fields of the job hash that clients see, in the order <see cref="JobHash"/> reads them.</summary>
    public const string PublicFields = "'state','step','total','created','started','finished','count','error','cached','seed'";

    private const string Prelude = $$"""
        local function now_ms()
          local t = redis.call('TIME')
          return string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
        end
        local function emit(job, channel, kind)
          local seq = redis.call('HINCRBY', job, 'seq', 1)
          local v = redis.call('HMGET', job, {{PublicFields}})
          redis.call('PUBLISH', channel, cjson.encode({seq, kind, v}))
        end
        local function waiting(stream, group)
          local len = redis.call('XLEN', stream)
          local ok, p = pcall(redis.call, 'XPENDING', stream, group)
          if not ok then
            redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
            return len
          end
          return len - p[1]
        end
        local function settle(stream, group, entry)
          redis.call('XACK', stream, group, entry)
          redis.call('XDEL', stream, entry)
        end

        """;

    /// <summary>
    /// KEYS: stream, job, idempotency key. ARGV: id, request, max waiting, job ttl s, idempotency ttl s (0: none),
    /// group, events channel, wake channel, total steps, cache key, seed. Returns {1, waiting} when queued,
    /// {0, id} for a repeated idempotency key, {-1, waiting} when the queue is full.
    /// </summary>
    public const string Submit = Prelude + """
        if ARGV[5] ~= '0' then
          local existing = redis.call('GET', KEYS[3])
          if existing then return {0, existing} end
        end
        local w = waiting(KEYS[1], ARGV[6])
        if w >= tonumber(ARGV[3]) then return {-1, w} end
        local entry = redis.call('XADD', KEYS[1], '*', 'id', ARGV[1])
        redis.call('HSET', KEYS[2], 'state', 'queued', 'step', '0', 'total', ARGV[9], 'created', now_ms(), 'count', '0',
          'cached', '0', 'attempt', '0', 'starts', '0', 'request', ARGV[2], 'entry', entry, 'cache_key', ARGV[10], 'seed', ARGV[11])
        redis.call('EXPIRE', KEYS[2], ARGV[4])
        if ARGV[5] ~= '0' then redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[5]) end
        emit(KEYS[2], ARGV[7], 'queued')
        redis.call('PUBLISH', ARGV[8], ARGV[1])
        return {1, w + 1}
        """;

    /// <summary>
    /// A job answered from the cache (its pictures already stored). KEYS: job, idempotency key. ARGV: id, request,
    /// result ttl s, idempotency ttl s (0: none), image count, total steps, events channel, seed.
    /// Returns {1, id} or {0, first id} for a repeated idempotency key.
    /// </summary>
    public const string SubmitCached = Prelude + """
        if ARGV[4] ~= '0' then
          local existing = redis.call('GET', KEYS[2])
          if existing then return {0, existing} end
        end
        local now = now_ms()
        redis.call('HSET', KEYS[1], 'state', 'succeeded', 'step', ARGV[6], 'total', ARGV[6], 'created', now, 'started', now,
          'finished', now, 'count', ARGV[5], 'cached', '1', 'attempt', '0', 'starts', '0', 'request', ARGV[2], 'store', 'redis', 'seed', ARGV[8])
        redis.call('EXPIRE', KEYS[1], ARGV[3])
        if ARGV[4] ~= '0' then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[4]) end
        emit(KEYS[1], ARGV[7], 'succeeded')
        return {1, ARGV[1]}
        """;

    /// <summary>
    /// A worker starts (or restarts, after a claim) a job. KEYS: job, stream. ARGV: entry id, worker, max attempts,
    /// group, events channel, result ttl s, message for too many attempts, job ttl s.
    /// Returns {'run', attempt, request, cache key}, {'done'} (already ended or gone: acknowledged) or {'exhausted'}.
    /// </summary>
    public const string Start = Prelude + """
        local state = redis.call('HGET', KEYS[1], 'state')
        if (not state) or (state ~= 'queued' and state ~= 'running') then
          settle(KEYS[2], ARGV[4], ARGV[1])
          return {'done'}
        end
        local starts = redis.call('HINCRBY', KEYS[1], 'starts', 1)
        if starts > tonumber(ARGV[3]) then
          redis.call('HSET', KEYS[1], 'state', 'failed', 'finished', now_ms(), 'error', ARGV[7])
          redis.call('EXPIRE', KEYS[1], ARGV[6])
          emit(KEYS[1], ARGV[5], 'failed')
          settle(KEYS[2], ARGV[4], ARGV[1])
          return {'exhausted'}
        end
        local attempt = redis.call('HINCRBY', KEYS[1], 'attempt', 1)
        redis.call('HSET', KEYS[1], 'state', 'running', 'started', now_ms(), 'worker', ARGV[2], 'step', '0')
        redis.call('EXPIRE', KEYS[1], ARGV[8])
        emit(KEYS[1], ARGV[5], 'started')
        local r = redis.call('HMGET', KEYS[1], 'request', 'cache_key')
        return {'run', attempt, r[1], r[2] or ''}
        """;

    /// <summary>KEYS: job. ARGV: attempt, step, total, events channel. Returns 1, or 0 when the attempt no longer runs.</summary>
    public const string Progress = Prelude + """
        local r = redis.call('HMGET', KEYS[1], 'attempt', 'state')
        if r[1] ~= ARGV[1] or r[2] ~= 'running' then return 0 end
        redis.call('HSET', KEYS[1], 'step', ARGV[2], 'total', ARGV[3])
        emit(KEYS[1], ARGV[4], 'step')
        return 1
        """;

    /// <summary>
    /// Renews a running attempt: resets its queue entry's idle time so no other worker claims it.
    /// KEYS: job, stream. ARGV: attempt, group, worker, entry id. Returns 0 when the attempt no longer runs
    /// (cancelled, or taken over), which tells the worker to stop.
    /// </summary>
    public const string Renew = """
        local r = redis.call('HMGET', KEYS[1], 'attempt', 'state')
        if r[1] ~= ARGV[1] or r[2] ~= 'running' then return 0 end
        redis.call('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, ARGV[4], 'JUSTID')
        return 1
        """;

    /// <summary>
    /// Ends an attempt (pictures already stored). KEYS: job, stream. ARGV: attempt, entry id, group, events channel,
    /// result ttl s, state, image count, error, store, cached. The entry is acknowledged whenever the job has ended,
    /// by this attempt or otherwise; returns 1 when this attempt ended it.
    /// </summary>
    public const string Finish = Prelude + """
        local r = redis.call('HMGET', KEYS[1], 'attempt', 'state')
        local ended = 0
        if r[1] == ARGV[1] and r[2] == 'running' then
          redis.call('HSET', KEYS[1], 'state', ARGV[6], 'finished', now_ms(), 'count', ARGV[7], 'store', ARGV[9], 'cached', ARGV[10])
          if ARGV[6] == 'succeeded' then redis.call('HSET', KEYS[1], 'step', redis.call('HGET', KEYS[1], 'total')) end
          if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[8]) end
          redis.call('EXPIRE', KEYS[1], ARGV[5])
          emit(KEYS[1], ARGV[4], ARGV[6])
          ended = 1
        end
        local state = redis.call('HGET', KEYS[1], 'state')
        if state ~= 'queued' and state ~= 'running' then settle(KEYS[2], ARGV[3], ARGV[2]) end
        return ended
        """;

    /// <summary>
    /// A worker stopping gracefully hands its attempt back: the job is queued again and its entry, still pending,
    /// is claimed by another worker after the idle time. KEYS: job. ARGV: attempt, events channel.
    /// </summary>
    public const string Release = Prelude + """
        local r = redis.call('HMGET', KEYS[1], 'attempt', 'state')
        if r[1] ~= ARGV[1] or r[2] ~= 'running' then return 0 end
        redis.call('HSET', KEYS[1], 'state', 'queued', 'step', '0')
        redis.call('HINCRBY', KEYS[1], 'starts', -1)
        emit(KEYS[1], ARGV[2], 'queued')
        return 1
        """;

    /// <summary>
    /// KEYS: job, stream. ARGV: events channel, cancel channel, id, result ttl s. A queued job's entry is deleted;
    /// a running one's worker is told to stop. Returns 1, or 0 when the job had ended or is unknown.
    /// </summary>
    public const string Cancel = Prelude + """
        local state = redis.call('HGET', KEYS[1], 'state')
        if state ~= 'queued' and state ~= 'running' then return 0 end
        redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished', now_ms())
        redis.call('EXPIRE', KEYS[1], ARGV[4])
        if state == 'queued' then
          local entry = redis.call('HGET', KEYS[1], 'entry')
          if entry then redis.call('XDEL', KEYS[2], entry) end
        else
          redis.call('PUBLISH', ARGV[2], ARGV[3])
        end
        emit(KEYS[1], ARGV[1], 'cancelled')
        return 1
        """;

    /// <summary>
    /// KEYS: stream, workers. ARGV: group. Returns {waiting, pending (taken by a worker, not yet acknowledged),
    /// live workers (heartbeat not yet expired, by Redis's clock)}.
    /// </summary>
    public const string Depth = Prelude + """
        local w = waiting(KEYS[1], ARGV[1])
        local len = redis.call('XLEN', KEYS[1])
        return {w, len - w, redis.call('ZCOUNT', KEYS[2], now_ms(), '+inf')}
        """;

    /// <summary>
    /// A worker's heartbeat, timed by Redis's clock so machines' clocks need not agree. KEYS: workers, worker key,
    /// heartbeat counter. ARGV: worker, expiry ms, what it runs (JSON). The sorted set scores each worker by when its
    /// heartbeat expires; workers silent for an hour leave it.
    /// </summary>
    public const string Heartbeat = Prelude + """
        local now = tonumber(now_ms())
        redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - 3600000))
        redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
        return redis.call('INCR', KEYS[3])
        """;

    /// <summary>
    /// Stores a cache entry within the byte budget, evicting the least recently used (recency: Redis's clock in µs,
    /// kept strictly increasing so that uses within one tick still order). KEYS: entry, lru, sizes, bytes.
    /// ARGV: cache key, value, ttl s, budget. Returns the number of entries evicted.
    /// </summary>
    public const string CachePut = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local newest = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]
        if newest and tonumber(newest) >= now then now = tonumber(newest) + 1 end
        local size = string.len(ARGV[2])
        local budget = tonumber(ARGV[4])
        if size > budget then return 0 end
        local old = redis.call('HGET', KEYS[3], ARGV[1])
        if old then redis.call('DECRBY', KEYS[4], old) end
        redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
        redis.call('ZADD', KEYS[2], now, ARGV[1])
        redis.call('HSET', KEYS[3], ARGV[1], size)
        local total = redis.call('INCRBY', KEYS[4], size)
        local evicted = 0
        local prefix = string.sub(KEYS[1], 1, string.len(KEYS[1]) - string.len(ARGV[1]))
        while total > budget do
          local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
          if not oldest or oldest == ARGV[1] then break end
          local s = tonumber(redis.call('HGET', KEYS[3], oldest) or '0')
          redis.call('DEL', prefix .. oldest)
          redis.call('ZREM', KEYS[2], oldest)
          redis.call('HDEL', KEYS[3], oldest)
          total = redis.call('DECRBY', KEYS[4], s)
          evicted = evicted + 1
        end
        return evicted
        """;

    /// <summary>KEYS: entry, lru, sizes, bytes. ARGV: cache key. Returns the entry and marks it used, or nil (forgetting an expired entry's size).</summary>
    public const string CacheGet = """
        local v = redis.call('GET', KEYS[1])
        if not v then
          local s = redis.call('HGET', KEYS[3], ARGV[1])
          if s then
            redis.call('DECRBY', KEYS[4], s)
            redis.call('HDEL', KEYS[3], ARGV[1])
            redis.call('ZREM', KEYS[2], ARGV[1])
          end
          return false
        end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local newest = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]
        if newest and tonumber(newest) >= now then now = tonumber(newest) + 1 end
        redis.call('ZADD', KEYS[2], now, ARGV[1])
        return v
        """;
}
