using System.Text.Json.Serialization;

namespace DiffusersSharp.Serving;

[JsonConverter(typeof(JsonStringEnumConverter<JobState>))]
public enum JobState
{
    [JsonStringEnumMemberName("queued")] Queued,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
}

public static class JobStateExtensions
{
    /// <summary>True for the states a job ends in; nothing follows them.</summary>
    public static bool IsFinal(this JobState state) => state is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
}

/// <summary>A job as clients see it. Times are UTC; <see cref="ImageCount"/> is set once it succeeded.</summary>
public sealed record JobInfo
{
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("state")] public required JobState State { get; init; }
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("total_steps")] public int TotalSteps { get; init; }
    [JsonPropertyName("created_at")] public DateTimeOffset CreatedAt { get; init; }
    [JsonPropertyName("started_at")] public DateTimeOffset? StartedAt { get; init; }
    [JsonPropertyName("finished_at")] public DateTimeOffset? FinishedAt { get; init; }
    [JsonPropertyName("image_count")] public int ImageCount { get; init; }
    [JsonPropertyName("error")] public string? Error { get; init; }
    [JsonPropertyName("cached")] public bool Cached { get; init; }
    /// <summary>The seed the pictures were drawn with (the request's, or the one drawn for it), so they can be made again.</summary>
    [JsonPropertyName("seed")] public long? Seed { get; init; }
}

/// <summary>What a job's event stream reports: <c>queued</c>, <c>started</c>, <c>step</c> (i of n), then <c>succeeded</c>, <c>failed</c> or <c>cancelled</c>.</summary>
public sealed record JobEvent(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("job")] JobInfo Job)
{
    /// <summary>The event that describes a job as it stands (the first event of a watch, or a final one).</summary>
    public static JobEvent Of(JobInfo job) => new(job.State switch
    {
        JobState.Queued => "queued",
        JobState.Running => job.Step > 0 ? "step" : "started",
        JobState.Succeeded => "succeeded",
        JobState.Failed => "failed",
        _ => "cancelled",
    }, job);
}

/// <summary>A finished job's pictures, PNG-encoded, in order.</summary>
public sealed record JobResult(JobInfo Job, IReadOnlyList<byte[]> Images);
