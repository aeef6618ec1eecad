using System.Net.ServerSentEvents;
using DiffusersSharp.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace DiffusersSharp.Server;

/// <summary>Asynchronous jobs: submit (202 + Location), state, Server-Sent Events, pictures, cancel.</summary>
internal static class JobsEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/jobs", Submit)
            .WithName("SubmitJob")
            .WithSummary("Queue a generation; answers 202 with the job and its Location")
            .WithDescription("The body is the same as POST /v1/images/generations. An Idempotency-Key header makes retries return the first job.")
            .Accepts<GenerationRequest>("application/json")
            .Produces<JobInfo>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .RequireRateLimiting(DiffusersServer.GenerationRateLimit);

        app.MapGet("/v1/jobs/{id}", Get)
            .WithName("GetJob")
            .WithSummary("A job's state, step of total, timings and error")
            .Produces<JobInfo>()
            .ProducesProblem(StatusCodes.Status404NotFound);

        app.MapGet("/v1/jobs/{id}/events", Events)
            .WithName("JobEvents")
            .WithSummary("Server-Sent Events of a job: its current state, then started, step (i of n), and succeeded, failed or cancelled")
            .Produces<JobEvent>(StatusCodes.Status200OK, "text/event-stream")
            .ProducesProblem(StatusCodes.Status404NotFound);

        app.MapGet("/v1/jobs/{id}/images/{index:int}", Image)
            .WithName("GetJobImage")
            .WithSummary("One picture of a finished job, as PNG")
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .ProducesProblem(StatusCodes.Status404NotFound);

        app.MapDelete("/v1/jobs/{id}", Cancel)
            .WithName("CancelJob")
            .WithSummary("Cancel a queued or running job (a running one stops within one denoising step)")
            .Produces<JobInfo>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
    }

    private static async Task<IResult> Submit(HttpContext http, IJobService jobs, ServerOptions options, ILogger<DiffusersServer> logger)
    {
        var (request, _) = await GenerationBody.ReadAsync(http.Request, options, http.RequestAborted);
        var key = http.Request.Headers["Idempotency-Key"].ToString();
        var job = await jobs.SubmitAsync(request, key.Length > 0 ? key : null, http.RequestAborted);
        logger.LogInformation("Job {JobId} accepted ({State})", job.Id, job.State);
        return Results.Accepted($"/v1/jobs/{job.Id}", job);
    }

    private static async Task<IResult> Get(string id, IJobService jobs, CancellationToken cancellationToken) =>
        await jobs.GetAsync(id, cancellationToken) is { } job ? Results.Ok(job) : NotFound(id);

    private static async Task<IResult> Events(string id, IJobService jobs, CancellationToken cancellationToken)
    {
        if (await jobs.GetAsync(id, cancellationToken) is null) return NotFound(id);
        return TypedResults.ServerSentEvents(Stream(jobs.WatchAsync(id, cancellationToken)));

        static async IAsyncEnumerable<SseItem<JobEvent>> Stream(IAsyncEnumerable<JobEvent> events)
        {
            await foreach (var e in events)
                yield return new SseItem<JobEvent>(e, e.Type);
        }
    }

    private static async Task<IResult> Image(string id, int index, IJobService jobs, CancellationToken cancellationToken) =>
        await jobs.GetImageAsync(id, index, cancellationToken) is { } png
            ? Results.File(png, "image/png")
            : Results.Problem(statusCode: StatusCodes.Status404NotFound, detail: $"Job {id} has no picture {index} (unknown job, not finished, or index out of range).");

    private static async Task<IResult> Cancel(string id, IJobService jobs, ILogger<DiffusersServer> logger, CancellationToken cancellationToken)
    {
        if (await jobs.GetAsync(id, cancellationToken) is null) return NotFound(id);
        if (!await jobs.CancelAsync(id, cancellationToken))
            return Results.Problem(statusCode: StatusCodes.Status409Conflict, detail: $"Job {id} has already ended.");
        logger.LogInformation("Job {JobId} cancelled", id);
        return Results.Ok(await jobs.GetAsync(id, cancellationToken));
    }

    private static IResult NotFound(string id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, detail: $"There is no job '{id}'.");
}
