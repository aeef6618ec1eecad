namespace DiffusersSharp.Serving.Redis;

/// <summary>A denoising step done: <see cref="Step"/> of <see cref="Total"/>.</summary>
public readonly record struct StepProgress(int Step, int Total);

/// <summary>
/// Runs one job to its PNGs on this machine: what a worker does between taking a job from the queue and storing
/// its result. Runs with the same request (seed included) give the same pictures, which is what makes re-running
/// an abandoned job safe. Throws <see cref="RequestValidationException"/> for a request the models cannot run.
/// </summary>
public interface IJobExecutor
{
    Task<IReadOnlyList<byte[]>> ExecuteAsync(GenerationRequest request, IProgress<StepProgress> progress, CancellationToken cancellationToken);
}
