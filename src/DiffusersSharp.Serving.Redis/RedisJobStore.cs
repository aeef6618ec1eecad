using System.Globalization;
using System.Net;
using StackExchange.Redis;

namespace DiffusersSharp.Serving.Redis;

/// <summary>
/// One node's connection to the cluster's Redis and every operation API nodes and workers do on it. Calls fail fast
/// while Redis is unreachable, as <see cref="ServiceUnavailableException"/>, and work again once the connection is
/// back (the client reconnects by itself).
/// </summary>
public sealed partial class RedisJobStore : IAsyncDisposable
{
    private readonly ConnectionMultiplexer _redis;
    private readonly string _endpoint;

    private RedisJobStore(ConnectionMultiplexer redis, RedisServingOptions options, string endpoint)
    {
        _redis = redis;
        _endpoint = endpoint;
        Options = options;
        Keys = new RedisKeys(options.KeyPrefix);
        Cache = new RedisResultCache(this);
    }

    public RedisServingOptions Options { get; }

    public RedisKeys Keys { get; }

    public RedisResultCache Cache { get; }

    /// <summary>The Redis server(s) as configured, HOST:PORT.</summary>
    public string Endpoint => _endpoint;

    /// <summary>Whether the connection to Redis is up now.</summary>
    public bool IsConnected => _redis.IsConnected;

    internal IDatabase Db => _redis.GetDatabase();

    internal ISubscriber Subscriber => _redis.GetSubscriber();

    /// <summary>Connects; succeeds even while Redis is down (calls then answer <see cref="ServiceUnavailableException"/> until it is up).</summary>
    public static async Task<RedisJobStore> ConnectAsync(RedisServingOptions options)
    {
        ConfigurationOptions config;
        try
        {
            config = ConfigurationOptions.Parse(options.Configuration);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"'{options.Configuration}' is not a Redis address (HOST:PORT): {e.Message}", e);
        }
        if (config.EndPoints.Count == 0)
            throw new ArgumentException($"'{options.Configuration}' names no Redis server; give HOST:PORT.");
        var timeout = (int)options.CommandTimeout.TotalMilliseconds;
        config.AbortOnConnectFail = false;
        config.BacklogPolicy = BacklogPolicy.FailFast;
        config.ConnectTimeout = timeout;
        config.SyncTimeout = timeout;
        config.AsyncTimeout = timeout;
        config.ReconnectRetryPolicy = new LinearRetry(500);
        config.ClientName ??= "diffuse-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        var endpoint = string.Join(",", config.EndPoints.Select(FormatEndPoint));
        var redis = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
        return new RedisJobStore(redis, options, endpoint);
    }

    /// <summary>Queue depth, workers and claim counts as Redis sees them now.</summary>
    public Task<RedisClusterStats> GetStatsAsync() => Guard(async db =>
    {
        var depth = db.ScriptEvaluateAsync(RedisScripts.Depth, [Keys.Stream, Keys.Workers], [RedisKeys.Group]);
        var counters = db.StringGetAsync([Keys.ClaimsCounter, Keys.HeartbeatsCounter, Keys.CacheBytes]);
        await Task.WhenAll(depth, counters).ConfigureAwait(false);
        var d = (RedisResult[])depth.Result!;
        return new RedisClusterStats(
            Waiting: (int)(long)d[0],
            Running: (int)(long)d[1],
            LiveWorkers: (int)(long)d[2],
            Claims: (long?)counters.Result[0] ?? 0,
            Heartbeats: (long?)counters.Result[1] ?? 0,
            CacheBytes: (long?)counters.Result[2] ?? 0);
    });

    internal async Task<T> Guard<T>(Func<IDatabase, Task<T>> operation)
    {
        try
        {
            return await operation(Db).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
    }

    internal async Task Guard(Func<IDatabase, Task> operation)
    {
        try
        {
            await operation(Db).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
    }

    internal Task<RedisResult> EvalAsync(string script, RedisKey[] keys, RedisValue[] values) =>
        Guard(db => db.ScriptEvaluateAsync(script, keys, values));

    internal ServiceUnavailableException Unavailable(Exception e)
    {
        var reason = e.Message.Split('\n')[0];
        return new ServiceUnavailableException($"Redis at {_endpoint} is unreachable or refusing work ({reason}); jobs cannot be taken or reported until it is back.", e);
    }

    /// <summary>Redis down, restarting (loading its append-only file), read-only or out of memory: worth retrying later.</summary>
    internal static bool IsUnavailable(Exception e) => e switch
    {
        RedisConnectionException or RedisTimeoutException => true,
        RedisServerException s => s.Message.StartsWith("LOADING", StringComparison.Ordinal) || s.Message.StartsWith("MISCONF", StringComparison.Ordinal)
            || s.Message.StartsWith("READONLY", StringComparison.Ordinal) || s.Message.StartsWith("OOM", StringComparison.Ordinal),
        _ => false,
    };

    internal static long Seconds(TimeSpan t) => Math.Max(1, (long)Math.Ceiling(t.TotalSeconds));

    private static string FormatEndPoint(EndPoint e) => e switch
    {
        DnsEndPoint d => $"{d.Host}:{d.Port}",
        _ => e.ToString() ?? "?",
    };

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync().ConfigureAwait(false);
}
