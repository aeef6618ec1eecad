namespace DiffusersSharp.Serving.Tests.Support;

/// <summary>An IProgress that reports on the calling thread (Progress&lt;T&gt; posts, so a test could not act within the step).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
