namespace DiffusersSharp.Serving.Redis;

/// <summary>What the submit script answered: <see cref="Outcome"/> 1 queued (Value: waiting jobs), 0 a repeated idempotency key (Value: the first job's id), -1 queue full.</summary>
internal readonly record struct SubmitResult(int Outcome, string Value);
