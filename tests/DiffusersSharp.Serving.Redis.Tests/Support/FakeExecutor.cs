using System.Collections.Concurrent;
using System.Text;

namespace DiffusersSharp.Serving.Redis.Tests.Support;

/// <summary>
/// An executor without a model: its "PNGs" are the prompt, seed and picture index as text (so each job's result is
/// its own and the same for the same seed), it reports every step, waits <see cref="StepDelay"/> per step and
/// counts runs per prompt.
/// </summary>
public sealed class FakeExecutor : IJobExecutor
{
    public TimeSpan StepDelay { get; init; }

    /// <summary>Set when the first step of any run has been reported.</summary>
    public TaskCompletionSource FirstStep { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ConcurrentDictionary<string, int> Runs { get; } = new();

    public int TotalRuns => Runs.Values.Sum();

    public static byte[] Picture(string? prompt, long? seed, int index) => Encoding.UTF8.GetBytes($"{prompt}|{seed}|{index}");

    public async Task<IReadOnlyList<byte[]>> ExecuteAsync(GenerationRequest request, IProgress<GenerationProgress> progress, CancellationToken cancellationToken)
    {
        Runs.AddOrUpdate(request.Prompt ?? "", 1, (_, n) => n + 1);
        if (request.Prompt == "fail") throw new InvalidOperationException("This prompt always fails.");
        var steps = request.NumInferenceSteps ?? 2;
        for (var i = 1; i <= steps; i++)
        {
            if (StepDelay > TimeSpan.Zero) await Task.Delay(StepDelay, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
            progress.Report(new GenerationProgress(i, steps));
            FirstStep.TrySetResult();
        }
        return Enumerable.Range(0, request.NumImagesPerPrompt ?? 1).Select(i => Picture(request.Prompt, request.Seed, i)).ToArray();
    }
}
