namespace DiffusersSharp.Serving.Redis;

/// <summary>Reports an attempt's steps to Redis on the caller's thread, so they arrive in order (unlike <see cref="Progress{T}"/>).</summary>
internal sealed class StepReporter(RedisJobStore store, string jobId, long attempt) : IProgress<GenerationProgress>
{
    public void Report(GenerationProgress value) => store.ReportProgress(jobId, attempt, value.Step, value.TotalSteps);
}
