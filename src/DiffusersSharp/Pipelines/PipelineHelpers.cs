using DiffusersSharp.Models;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

/// <summary>diffusers' <c>encode_prompt</c> for pipelines with one CLIP text encoder.</summary>
public static class PromptEncoding
{
    /// <returns>Prompt embeddings [B·K, 77, D] and, with guidance, the negative ones (null otherwise).</returns>
    public static (Tensor Prompt, Tensor? Negative) EncodePrompt(CLIPTokenizer tokenizer, CLIPTextModel textEncoder,
        IReadOnlyList<string>? prompt, IReadOnlyList<string>? negativePrompt, Tensor? promptEmbeds, Tensor? negativePromptEmbeds,
        int numImagesPerPrompt, bool doClassifierFreeGuidance, int? clipSkip, Device device, ScalarType dtype)
    {
        if (promptEmbeds is null)
        {
            using var ids = tokenizer.CallTensor(prompt!, tokenizer.ModelMaxLength);
            if (clipSkip is null)
            {
                using var output = textEncoder.Forward(ids);
                promptEmbeds = output.LastHiddenState.clone();
            }
            else
            {
                // The hidden state clip_skip layers before the last, through the final layer norm as diffusers does.
                using var output = textEncoder.Forward(ids, outputHiddenStates: true);
                var hidden = output.HiddenStates![output.HiddenStates.Count - (clipSkip.Value + 1)];
                promptEmbeds = textEncoder.TextModel.FinalLayerNorm.forward(hidden);
            }
        }
        promptEmbeds = promptEmbeds.to(dtype, device);
        var batch = promptEmbeds.shape[0];
        promptEmbeds = RepeatPerPrompt(promptEmbeds, numImagesPerPrompt);

        if (!doClassifierFreeGuidance) return (promptEmbeds, null);
        if (negativePromptEmbeds is null)
        {
            IReadOnlyList<string> uncond = negativePrompt switch
            {
                null => Enumerable.Repeat("", (int)batch).ToArray(),
                { Count: 1 } when batch > 1 => Enumerable.Repeat(negativePrompt[0], (int)batch).ToArray(),
                _ => negativePrompt,
            };
            using var ids = tokenizer.CallTensor(uncond, (int)promptEmbeds.shape[1]);
            using var output = textEncoder.Forward(ids);
            negativePromptEmbeds = output.LastHiddenState.clone();
        }
        negativePromptEmbeds = RepeatPerPrompt(negativePromptEmbeds.to(dtype, device), numImagesPerPrompt);
        return (promptEmbeds, negativePromptEmbeds);
    }

    /// <summary>
    /// [B, ...] → [B·K, ...] with each prompt's K copies together, as diffusers orders them (its repeat-then-view);
    /// for sequence embeddings [B, L, D] and pooled ones [B, D] alike.
    /// </summary>
    public static Tensor RepeatPerPrompt(Tensor embeds, int k) =>
        k == 1 ? embeds : embeds.repeat_interleave(k, dim: 0);
}

/// <summary>diffusers' <c>prepare_latents</c> / <c>randn_tensor</c>.</summary>
public static class LatentNoise
{
    /// <summary>
    /// Draws N(0,1) latents with <paramref name="generator"/> on the generator's device (a CPU generator draws on the CPU
    /// and the result moves to <paramref name="device"/>, as diffusers does), or takes the caller's, then scales by the
    /// scheduler's initial sigma.
    /// </summary>
    public static Tensor Prepare(long[] shape, ScalarType dtype, Device device, Generator? generator, Tensor? latents, double initNoiseSigma)
    {
        Tensor noise;
        if (latents is null)
            noise = RandnTensor(shape, dtype, device, generator);
        else
        {
            if (!latents.shape.SequenceEqual(shape))
                throw new ArgumentException($"Unexpected latents shape [{string.Join(", ", latents.shape)}]; expected [{string.Join(", ", shape)}].");
            noise = latents.to(dtype, device);
        }
        using (noise)
            return noise * initNoiseSigma;
    }

    public static Tensor RandnTensor(long[] shape, ScalarType dtype, Device device, Generator? generator)
    {
        var drawDevice = generator?.device ?? device;
        var draw = randn(shape, dtype: dtype, device: drawDevice, generator: generator);
        if (drawDevice == device) return draw;
        using (draw) return draw.to(device);
    }
}

/// <summary>What the image-to-image and inpainting pipelines share: the strength schedule and image latents.</summary>
public static class ImageToImage
{
    /// <summary>
    /// diffusers' <c>get_timesteps</c>: skips the first <c>1 − strength</c> of the schedule (after
    /// <see cref="SchedulerMixin.SetTimesteps"/>) and tells the scheduler where stepping starts.
    /// </summary>
    /// <returns>The timesteps to run (a view of the scheduler's) and the denoising steps they make.</returns>
    public static (Tensor Timesteps, int Steps) StrengthTimesteps(SchedulerMixin scheduler, int numInferenceSteps, double strength)
    {
        // Python's int(n * strength) truncates the double product, as the cast does.
        var initTimestep = Math.Min((int)(numInferenceSteps * strength), numInferenceSteps);
        var tStart = Math.Max(numInferenceSteps - initTimestep, 0);
        var begin = tStart * scheduler.Order;
        var all = scheduler.Timesteps;
        var timesteps = all.narrow(0, begin, all.shape[0] - begin);
        scheduler.SetBeginIndex(begin);
        return (timesteps, numInferenceSteps - tStart);
    }

