namespace DiffusersSharp.Server;

/// <summary>A request the HTTP layer refuses, with the status to answer and, for 400s, the fields at fault.</summary>
internal sealed class RequestProblemException(int status, string message, IReadOnlyDictionary<string, string[]>? errors = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public IReadOnlyDictionary<string, string[]>? Errors { get; } = errors;
}
