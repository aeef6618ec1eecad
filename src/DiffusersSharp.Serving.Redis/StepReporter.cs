namespace DiffusersSharp.Serving.Redis;

/// <summary>Reports an attempt's steps to Redis on the caller's thread, so they arrive in order (unlike <see cref="Progress{T}"/>).</summary>
internal sealed class StepReporter(RedisJobStore store, string jobId, long attempt) : IProgress<StepProgress>
{
    public void Report(StepProgress value) => store.ReportProgress(jobId, attempt, value.Step, value.Total);
}
