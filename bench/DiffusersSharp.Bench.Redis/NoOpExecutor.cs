using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Redis;

namespace DiffusersSharp.Bench.Redis;

/// <summary>Returns one tiny picture at once: what is left of a job's latency is the queue's.</summary>
internal sealed class NoOpExecutor : IJobExecutor
{
    private static readonly byte[] Png = [137, 80, 78, 71, 13, 10, 26, 10];

    public Task<IReadOnlyList<byte[]>> ExecuteAsync(GenerationRequest request, IProgress<GenerationProgress> progress, CancellationToken cancellationToken)
    {
        progress.Report(new GenerationProgress(1, 1));
        return Task.FromResult<IReadOnlyList<byte[]>>([Png]);
    }
}
