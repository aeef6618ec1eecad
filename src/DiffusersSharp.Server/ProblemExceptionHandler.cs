using System.Globalization;
using System.Text.Json;
using DiffusersSharp.Serving;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace DiffusersSharp.Server;

/// <summary>
/// Maps every failure to problem details: validation → 400 with field errors, queue full → 429 with Retry-After,
/// unavailable → 503, body too large → 413, a failed generation → 500 with the job's one-line error; anything else → 500 with a generic message (logged, never sent).
/// </summary>
internal sealed class ProblemExceptionHandler(ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (context.Response.HasStarted) return false;
        switch (exception)
        {
            case RequestProblemException p:
                await Problems.Write(context, p.Status, p.Message, p.Errors);
                break;
            case RequestValidationException v:
                await Problems.Write(context, StatusCodes.Status400BadRequest, v.Message, v.Errors);
                break;
            case QueueFullException q:
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(q.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                await Problems.Write(context, StatusCodes.Status429TooManyRequests, q.Message);
                break;
            case ServiceUnavailableException u:
                context.Response.Headers.RetryAfter = "5";
                await Problems.Write(context, StatusCodes.Status503ServiceUnavailable, u.Message);
                break;
            case GenerationFailedException { Job.State: JobState.Cancelled } f:
                await Problems.Write(context, StatusCodes.Status409Conflict, $"The job was cancelled: {OneLine(f.Message)}");
                break;
            case GenerationFailedException f:
                // The job's own one-line error (e.g. out of memory twice, timed out); the request itself was valid.
                logger.LogWarning("Generation failed: {Error}", f.Message);
                await Problems.Write(context, StatusCodes.Status500InternalServerError, $"The generation failed: {OneLine(f.Message)}");
                break;
            case BadHttpRequestException { InnerException: JsonException j }:
                await WriteJsonError(context, j);
                break;
            case JsonException j:
                await WriteJsonError(context, j);
                break;
            case BadHttpRequestException b:
                await Problems.Write(context, b.StatusCode, b.StatusCode == StatusCodes.Status413PayloadTooLarge
                    ? "The request body is larger than the server accepts."
                    : OneLine(b.Message));
                break;
            case OperationCanceledException when context.RequestAborted.IsCancellationRequested:
                // The client went away; nobody reads the answer.
                context.Response.StatusCode = 499;
                break;
            default:
                logger.LogError(exception, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
                await Problems.Write(context, StatusCodes.Status500InternalServerError, "The server failed to process the request; the error is in its log.");
                break;
        }
        return true;
    }

    private static Task WriteJsonError(HttpContext context, JsonException j)
    {
        var field = FieldName(j.Path);
        var message = field == "body"
            ? $"The body is not valid JSON: {FirstSentence(j.Message)}"
            : $"'{field}' has the wrong type or is malformed.";
        return Problems.Write(context, StatusCodes.Status400BadRequest, message, new Dictionary<string, string[]> { [field] = [message] });
    }

    /// <summary>The field a JSON path points at ("$.guidance_scale" → "guidance_scale"); "body" for the document itself.</summary>
    internal static string FieldName(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return "body";
        var p = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        return p.Length == 0 ? "body" : p;
    }

    private static string FirstSentence(string message)
    {
        var line = OneLine(message);
        var cut = line.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? line[..cut] : line;
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
