namespace DiffusersSharp.Serving.Redis;

/// <summary>
/// Runs one job to its PNGs on this machine: what a worker does between taking a job from the queue and storing
/// its result. Runs with the same request (seed included) give the same pictures, which is what makes re-running
/// an abandoned job safe. <see cref="PipelineJobExecutor"/> runs the real pipelines.
/// </summary>
public interface IJobExecutor
{
    Task<IReadOnlyList<byte[]>> ExecuteAsync(GenerationRequest request, IProgress<GenerationProgress> progress, CancellationToken cancellationToken);
}
