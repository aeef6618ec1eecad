using System.Net;

namespace DiffusersSharp.Client;

/// <summary>The server refused or failed a request; carries its problem details (status, detail, field errors) and Retry-After.</summary>
public sealed class DiffusersApiException(HttpStatusCode status, string? title, string detail, IReadOnlyDictionary<string, string[]> errors, TimeSpan? retryAfter)
    : Exception($"{(int)status} {title}: {detail}")
{
    public HttpStatusCode Status { get; } = status;
    public string? Title { get; } = title;
    public string Detail { get; } = detail;
    /// <summary>Field errors of a 400, by field name (diffusers' parameter names).</summary>
    public IReadOnlyDictionary<string, string[]> Errors { get; } = errors;
    /// <summary>When to retry after a 429 or 503.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}
