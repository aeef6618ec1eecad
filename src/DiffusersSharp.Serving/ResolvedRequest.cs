using static TorchSharp.torch;

namespace DiffusersSharp.Serving;

/// <summary>
/// A request that passed validation, with every default filled in: what one generation runs. Images stay encoded
/// (they were decoded once to check them).
/// </summary>
public sealed record ResolvedRequest
{
    public required GenerationRequest Request { get; init; }
    public required ModelInfo Model { get; init; }
    /// <summary>The ControlNet of a <see cref="PipelineTask.ControlNet"/> request.</summary>
    public ModelInfo? ControlNet { get; init; }
    public required PipelineTask Task { get; init; }
    public ScalarType? DType { get; init; }
    public required string Device { get; init; }
    public required string Prompt { get; init; }
    public string? NegativePrompt { get; init; }
    public required int NumInferenceSteps { get; init; }
    public required double GuidanceScale { get; init; }
    public double GuidanceRescale { get; init; }
    public int? ClipSkip { get; init; }
    /// <summary>The output size (for image-to-image, the image's size rounded down to a multiple of the VAE scale factor).</summary>
    public required int Width { get; init; }
    public required int Height { get; init; }
    public int NumImagesPerPrompt { get; init; } = 1;
    /// <summary>The request's seed; null draws a random one when it runs.</summary>
    public long? Seed { get; init; }
    public required SchedulerSpec Scheduler { get; init; }
    /// <summary>The scheduler draws noise at its steps (ancestral and SDE samplers), so batched jobs would not get their own pictures.</summary>
    public bool SchedulerIsStochastic { get; init; }
    public double Strength { get; init; } = 1.0;
    public double ControlNetConditioningScale { get; init; } = 1.0;
    public double ControlGuidanceStart { get; init; }
    public double ControlGuidanceEnd { get; init; } = 1.0;
    public (int Height, int Width)? OriginalSize { get; init; }
    public (int Height, int Width)? TargetSize { get; init; }
    public (int Top, int Left) CropsCoordsTopLeft { get; init; }

    /// <summary>
    /// Requests with equal keys can share one pipeline call: text-to-image with the same model, dtype, device, size,
    /// steps, num_images_per_prompt, guidance (scale and rescale), clip_skip, scheduler and options, SDXL
    /// micro-conditioning, and for SDXL either all or none with a negative prompt (SDXL's missing negative is zeros, while
    /// Stable Diffusion reads it as ""); their
    /// prompts, negative prompts and seeds may differ. Null (never batched) for tasks with input images and for
    /// stochastic schedulers, whose per-step noise comes from one generator per call.
    /// </summary>
    public string? BatchKey { get; init; }

    /// <summary>SHA-256 of the canonical form of every parameter and of the input images; null without a seed (not deterministic).</summary>
    public string? CacheKey { get; init; }

    /// <summary>Denoising steps the pipeline runs (image-to-image and inpainting run ⌊steps × strength⌋).</summary>
    public int TotalSteps => Task is PipelineTask.ImageToImage or PipelineTask.Inpainting ? (int)(NumInferenceSteps * Strength) : NumInferenceSteps;

    /// <summary>Pictures one run gives.</summary>
    public int ImageCount => NumImagesPerPrompt;
}
