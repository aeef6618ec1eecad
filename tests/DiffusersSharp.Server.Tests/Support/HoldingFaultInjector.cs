using DiffusersSharp.Serving;

namespace DiffusersSharp.Server.Tests.Support;

/// <summary>
/// Holds pipeline calls on the worker: those for <see cref="UntilReleased"/> (or every call, with
/// <paramref name="holdEveryCall"/>) until <see cref="Release"/>, those for <see cref="UntilStopped"/> until the call
/// is cancelled (shutdown). Lets a test keep jobs running or queued at will.
/// </summary>
internal sealed class HoldingFaultInjector(bool holdEveryCall = false) : IGenerationFaultInjector, IDisposable
{
    public const string UntilReleased = "held until released";
    public const string UntilStopped = "held until stopped";

    private readonly ManualResetEventSlim _released = new();

    public void Release() => _released.Set();

    public void BeforePipelineCall(GenerationAttempt attempt)
    {
        if (holdEveryCall || attempt.Prompts.Contains(UntilReleased)) _released.Wait(attempt.CancellationToken);
        if (attempt.Prompts.Contains(UntilStopped)) attempt.CancellationToken.WaitHandle.WaitOne();
        attempt.CancellationToken.ThrowIfCancellationRequested();
    }

    public void Dispose() => _released.Dispose();
}
