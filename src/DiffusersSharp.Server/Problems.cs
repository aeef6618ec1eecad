using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace DiffusersSharp.Server;

/// <summary>Writes RFC 7807 problem details: a title from the status, one-line detail, and field errors for 400s.</summary>
internal static class Problems
{
    public static Task Write(HttpContext context, int status, string detail, IReadOnlyDictionary<string, string[]>? errors = null)
    {
        ProblemDetails problem = errors is null
            ? new ProblemDetails()
            : new HttpValidationProblemDetails(errors.ToDictionary(e => e.Key, e => e.Value));
        problem.Status = status;
        problem.Detail = detail;
        // Writes JSON problem details even when Accept names only image/png.
        return TypedResults.Problem(problem).ExecuteAsync(context);
    }

    /// <summary>A 400 naming one field.</summary>
    public static RequestProblemException Field(string field, string message) => new(StatusCodes.Status400BadRequest, message, new Dictionary<string, string[]> { [field] = [message] });
}
