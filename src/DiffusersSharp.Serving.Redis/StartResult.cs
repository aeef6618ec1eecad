namespace DiffusersSharp.Serving.Redis;

/// <summary>What the start script answered: run <see cref="Attempt"/> of the request, or nothing to run (the job ended, or failed for too many attempts).</summary>
internal sealed record StartResult(bool Run, long Attempt, string? RequestJson, string? CacheKey);