    /// <summary>
    /// diffusers' <c>_encode_vae_image</c>: a sample of the VAE posterior (noise drawn from <paramref name="generator"/>,
    /// as <c>retrieve_latents</c>) times the scaling factor, in <paramref name="dtype"/>.
    /// </summary>
    public static Tensor EncodeImage(AutoencoderKL vae, Tensor image, Generator? generator, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var posterior = vae.Encode(image.to(vae.DType, vae.Device));
        return (posterior.Sample(generator) * vae.ScalingFactor).to(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Repeats a batch of <paramref name="what"/> ([N, ...]) to <paramref name="batchSize"/> rows, whole batch after whole
    /// batch as diffusers' <c>torch.cat([x] * k)</c> / <c>x.repeat(k, 1, 1, 1)</c> do; refuses sizes that do not divide.
    /// </summary>
    public static Tensor ExpandToBatch(Tensor tensor, int batchSize, string what)
    {
        var n = tensor.shape[0];
        if (n == batchSize) return tensor.alias();
        if (n > batchSize || batchSize % n != 0)
            throw new ArgumentException(
                $"Cannot use {n} {what} for a batch of {batchSize} (prompts × images per prompt): give 1 or a divisor of {batchSize}.");
        return tensor.repeat([batchSize / n, .. Enumerable.Repeat(1L, (int)tensor.ndim - 1)]);
    }
}

/// <summary>Classifier-free guidance (Ho &amp; Salimans, 2022) with diffusers' optional guidance rescale (Lin et al., 2023).</summary>
public static class Guidance
{
    /// <summary>diffusers' <c>do_classifier_free_guidance</c>: off for guidance ≤ 1 and for guidance-distilled UNets.</summary>
    public static bool DoClassifierFreeGuidance(double guidanceScale, UNet2DConditionModel unet) => guidanceScale > 1.0 && unet.TimeCondProjDim is null;

    /// <param name="noisePred">The UNet output for the batch [uncond; cond].</param>
    public static Tensor Apply(Tensor noisePred, double guidanceScale, double guidanceRescale)
    {
        var chunks = noisePred.chunk(2);
        var (uncond, text) = (chunks[0], chunks[1]);
        var guided = uncond + guidanceScale * (text - uncond);
        return guidanceRescale > 0 ? RescaleNoiseCfg(guided, text, guidanceRescale) : guided;
    }

    /// <summary>diffusers' <c>rescale_noise_cfg</c>: matches the guided prediction's std to the text prediction's.</summary>
    public static Tensor RescaleNoiseCfg(Tensor noiseCfg, Tensor noisePredText, double guidanceRescale)
    {
        var dims = Enumerable.Range(1, (int)noisePredText.ndim - 1).Select(d => (long)d).ToArray();
        var stdText = noisePredText.std(dims, keepdim: true);
        var stdCfg = noiseCfg.std(dims, keepdim: true);
        var rescaled = noiseCfg * (stdText / stdCfg);
        return guidanceRescale * rescaled + (1 - guidanceRescale) * noiseCfg;
    }
}

/// <summary>Runs a step-end callback and returns the latents to continue from (the callback's, if it replaced them).</summary>
public static class StepEnd
{
    public static Tensor Invoke(StepEndCallback? callback, int step, int total, Tensor timestep, Tensor latents)
    {
        if (callback is null) return latents;
        var args = new StepEndArgs(step, total, timestep, latents);
        callback(args);
        return ReferenceEquals(args.Latents, latents) ? latents : args.Latents.to(latents.dtype, latents.device);
    }
}

/// <summary>Input checks shared by pipelines; each message names the argument and what is allowed.</summary>
public static class PipelineChecks
{
    /// <summary>
    /// A text-to-image call's output size: the one given, else the UNet's sample_size × the VAE scale factor
    /// (diffusers' <c>default_sample_size * vae_scale_factor</c>); checked as <see cref="Size"/> does.
    /// </summary>
    public static (int Height, int Width) OutputSize(int? height, int? width, UNet2DConditionModel unet, int vaeScaleFactor)
    {
        int Default(int? sampleSize, string name) =>
            sampleSize is { } s ? s * vaeScaleFactor : throw new ArgumentException($"The UNet's config has no sample_size: give {name} explicitly.");
        var size = (Height: height ?? Default(unet.SampleSize?.Height, "height"), Width: width ?? Default(unet.SampleSize?.Width, "width"));
        Size(size.Height, size.Width, vaeScaleFactor);
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
