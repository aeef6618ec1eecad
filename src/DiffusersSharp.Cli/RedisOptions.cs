using System.CommandLine;
using System.Globalization;
using DiffusersSharp.Serving.Redis;

namespace DiffusersSharp.Cli;

/// <summary>The Redis options API nodes and workers share; every node of one cluster must give the same values (except --redis's host naming).</summary>
internal sealed class RedisOptions
{
    public Option<string?> Redis { get; } = new("--redis")
    {
        Description = "Redis server of the cluster, HOST:PORT (StackExchange.Redis syntax: add ,password=... if needed). Default: $DIFFUSE_REDIS.",
    };
    public Option<string> Prefix { get; } = new("--redis-prefix")
    {
        Description = "Prefix of the cluster's Redis keys, so several clusters can share one Redis.",
        DefaultValueFactory = _ => "diffuse:",
    };
    public Option<double> ClaimIdle { get; } = new("--claim-idle")
    {
        Description = "Seconds a running job may go without its worker's heartbeat before another worker takes it over and runs it again.",
        DefaultValueFactory = _ => 30,
    };
    public Option<int> MaxAttempts { get; } = new("--max-attempts")
    {
        Description = "Times a job may be started; a job abandoned more often (its workers keep dying) fails.",
        DefaultValueFactory = _ => 3,
    };
    public Option<double> ResultTtl { get; } = new("--result-ttl")
    {
        Description = "Seconds a finished job and its pictures stay readable.",
        DefaultValueFactory = _ => 3600,
    };
    public Option<string?> ResultsDir { get; } = new("--results-dir")
    {
        Description = "Folder every node mounts, for results larger than --large-result-mb (kept in Redis when not given).",
    };
    public Option<double> LargeResultMb { get; } = new("--large-result-mb")
    {
        Description = "Results above this many MiB go to --results-dir.",
        DefaultValueFactory = _ => 8,
    };
    public Option<double> CacheMb { get; } = new("--cache-mb")
    {
        Description = "Byte budget of the shared result cache in MiB (least recently used entries are evicted); 0 turns it off.",
        DefaultValueFactory = _ => 256,
    };
    public Option<double> JobTimeout { get; } = new("--job-timeout")
    {
        Description = "Seconds a job may run on a worker before it fails as timed out; 0 for no limit.",
        DefaultValueFactory = _ => 600,
    };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Redis, Prefix, ClaimIdle, MaxAttempts, ResultTtl, ResultsDir, LargeResultMb, CacheMb, JobTimeout })
            command.Options.Add(option);
    }

    /// <summary>The Redis settings, or null when neither --redis nor $DIFFUSE_REDIS is given.</summary>
    public RedisServingOptions? Read(ParseResult result, int maxQueueLength)
    {
        var address = result.GetValue(Redis) ?? Environment.GetEnvironmentVariable("DIFFUSE_REDIS");
        if (string.IsNullOrWhiteSpace(address)) return null;
        var claimIdle = Positive(result.GetValue(ClaimIdle), ClaimIdle.Name);
        var attempts = result.GetValue(MaxAttempts);
        if (attempts < 1) throw new ArgumentException($"{MaxAttempts.Name} must be at least 1, got {attempts}.");
        var jobTimeout = result.GetValue(JobTimeout);
        if (jobTimeout < 0) throw new ArgumentException($"{JobTimeout.Name} must be 0 (no limit) or more, got {jobTimeout}.");
        var cacheMb = result.GetValue(CacheMb);
        if (cacheMb < 0) throw new ArgumentException($"{CacheMb.Name} must be 0 or more, got {cacheMb}.");
        return new RedisServingOptions
        {
            Configuration = address,
            KeyPrefix = result.GetValue(Prefix)!,
            MaxQueueLength = maxQueueLength,
            ClaimIdleTime = TimeSpan.FromSeconds(claimIdle),
            // A few heartbeats fit in the claim time, so a live worker is never taken for dead.
            HeartbeatInterval = TimeSpan.FromSeconds(Math.Min(5, claimIdle / 4)),
            PollInterval = TimeSpan.FromSeconds(Math.Min(1, claimIdle / 4)),
            MaxAttempts = attempts,
            ResultTtl = TimeSpan.FromSeconds(Positive(result.GetValue(ResultTtl), ResultTtl.Name)),
            SharedResultFolder = result.GetValue(ResultsDir),
            LargeResultBytes = (long)(Positive(result.GetValue(LargeResultMb), LargeResultMb.Name) * (1 << 20)),
            CacheBudgetBytes = (long)(cacheMb * (1 << 20)),
            JobTimeout = TimeSpan.FromSeconds(jobTimeout),
        };
    }

    /// <summary>The settings <c>serve</c> passes to the server for these options (<c>Diffuse:Redis:*</c>, read back as <see cref="RedisServingOptions"/>).</summary>
    public static void AddSettings(RedisServingOptions redis, IDictionary<string, string?> settings)
    {
        const string section = DiffusersSharp.Server.RedisCluster.Section + ":";
        var c = CultureInfo.InvariantCulture;
        settings[section + nameof(RedisServingOptions.Configuration)] = redis.Configuration;
        settings[section + nameof(RedisServingOptions.KeyPrefix)] = redis.KeyPrefix;
        settings[section + nameof(RedisServingOptions.ClaimIdleTime)] = redis.ClaimIdleTime.ToString("c", c);
        settings[section + nameof(RedisServingOptions.HeartbeatInterval)] = redis.HeartbeatInterval.ToString("c", c);
        settings[section + nameof(RedisServingOptions.PollInterval)] = redis.PollInterval.ToString("c", c);
        settings[section + nameof(RedisServingOptions.MaxAttempts)] = redis.MaxAttempts.ToString(c);
        settings[section + nameof(RedisServingOptions.ResultTtl)] = redis.ResultTtl.ToString("c", c);
        settings[section + nameof(RedisServingOptions.SharedResultFolder)] = redis.SharedResultFolder;
        settings[section + nameof(RedisServingOptions.LargeResultBytes)] = redis.LargeResultBytes.ToString(c);
        settings[section + nameof(RedisServingOptions.CacheBudgetBytes)] = redis.CacheBudgetBytes.ToString(c);
        settings[section + nameof(RedisServingOptions.JobTimeout)] = (redis.JobTimeout ?? TimeSpan.Zero).ToString("c", c);
    }

    private static double Positive(double value, string name) =>
        value > 0 ? value : throw new ArgumentException($"{name} must be more than 0, got {value}.");
}
