namespace DiffusersSharp.Serving.Redis.Tests.Support;

/// <summary>Reports on the caller's thread, so a test sees reports in order and before the call returns.</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
