namespace DiffusersSharp.Serving;

/// <summary>A denoising step finished: <see cref="Step"/> of <see cref="TotalSteps"/>, counting from 1.</summary>
public sealed record GenerationProgress(int Step, int TotalSteps);
