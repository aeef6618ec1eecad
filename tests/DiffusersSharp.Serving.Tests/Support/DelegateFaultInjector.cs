namespace DiffusersSharp.Serving.Tests.Support;

/// <summary>A fault injector that runs a test's code before every pipeline call.</summary>
internal sealed class DelegateFaultInjector(Action<GenerationAttempt> before) : IGenerationFaultInjector
{
    public void BeforePipelineCall(GenerationAttempt attempt) => before(attempt);
}
