namespace DiffusersSharp.Serving;

/// <summary>One request of a batch, with where its step progress goes.</summary>
public sealed record GenerationItem(ResolvedRequest Request, IProgress<GenerationProgress>? Progress = null);
