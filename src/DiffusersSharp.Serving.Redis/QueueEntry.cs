namespace DiffusersSharp.Serving.Redis;

/// <summary>A job's entry in the queue stream, as a worker took it (newly, or claimed from a worker that stopped).</summary>
internal sealed record QueueEntry(string EntryId, string JobId, bool Claimed);
