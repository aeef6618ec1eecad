namespace DiffusersSharp.Serving;

/// <summary>
/// Called on the worker thread right before each pipeline call; throwing from it makes that call fail as if the
/// pipeline had thrown (tests inject libtorch's out-of-memory errors this way).
/// </summary>
public interface IGenerationFaultInjector
{
    void BeforePipelineCall(GenerationAttempt attempt);
}
