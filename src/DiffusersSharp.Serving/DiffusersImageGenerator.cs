using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;

#pragma warning disable MEAI001 // IImageGenerator is experimental in Microsoft.Extensions.AI.Abstractions.

namespace DiffusersSharp.Serving;

/// <summary>
/// Microsoft.Extensions.AI's <see cref="IImageGenerator"/> over DiffusersSharp: a prompt (and, to edit, an original
/// image) becomes a <see cref="GenerationRequest"/> run by a <see cref="PipelineManager"/> directly or by an
/// <see cref="IJobService"/> through its queue; the pictures come back as PNG <see cref="DataContent"/>.
/// </summary>
/// <remarks>
/// <see cref="ImageGenerationOptions.Count"/> is num_images_per_prompt, <see cref="ImageGenerationOptions.ImageSize"/>
/// width × height, <see cref="ImageGenerationOptions.ModelId"/> the model folder. Other diffusers arguments go in
/// <see cref="ImageGenerationOptions.AdditionalProperties"/> under their diffusers names: <c>seed</c>,
/// <c>num_inference_steps</c>, <c>guidance_scale</c>, <c>negative_prompt</c>, <c>scheduler</c>, <c>strength</c>,
/// <c>guidance_rescale</c>, <c>clip_skip</c>. Only PNG data is returned (<see cref="ImageGenerationResponseFormat.Data"/>,
/// or <see cref="ImageGenerationResponseFormat.Uri"/> as a data: URI).
/// </remarks>
public sealed class DiffusersImageGenerator : IImageGenerator
{
    private readonly Func<GenerationRequest, CancellationToken, Task<IReadOnlyList<byte[]>>> _run;
    private readonly ImageGeneratorMetadata _metadata;

    /// <summary>Runs requests at once on the manager's pipelines.</summary>
    public DiffusersImageGenerator(PipelineManager manager, string? defaultModelId = null)
        : this(async (request, ct) => (await manager.GenerateAsync(request, null, ct).ConfigureAwait(false)).Images, defaultModelId)
    {
    }

    /// <summary>Runs requests as jobs of the service (queued, batched, cached).</summary>
    public DiffusersImageGenerator(IJobService service, string? defaultModelId = null)
        : this(async (request, ct) => (await service.GenerateAsync(request, null, ct).ConfigureAwait(false)).Images, defaultModelId)
    {
    }

    private DiffusersImageGenerator(Func<GenerationRequest, CancellationToken, Task<IReadOnlyList<byte[]>>> run, string? defaultModelId)
    {
        _run = run;
        _metadata = new ImageGeneratorMetadata("diffuserssharp", null, defaultModelId);
    }

    public async Task<ImageGenerationResponse> GenerateAsync(ImageGenerationRequest request, ImageGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var images = await _run(ToGenerationRequest(request, options), cancellationToken).ConfigureAwait(false);
        return new ImageGenerationResponse(images.Select(png => (AIContent)new DataContent(png, "image/png")).ToList());
    }

    /// <summary>The service request an <see cref="IImageGenerator"/> call stands for.</summary>
    public GenerationRequest ToGenerationRequest(ImageGenerationRequest request, ImageGenerationOptions? options)
    {
        if (options?.ResponseFormat == ImageGenerationResponseFormat.Hosted)
            throw new NotSupportedException("DiffusersImageGenerator returns image data (a PNG DataContent), not hosted images.");
        if (options?.MediaType is { } mediaType && !string.Equals(mediaType, "image/png", StringComparison.OrdinalIgnoreCase))
            throw new NotSupportedException($"DiffusersImageGenerator writes image/png, not {mediaType}.");
        var original = request.OriginalImages?.OfType<DataContent>().FirstOrDefault();
        var extra = options?.AdditionalProperties;
        return new GenerationRequest
        {
            Model = options?.ModelId ?? _metadata.DefaultModelId,
            Prompt = request.Prompt,
            Image = original?.Data.ToArray(),
            NumImagesPerPrompt = options?.Count,
            Width = options?.ImageSize?.Width,
            Height = options?.ImageSize?.Height,
            Seed = Number(extra, "seed", Convert.ToInt64),
            NumInferenceSteps = Number(extra, "num_inference_steps", Convert.ToInt32),
            GuidanceScale = Number(extra, "guidance_scale", Convert.ToDouble),
            GuidanceRescale = Number(extra, "guidance_rescale", Convert.ToDouble),
            ClipSkip = Number(extra, "clip_skip", Convert.ToInt32),
            Strength = Number(extra, "strength", Convert.ToDouble),
            NegativePrompt = Text(extra, "negative_prompt"),
            Scheduler = Text(extra, "scheduler"),
        };
    }

    private static string? Text(AdditionalPropertiesDictionary? extra, string key) =>
        extra is not null && extra.TryGetValue(key, out var value) && value is not null
            ? value is JsonElement json && json.ValueKind == JsonValueKind.String ? json.GetString() : value.ToString()
            : null;

    private static T? Number<T>(AdditionalPropertiesDictionary? extra, string key, Func<object, IFormatProvider, T> convert) where T : struct
    {
        if (extra is null || !extra.TryGetValue(key, out var value) || value is null) return null;
        if (value is JsonElement json) value = json.ValueKind == JsonValueKind.String ? json.GetString()! : json.GetRawText();
        try
        {
            return convert(value, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            throw new RequestValidationException(key, $"cannot be read from '{value}': {e.Message}");
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ImageGeneratorMetadata) ? _metadata
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose() { }
}
