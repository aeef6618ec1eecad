namespace DiffusersSharp.Serving.Api;

/// <summary>The answer of <c>/healthz</c> and <c>/readyz</c>.</summary>
public sealed record HealthStatus(string Status);
