using System.Text.Json;
using StackExchange.Redis;

namespace DiffusersSharp.Serving.Redis;

/// <summary>What workers do: take jobs (new, or abandoned by a stopped worker), run attempts, report, finish.</summary>
public sealed partial class RedisJobStore
{
    /// <summary>The next job no worker has taken, or null.</summary>
    internal async Task<QueueEntry?> ReadNewAsync(string consumer)
    {
        var entries = await Guard(async db =>
        {
            try
            {
                return await db.StreamReadGroupAsync(Keys.Stream, RedisKeys.Group, consumer, StreamPosition.NewMessages, 1).ConfigureAwait(false);
            }
            catch (RedisServerException e) when (e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                await EnsureGroupAsync(db).ConfigureAwait(false);
                return [];
            }
        }).ConfigureAwait(false);
        return entries.Length == 0 ? null : await ToEntryAsync(entries[0], claimed: false).ConfigureAwait(false);
    }

    /// <summary>A job whose worker has not renewed it for the claim idle time (it crashed or was killed), now this consumer's; or null.</summary>
    internal async Task<QueueEntry?> ClaimAbandonedAsync(string consumer)
    {
        var result = await Guard(async db =>
        {
            try
            {
                return await db.StreamAutoClaimAsync(Keys.Stream, RedisKeys.Group, consumer, (long)Options.ClaimIdleTime.TotalMilliseconds, "0-0", 1).ConfigureAwait(false);
            }
            catch (RedisServerException e) when (e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                await EnsureGroupAsync(db).ConfigureAwait(false);
                return StreamAutoClaimResult.Null;
            }
        }).ConfigureAwait(false);
        if (result.IsNull || result.ClaimedEntries.Length == 0) return null;
        await Guard(db => db.StringIncrementAsync(Keys.ClaimsCounter)).ConfigureAwait(false);
        return await ToEntryAsync(result.ClaimedEntries[0], claimed: true).ConfigureAwait(false);
    }

    internal async Task<StartResult> StartAsync(QueueEntry entry, string worker)
    {
        var message = $"The job was abandoned {Options.MaxAttempts} times by workers that stopped mid-job (crashed or killed); it is not tried again.";
        var r = (RedisResult[])(await EvalAsync(RedisScripts.Start, [Keys.Job(entry.JobId), Keys.Stream],
            [entry.EntryId, worker, Options.MaxAttempts, RedisKeys.Group, Keys.Events(entry.JobId).ToString(), Seconds(Options.ResultTtl), message,
             Seconds(Options.JobTtl)]).ConfigureAwait(false))!;
        return (string)r[0]! == "run"
            ? new StartResult(true, (long)r[1], (string)r[2]!, (string?)r[3] is { Length: > 0 } key ? key : null)
            : new StartResult(false, 0, null, null);
    }

    /// <summary>Reports a step without waiting: commands on one connection keep their order, so events do too.</summary>
    internal void ReportProgress(string id, long attempt, int step, int total)
    {
        try
        {
            Db.ScriptEvaluate(RedisScripts.Progress, [Keys.Job(id)], [attempt, step, total, Keys.Events(id).ToString()], CommandFlags.FireAndForget);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            // Progress is best effort; the job goes on while Redis is away.
        }
    }

    /// <summary>Keeps a running attempt from being claimed; false when it no longer runs (cancelled, or taken over).</summary>
    internal async Task<bool> RenewAsync(QueueEntry entry, long attempt, string worker) =>
        (long)await EvalAsync(RedisScripts.Renew, [Keys.Job(entry.JobId), Keys.Stream],
            [attempt, RedisKeys.Group, worker, entry.EntryId]).ConfigureAwait(false) == 1;

    internal async Task<bool> FinishAsync(QueueEntry entry, long attempt, JobState state, int imageCount, string? error, string store, bool cached) =>
        (long)await EvalAsync(RedisScripts.Finish, [Keys.Job(entry.JobId), Keys.Stream],
            [attempt, entry.EntryId, RedisKeys.Group, Keys.Events(entry.JobId).ToString(), Seconds(Options.ResultTtl), JobHash.StateName(state),
             imageCount, error ?? "", store, cached ? "1" : "0"]).ConfigureAwait(false) == 1;

    internal async Task ReleaseAsync(QueueEntry entry, long attempt) =>
        await EvalAsync(RedisScripts.Release, [Keys.Job(entry.JobId)], [attempt, Keys.Events(entry.JobId).ToString()]).ConfigureAwait(false);

    /// <summary>Announces a live worker (and what it runs) for metrics and operators; it counts as live for three heartbeats.</summary>
    internal Task HeartbeatAsync(string worker, string? jobId)
    {
        var info = JsonSerializer.Serialize(new { host = Environment.MachineName, pid = Environment.ProcessId, job = jobId });
        return EvalAsync(RedisScripts.Heartbeat, [Keys.Workers, Keys.Worker(worker), Keys.HeartbeatsCounter],
            [worker, (long)(3 * Options.HeartbeatInterval.TotalMilliseconds), info]);
    }

    /// <summary>A worker stopping: it leaves the live list, and the consumer group once it holds no entry.</summary>
    internal Task RemoveWorkerAsync(string worker) => Guard(async db =>
    {
        await db.SortedSetRemoveAsync(Keys.Workers, worker).ConfigureAwait(false);
        await db.KeyDeleteAsync(Keys.Worker(worker)).ConfigureAwait(false);
        var pending = await db.StreamPendingAsync(Keys.Stream, RedisKeys.Group).ConfigureAwait(false);
        if (!pending.Consumers.Any(c => c.Name == worker && c.PendingMessageCount > 0))
            await db.StreamDeleteConsumerAsync(Keys.Stream, RedisKeys.Group, worker).ConfigureAwait(false);
    });

    internal Task EnsureGroupAsync() => Guard(EnsureGroupAsync);

    private async Task EnsureGroupAsync(IDatabase db)
    {
        try
        {
            await db.StreamCreateConsumerGroupAsync(Keys.Stream, RedisKeys.Group, "0", createStream: true).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            // Another node created it first.
        }
    }

    /// <summary>The entry's job id; an entry without one (deleted while pending) is acknowledged and skipped.</summary>
    private async Task<QueueEntry?> ToEntryAsync(StreamEntry entry, bool claimed)
    {
        var id = entry.IsNull ? RedisValue.Null : entry["id"];
        if (!id.IsNull) return new QueueEntry(entry.Id!, id!, claimed);
        await Guard(db => db.StreamAcknowledgeAsync(Keys.Stream, RedisKeys.Group, entry.Id)).ConfigureAwait(false);
        return null;
    }
}
