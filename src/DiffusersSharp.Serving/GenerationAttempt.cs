namespace DiffusersSharp.Serving;

/// <summary>One pipeline call about to run: its model, task, prompts (one per job), and whether it is the memory-saving retry.</summary>
/// <param name="CancellationToken">The call's token (cancellation, timeout, shutdown), for injected delays that end with it.</param>
public sealed record GenerationAttempt(string Model, PipelineTask Task, IReadOnlyList<string> Prompts, bool MemorySaving, CancellationToken CancellationToken);
