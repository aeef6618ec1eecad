namespace DiffusersSharp.Serving.Redis;

/// <summary>
/// The cluster as Redis sees it: jobs waiting and taken by workers, workers whose heartbeat is recent, and the
/// totals of abandoned jobs claimed and heartbeats sent since Redis started counting.
/// </summary>
public sealed record RedisClusterStats(int Waiting, int Running, int LiveWorkers, long Claims, long Heartbeats, long CacheBytes);
