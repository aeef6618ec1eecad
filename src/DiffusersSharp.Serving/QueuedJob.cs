namespace DiffusersSharp.Serving;

/// <summary>A job waiting in a queue: its id, and the key of the jobs it may run with (null: alone).</summary>
public sealed record QueuedJob(string Id, string? BatchKey);
