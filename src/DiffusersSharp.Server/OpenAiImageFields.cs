namespace DiffusersSharp.Server;

/// <summary>The OpenAI Images API's fields that <c>POST /v1/images/generations</c> also takes besides diffusers' own.</summary>
internal sealed record OpenAiImageFields
{
    /// <summary>Number of images (OpenAI's name for <c>num_images_per_prompt</c>).</summary>
    public int? N { get; init; }
    /// <summary>"WIDTHxHEIGHT", e.g. "512x512".</summary>
    public string? Size { get; init; }
    /// <summary>"b64_json" (default) or "url" (links to the job's pictures on this server).</summary>
    public string? ResponseFormat { get; init; }
}
