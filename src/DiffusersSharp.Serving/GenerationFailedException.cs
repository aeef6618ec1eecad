namespace DiffusersSharp.Serving;

/// <summary>A job that was accepted but did not give pictures: it failed, timed out or was cancelled by someone else.</summary>
public sealed class GenerationFailedException(string message, JobInfo? job = null, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The job as it ended, when it ran as a job.</summary>
    public JobInfo? Job { get; } = job;

    /// <summary>The error of a job stopped by its timeout, the same from every job service.</summary>
    public static string TimedOut(TimeSpan timeout) => $"The job timed out after {timeout.TotalSeconds:0.###} s.";
}
