namespace DiffusersSharp.Serving.Redis;

/// <summary>
/// What an API node learns from validating a request: its result-cache key (null when not deterministic), its step
/// count, and the model it resolves to (so a worker runs the model the API node chose, whatever its own default).
/// </summary>
public sealed record AcceptedRequest(string? CacheKey, int TotalSteps, string? Model = null)
{
    /// <summary>Validation by the service's own validator (models resolve in the API node's models folder).</summary>
    public static Func<GenerationRequest, AcceptedRequest> From(GenerationRequestValidator validator) => request =>
    {
        var resolved = validator.Validate(request);
        return new AcceptedRequest(resolved.CacheKey, resolved.TotalSteps, resolved.Model.Name);
    };
}
