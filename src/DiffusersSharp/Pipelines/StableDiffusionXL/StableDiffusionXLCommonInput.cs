using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusionXL;

/// <summary>
/// The arguments both SDXL pipelines take, named after diffusers' <c>StableDiffusionXLPipeline.__call__</c>.
/// Give either <see cref="Prompt"/> or <see cref="PromptEmbeds"/> (with <see cref="PooledPromptEmbeds"/>); a negative
/// prompt list is one per prompt, or one for all.
/// </summary>
public abstract record StableDiffusionXLCommonInput
{
    public IReadOnlyList<string>? Prompt { get; init; }
    /// <summary>Prompts for tokenizer_2 / text_encoder_2, one per prompt; <see cref="Prompt"/> is used when null.</summary>
    public IReadOnlyList<string>? Prompt2 { get; init; }
    /// <summary>Null with <c>force_zeros_for_empty_prompt</c> (SDXL's default) makes the unconditional embeddings zeros.</summary>
    public IReadOnlyList<string>? NegativePrompt { get; init; }
    /// <summary>Negative prompts for text_encoder_2; <see cref="NegativePrompt"/> is used when null.</summary>
    public IReadOnlyList<string>? NegativePrompt2 { get; init; }
    public int NumInferenceSteps { get; init; } = 50;
    /// <summary>Fraction in (0, 1) of the schedule to run before stopping early, leaving noise for a refiner to take over.</summary>
    public double? DenoisingEnd { get; init; }
    public double GuidanceScale { get; init; } = 5.0;
    public int NumImagesPerPrompt { get; init; } = 1;
    /// <summary>DDIM's η; other schedulers ignore it.</summary>
    public double Eta { get; init; }
    /// <summary>Seed of a CPU generator, as <c>torch.Generator("cpu").manual_seed(seed)</c>; ignored when <see cref="Generator"/> is set.</summary>
    public long? Seed { get; init; }
    /// <summary>A generator the caller owns (e.g. one shared over several calls).</summary>
    public Generator? Generator { get; init; }
    /// <summary>Initial latents; drawn from the generator (text-to-image) or made from the image (image-to-image) when null.</summary>
    public Tensor? Latents { get; init; }
    /// <summary>[B, 77, D1 + D2] penultimate hidden states of both text encoders, concatenated.</summary>
    public Tensor? PromptEmbeds { get; init; }
    public Tensor? NegativePromptEmbeds { get; init; }
    /// <summary>[B, projection_dim] projected pooled output of text_encoder_2; required with <see cref="PromptEmbeds"/>.</summary>
    public Tensor? PooledPromptEmbeds { get; init; }
    public Tensor? NegativePooledPromptEmbeds { get; init; }
    public OutputType OutputType { get; init; } = OutputType.Image;
    public double GuidanceRescale { get; init; }
    /// <summary>SDXL micro-conditioning (Podell et al., 2023, §2.2): the size the image seems to come from; default (height, width).</summary>
    public (int Height, int Width)? OriginalSize { get; init; }
    public (int Top, int Left) CropsCoordsTopLeft { get; init; }
    /// <summary>Default (height, width).</summary>
    public (int Height, int Width)? TargetSize { get; init; }
    public (int Height, int Width)? NegativeOriginalSize { get; init; }
    public (int Top, int Left) NegativeCropsCoordsTopLeft { get; init; }
    public (int Height, int Width)? NegativeTargetSize { get; init; }
    /// <summary>Layers to skip before SDXL's penultimate layer (diffusers' <c>clip_skip</c>).</summary>
    public int? ClipSkip { get; init; }
    public StepEndCallback? CallbackOnStepEnd { get; init; }
}
