namespace DiffusersSharp.Serving;

/// <summary>What a request may ask for; <see cref="GenerationRequestValidator"/> refuses anything beyond before any work starts.</summary>
public sealed record ValidationLimits
{
    /// <summary>Largest num_inference_steps.</summary>
    public int MaxSteps { get; init; } = 150;

    /// <summary>Largest output width × height.</summary>
    public long MaxPixels { get; init; } = 2048L * 2048;

    /// <summary>Largest num_images_per_prompt.</summary>
    public int MaxImagesPerPrompt { get; init; } = 8;

    /// <summary>Largest guidance_scale (diffusers takes any; beyond a few tens pictures burn out).</summary>
    public double MaxGuidanceScale { get; init; } = 50;

    /// <summary>Largest controlnet_conditioning_scale.</summary>
    public double MaxControlNetConditioningScale { get; init; } = 5;

    /// <summary>Largest prompt or negative prompt, in characters (the tokenizer keeps 77 tokens anyway).</summary>
    public int MaxPromptLength { get; init; } = 4000;

    /// <summary>Largest encoded input image.</summary>
    public int MaxInputImageBytes { get; init; } = 32 << 20;

    /// <summary>Largest input image width × height, read from its header before it is decoded.</summary>
    public long MaxInputImagePixels { get; init; } = 4096L * 4096;
}
