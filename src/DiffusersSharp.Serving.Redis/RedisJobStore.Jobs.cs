using StackExchange.Redis;

namespace DiffusersSharp.Serving.Redis;

/// <summary>What API nodes do: queue, read, watch and cancel jobs, read pictures.</summary>
public sealed partial class RedisJobStore
{
    internal async Task<SubmitResult> SubmitAsync(string id, string requestJson, string? idempotencyKey, string? cacheKey, int totalSteps, long seed)
    {
        var result = (RedisResult[])(await EvalAsync(RedisScripts.Submit,
            [Keys.Stream, Keys.Job(id), Keys.Idempotency(idempotencyKey ?? "")],
            [id, requestJson, Options.MaxQueueLength, Seconds(Options.JobTtl), idempotencyKey is null ? 0 : Seconds(Options.IdempotencyTtl),
             RedisKeys.Group, Keys.Events(id).ToString(), Keys.Wake.ToString(), totalSteps, cacheKey ?? "", seed]).ConfigureAwait(false))!;
        return new SubmitResult((int)result[0], (string)result[1]!);
    }

    /// <summary>Records a job answered from the cache; returns the job's id (the first job's for a repeated idempotency key).</summary>
    internal async Task<string> SubmitCachedAsync(string id, string requestJson, string? idempotencyKey, IReadOnlyList<byte[]> images, int totalSteps, long seed)
    {
        await StoreImagesAsync(id, images).ConfigureAwait(false);
        var result = (RedisResult[])(await EvalAsync(RedisScripts.SubmitCached, [Keys.Job(id), Keys.Idempotency(idempotencyKey ?? "")],
            [id, requestJson, Seconds(Options.ResultTtl), idempotencyKey is null ? 0 : Seconds(Options.IdempotencyTtl), images.Count, totalSteps,
             Keys.Events(id).ToString(), seed]).ConfigureAwait(false))!;
        return (string)result[1]!;
    }

    internal async Task<JobInfo?> GetJobAsync(string id) =>
        JobHash.FromRedis(id, await Guard(db => db.HashGetAsync(Keys.Job(id), JobHash.Fields)).ConfigureAwait(false));

    /// <summary>The job and the sequence number of its last event, so a watcher can skip events it has already seen.</summary>
    internal async Task<(JobInfo? Job, long Seq)> GetJobWithSeqAsync(string id)
    {
        var values = await Guard(db => db.HashGetAsync(Keys.Job(id), [.. JobHash.Fields, "seq"])).ConfigureAwait(false);
        return (JobHash.FromRedis(id, values[..^1]), (long?)values[^1] ?? 0);
    }

    internal async Task<byte[]?> GetImageAsync(string id, int index)
    {
        if (index < 0) return null;
        var v = await Guard(db => db.HashGetAsync(Keys.Job(id), ["state", "count", "store"])).ConfigureAwait(false);
        if ((string?)v[0] != "succeeded" || index >= (int?)v[1]) return null;
        if ((string?)v[2] == "folder")
        {
            var path = ImagePath(id, index);
            return File.Exists(path) ? await File.ReadAllBytesAsync(path).ConfigureAwait(false) : null;
        }
        return await Guard(db => db.StringGetAsync(Keys.Image(id, index))).ConfigureAwait(false) is { IsNull: false } png ? (byte[])png! : null;
    }

    internal async Task<bool> CancelAsync(string id) =>
        (long)await EvalAsync(RedisScripts.Cancel, [Keys.Job(id), Keys.Stream],
            [Keys.Events(id).ToString(), Keys.Cancel.ToString(), id, Seconds(Options.ResultTtl)]).ConfigureAwait(false) == 1;

    /// <summary>Stores a job's pictures: in Redis, or in the shared folder when they are large and one is configured. Returns where.</summary>
    internal async Task<string> StoreImagesAsync(string id, IReadOnlyList<byte[]> images)
    {
        if (Options.SharedResultFolder is not null && images.Sum(i => (long)i.Length) > Options.LargeResultBytes)
        {
            Directory.CreateDirectory(Path.Combine(Options.SharedResultFolder, id));
            for (var i = 0; i < images.Count; i++)
            {
                // Written aside and moved, so a reader never sees half a file.
                var path = ImagePath(id, i);
                await File.WriteAllBytesAsync(path + ".part", images[i]).ConfigureAwait(false);
                File.Move(path + ".part", path, overwrite: true);
            }
            return "folder";
        }
        var ttl = Options.ResultTtl;
        await Guard(db => Task.WhenAll(images.Select((png, i) => db.StringSetAsync(Keys.Image(id, i), png, ttl)))).ConfigureAwait(false);
        return "redis";
    }

    private string ImagePath(string id, int index) => Path.Combine(Options.SharedResultFolder!, id, $"{index}.png");
}

