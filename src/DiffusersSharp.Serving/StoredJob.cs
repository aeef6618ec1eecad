namespace DiffusersSharp.Serving;

/// <summary>A job as the store keeps it: its state, the request it runs, and the idempotency key it was submitted with.</summary>
public sealed record StoredJob(JobInfo Info, GenerationRequest Request, string? IdempotencyKey);
