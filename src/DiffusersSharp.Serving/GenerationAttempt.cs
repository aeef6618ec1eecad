namespace DiffusersSharp.Serving;

/// <summary>One pipeline call about to run: its model, task, prompts (one per job), and whether it is the memory-saving retry.</summary>
public sealed record GenerationAttempt(string Model, PipelineTask Task, IReadOnlyList<string> Prompts, bool MemorySaving);
