using DiffusersSharp.Serving.Api;
using DiffusersSharp.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace DiffusersSharp.Server;

/// <summary><c>POST /v1/images/generations</c>: generate and wait; diffusers' fields plus the OpenAI Images API's.</summary>
internal static class ImagesEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/images/generations", Generate)
            .WithName("GenerateImages")
            .WithSummary("Generate pictures and wait for them")
            .WithDescription("Takes diffusers' __call__ arguments (prompt, num_inference_steps, guidance_scale, width, height, seed, scheduler, image, mask_image, ...) " +
                             "and the OpenAI Images API's n, size (\"WxH\") and response_format. Answers {created, data: [{b64_json}]} as JSON, " +
                             "or the PNG itself for one picture when Accept asks for image/png.")
            .Accepts<GenerationRequest>("application/json")
            .Produces<ImagesResponse>(StatusCodes.Status200OK)
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status406NotAcceptable)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .RequireRateLimiting(DiffusersServer.GenerationRateLimit);
    }

    private static async Task<IResult> Generate(HttpContext http, IJobService jobs, ServerOptions options, ILogger<DiffusersServer> logger)
    {
        var (request, openAi) = await GenerationBody.ReadAsync(http.Request, options, http.RequestAborted);
        var png = WantsPng(http.Request);
        if (png && request.NumImagesPerPrompt > 1 && !AcceptsJson(http.Request))
            throw new RequestProblemException(StatusCodes.Status406NotAcceptable, "Accept: image/png returns one picture; ask for num_images_per_prompt = 1 or accept application/json.");

        var result = await jobs.GenerateAsync(request, cancellationToken: http.RequestAborted);
        logger.LogInformation("Job {JobId} {State} with {Images} picture(s)", result.Job.Id, result.Job.State, result.Images.Count);

        if (png && result.Images.Count == 1)
            return Results.File(result.Images[0], "image/png");
        var created = (result.Job.FinishedAt ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds();
        var data = openAi.ResponseFormat == "url"
            ? result.Images.Select((_, i) => new ImageData(Url: $"{http.Request.Scheme}://{http.Request.Host}/v1/jobs/{result.Job.Id}/images/{i}")).ToList()
            : result.Images.Select(bytes => new ImageData(B64Json: Convert.ToBase64String(bytes))).ToList();
        return Results.Json(new ImagesResponse(created, data, result.Job), ServerJson.Options);
    }

    /// <summary>True when the client asks for image/png (or image/*) at least as much as for JSON.</summary>
    private static bool WantsPng(HttpRequest request)
    {
        var png = Quality(request, "image/png", "image/*");
        return png > 0 && png >= Quality(request, "application/json", "application/*");
    }

    private static bool AcceptsJson(HttpRequest request) => Quality(request, "application/json", "application/*", "*/*") > 0;

    private static double Quality(HttpRequest request, params string[] types) =>
        request.GetTypedHeaders().Accept.Where(a => types.Contains(a.MediaType.Value)).Select(a => a.Quality ?? 1).DefaultIfEmpty(0).Max();
}
