namespace DiffusersSharp.Serving.Redis;

/// <summary>What an API node learns from validating a request: its result-cache key (null when not deterministic) and its step count.</summary>
public sealed record AcceptedRequest(string? CacheKey, int TotalSteps)
{
    /// <summary>Validation by the service's own validator (models resolve in the API node's models folder).</summary>
    public static Func<GenerationRequest, AcceptedRequest> From(GenerationRequestValidator validator) => request =>
    {
        var resolved = validator.Validate(request);
        return new AcceptedRequest(resolved.CacheKey, resolved.TotalSteps);
    };
}
