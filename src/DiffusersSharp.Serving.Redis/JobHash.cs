using System.Globalization;
using System.Text.Json;
using StackExchange.Redis;

namespace DiffusersSharp.Serving.Redis;

/// <summary>Reads a job's public hash fields (<see cref="RedisScripts.PublicFields"/>, in order) as the <see cref="JobInfo"/> clients see.</summary>
internal static class JobHash
{
    public static readonly RedisValue[] Fields = ["state", "step", "total", "created", "started", "finished", "count", "error", "cached", "seed"];

    /// <summary>The job from HMGET values, or null when the job does not exist.</summary>
    public static JobInfo? FromValues(string id, IReadOnlyList<string?> v)
    {
        if (v[0] is not { } state) return null;
        return new JobInfo
        {
            Id = id,
            State = ParseState(state),
            Step = Int(v[1]),
            TotalSteps = Int(v[2]),
            CreatedAt = Time(v[3]) ?? default,
            StartedAt = Time(v[4]),
            FinishedAt = Time(v[5]),
            ImageCount = Int(v[6]),
            Error = string.IsNullOrEmpty(v[7]) ? null : v[7],
            Cached = v[8] == "1",
            Seed = v[9] is null ? null : long.Parse(v[9]!, CultureInfo.InvariantCulture),
        };
    }

    public static JobInfo? FromRedis(string id, RedisValue[] values) =>
        FromValues(id, values.Select(x => x.IsNull ? null : (string?)x).ToArray());

    /// <summary>An event as the scripts publish it: <c>[seq, type, [fields]]</c>, fields absent as <c>false</c>.</summary>
    public static (long Seq, JobEvent Event)? ParseEvent(string id, string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var values = root[2].EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : null).ToArray();
        return FromValues(id, values) is { } job ? (root[0].GetInt64(), new JobEvent(root[1].GetString()!, job)) : null;
    }

    public static string StateName(JobState state) => state switch
    {
        JobState.Queued => "queued",
        JobState.Running => "running",
        JobState.Succeeded => "succeeded",
        JobState.Failed => "failed",
        _ => "cancelled",
    };

    private static JobState ParseState(string s) => s switch
    {
        "queued" => JobState.Queued,
        "running" => JobState.Running,
        "succeeded" => JobState.Succeeded,
        "failed" => JobState.Failed,
        "cancelled" => JobState.Cancelled,
        _ => throw new InvalidDataException($"Unknown job state '{s}' in Redis."),
    };

    private static int Int(string? s) => s is null ? 0 : int.Parse(s, CultureInfo.InvariantCulture);

    private static DateTimeOffset? Time(string? s) =>
        string.IsNullOrEmpty(s) ? null : DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(s, CultureInfo.InvariantCulture));
}
