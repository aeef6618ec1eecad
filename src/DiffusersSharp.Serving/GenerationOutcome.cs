namespace DiffusersSharp.Serving;

/// <summary>What one request of a batch got: its pictures, or the error that failed it alone.</summary>
public sealed record GenerationOutcome(GenerationOutput? Output, Exception? Error);
