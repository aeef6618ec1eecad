using DiffusersSharp.Models;
using DiffusersSharp.Pipelines.StableDiffusion;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

/// <summary>Input checks shared by pipelines; each message names the argument and what is allowed.</summary>
public static class PipelineChecks
{
    /// <summary>
    /// What diffusers' Stable Diffusion and SDXL text-to-image <c>check_inputs</c> ask height and width to be a multiple
    /// of, whatever the VAE (its inpainting pipeline asks for the VAE scale factor instead).
    /// </summary>
    public const int TextToImageSizeMultiple = 8;

    /// <summary>
    /// A text-to-image call's output size: the one given, else the UNet's sample_size × the VAE scale factor
    /// (diffusers' <c>default_sample_size * vae_scale_factor</c>); a multiple of <see cref="TextToImageSizeMultiple"/>.
    /// </summary>
    public static (int Height, int Width) OutputSize(int? height, int? width, UNet2DConditionModel unet, int vaeScaleFactor)
    {
        int Default(int? sampleSize, string name) =>
            sampleSize is { } s ? s * vaeScaleFactor : throw new ArgumentException($"The UNet's config has no sample_size: give {name} explicitly.");
        var size = (Height: height ?? Default(unet.SampleSize?.Height, "height"), Width: width ?? Default(unet.SampleSize?.Width, "width"));
        Size(size.Height, size.Width, TextToImageSizeMultiple);
        return size;
    }

    public static void Size(int height, int width, int multiple)
    {
        if (height <= 0 || width <= 0)
            throw new ArgumentException($"height and width must be positive, got {height}x{width}.");
        if (height % multiple != 0 || width % multiple != 0)
            throw new ArgumentException($"height and width have to be divisible by {multiple} but are {height} and {width}.");
    }

    public static void Common(int steps, double guidanceScale, int numImagesPerPrompt, double guidanceRescale, int? clipSkip, int textEncoderLayers)
    {
        if (steps < 1)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, $"num_inference_steps must be at least 1, got {steps}.");
        if (guidanceScale < 0 || double.IsNaN(guidanceScale))
            throw new ArgumentOutOfRangeException(nameof(guidanceScale), guidanceScale, $"guidance_scale must be 0 or more, got {guidanceScale}.");
        if (numImagesPerPrompt < 1)
            throw new ArgumentOutOfRangeException(nameof(numImagesPerPrompt), numImagesPerPrompt, $"num_images_per_prompt must be at least 1, got {numImagesPerPrompt}.");
        if (guidanceRescale < 0 || guidanceRescale > 1)
            throw new ArgumentOutOfRangeException(nameof(guidanceRescale), guidanceRescale, $"guidance_rescale must be in [0, 1], got {guidanceRescale}.");
        if (clipSkip is { } skip && (skip < 0 || skip >= textEncoderLayers))
            throw new ArgumentOutOfRangeException(nameof(clipSkip), skip, $"clip_skip must be in [0, {textEncoderLayers - 1}] for this text encoder, got {skip}.");
    }

    /// <summary>
    /// The image-to-image strength: in [0, 1], and large enough that at least one of the
    /// <paramref name="steps"/> is run (diffusers' inpainting pipeline refuses zero steps; its img2img fails later).
    /// </summary>
    /// <param name="steps">num_inference_steps, or null where the strength does not pick the steps (SDXL's denoising_start).</param>
    public static void Strength(double strength, int? steps)
    {
        if (!(strength >= 0 && strength <= 1))
            throw new ArgumentOutOfRangeException(nameof(strength), strength, $"strength must be in [0, 1], got {strength}.");
        if (steps is { } n && n >= 1 && (int)(n * strength) < 1)
            throw new ArgumentException(
                $"strength {strength} × num_inference_steps {n} leaves no denoising step: raise strength or num_inference_steps so that their product is at least 1.");
    }

    /// <summary>The checks every Stable Diffusion call shares (<see cref="Common"/>, <see cref="PromptBatchSize"/>); returns the prompt batch size.</summary>
    /// <param name="textEncoderLayers">The text encoder's hidden layers (the fewest, with two encoders), which bound clip_skip.</param>
    public static int CommonInputs(StableDiffusionInputBase input, int textEncoderLayers)
    {
        Common(input.NumInferenceSteps, input.GuidanceScale, input.NumImagesPerPrompt, input.GuidanceRescale, input.ClipSkip, textEncoderLayers);
        return PromptBatchSize(input.Prompt, input.NegativePrompt, input.PromptEmbeds, input.NegativePromptEmbeds);
    }

    /// <summary>Checks prompts against embeddings and returns the batch size (number of prompts).</summary>
    public static int PromptBatchSize(IReadOnlyList<string>? prompt, IReadOnlyList<string>? negativePrompt, Tensor? promptEmbeds, Tensor? negativePromptEmbeds)
    {
        if (prompt is not null && promptEmbeds is not null)
            throw new ArgumentException("Give either prompt or prompt_embeds, not both.");
        if (prompt is null && promptEmbeds is null)
            throw new ArgumentException("Give a prompt or prompt_embeds.");
        if (prompt is { Count: 0 })
            throw new ArgumentException("prompt is an empty list.");
        if (negativePrompt is not null && negativePromptEmbeds is not null)
            throw new ArgumentException("Give either negative_prompt or negative_prompt_embeds, not both.");
        var batch = prompt?.Count ?? (int)promptEmbeds!.shape[0];
        if (negativePrompt is not null && negativePrompt.Count != 1 && negativePrompt.Count != batch)
            throw new ArgumentException($"negative_prompt has {negativePrompt.Count} entries but prompt has {batch}: give one negative prompt, or one per prompt.");
        if (promptEmbeds is not null && negativePromptEmbeds is not null && !promptEmbeds.shape.SequenceEqual(negativePromptEmbeds.shape))
            throw new ArgumentException($"prompt_embeds [{string.Join(", ", promptEmbeds.shape)}] and negative_prompt_embeds [{string.Join(", ", negativePromptEmbeds.shape)}] must have the same shape.");
        return batch;
    }
}
