namespace DiffusersSharp.Serving.Redis;

/// <summary>Runs jobs on this machine's pipelines (validation, batching-free single runs and the OOM fallback are the manager's).</summary>
public sealed class PipelineJobExecutor(PipelineManager manager) : IJobExecutor
{
    public async Task<IReadOnlyList<byte[]>> ExecuteAsync(GenerationRequest request, IProgress<GenerationProgress> progress, CancellationToken cancellationToken) =>
        (await manager.GenerateAsync(request, progress, cancellationToken).ConfigureAwait(false)).Images;
}
