namespace DiffusersSharp.Serving.Tests.Support;

/// <summary>One pipeline manager for a test class, so the tiny models load once.</summary>
public sealed class SharedManager : IDisposable
{
    public PipelineManager Manager { get; } = new(TestModels.Options());

    public void Dispose() => Manager.Dispose();
}
