using DiffusersSharp.Images;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusion;

/// <summary>
/// Inpainting with Stable Diffusion 1.x/2.x: repaint the white part of a mask under the prompt and keep the rest.
/// A 9-channel inpainting UNet (e.g. stable-diffusion-inpainting) sees the mask and the masked image's latents next
/// to the noisy latents; with a plain 4-channel UNet the kept region is instead reset after every step to the image's
/// latents noised to the next step's level, as diffusers does.
/// </summary>
public sealed class StableDiffusionInpaintPipeline : StableDiffusionPipelineBase
{
    public StableDiffusionInpaintPipeline(AutoencoderKL vae, CLIPTextModel textEncoder, CLIPTokenizer tokenizer,
        UNet2DConditionModel unet, SchedulerMixin scheduler, ModelConfig? modelIndex = null)
        : this(vae, textEncoder, tokenizer, unet, scheduler, modelIndex, shareModels: false)
    {
    }

    private StableDiffusionInpaintPipeline(AutoencoderKL vae, CLIPTextModel textEncoder, CLIPTokenizer tokenizer,
        UNet2DConditionModel unet, SchedulerMixin scheduler, ModelConfig? modelIndex, bool shareModels)
        : base(vae, textEncoder, tokenizer, unet, scheduler, modelIndex, shareModels)
    {
        var latent = vae.LatentChannels;
        if (unet.InChannels != latent && unet.InChannels != 2 * latent + 1)
            throw new ArgumentException(
                $"The UNet takes {unet.InChannels} input channels; inpainting needs {latent} (latents) or {2 * latent + 1} (latents, mask, masked image latents).");
        MaskProcessor = VaeImageProcessor.ForMasks(vae.VaeScaleFactor);
    }

    public override string ClassName => "StableDiffusionInpaintPipeline";

    /// <summary>A mask is one grayscale channel: an [H,W] or RGB [H,W,3] image (made grayscale), or a [1,H,W] / [B,1,H,W] tensor.</summary>
    private static void CheckMaskShape(Tensor mask)
    {
        var s = mask.shape;
        var singleChannel = s.Length switch
        {
            2 => true,
            3 => s[2] == 3 || s[0] == 1,
            4 => s[1] == 1,
            _ => false,
        };
        if (!singleChannel)
            throw new ArgumentException($"mask_image must be one grayscale channel ([H, W] or RGB [H, W, 3] image, or a [1, H, W] / [B, 1, H, W] tensor), got shape [{string.Join(", ", s)}].", "mask_image");
    }

    /// <summary>diffusers' <c>mask_processor</c>: grayscale, not normalized, binarized at 0.5.</summary>
    public VaeImageProcessor MaskProcessor { get; }

    /// <summary>True for a UNet that takes the mask and masked image latents as extra input channels.</summary>
    public bool IsInpaintingUnet => Unet.InChannels != Vae.LatentChannels;

    /// <summary>Opens a Stable Diffusion folder for inpainting: an inpainting model, or a text-to-image one (latent blending).</summary>
    public static new StableDiffusionInpaintPipeline FromPretrained(string directory, LoadOptions? options = null) =>
        Load(directory, options, (vae, textEncoder, tokenizer, unet, scheduler, index) => new StableDiffusionInpaintPipeline(vae, textEncoder, tokenizer, unet, scheduler, index));

    /// <summary>
    /// diffusers' <c>from_pipe</c>: an inpainting pipeline on another pipeline's models, without loading them again.
    /// The models stay <paramref name="source"/>'s (dispose this pipeline first; it never frees them); the scheduler is a
    /// copy of <paramref name="source"/>'s, so swapping or stepping one leaves the other as it was.
    /// </summary>
    public static StableDiffusionInpaintPipeline FromPipe(StableDiffusionPipelineBase source) =>
        new(source.Vae, source.TextEncoder, source.Tokenizer, source.Unet, source.CopyScheduler(), modelIndex: null, shareModels: true);

    public PipelineOutput Generate(StableDiffusionInpaintInput input, CancellationToken cancellationToken = default)
    {
        if (input.Image is null) throw new ArgumentException("image is required for inpainting: give the picture to repaint.", nameof(input));
        if (input.MaskImage is null) throw new ArgumentException("mask_image is required for inpainting: white marks what to repaint, black what to keep.", nameof(input));
        CheckMaskShape(input.MaskImage);
        var (height, width) = OutputSize(input);
        PipelineChecks.Size(height, width, VaeScaleFactor);
        PipelineChecks.Strength(input.Strength, input.NumInferenceSteps);
        var batchSize = CheckCommonInputs(input);
        var doCfg = Guidance.DoClassifierFreeGuidance(input.GuidanceScale, Unet);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = Unet.Device;
        var promptEmbeds = EncodePrompt(input, doCfg);
        var dtype = promptEmbeds.dtype;

        Scheduler.SetTimesteps(input.NumInferenceSteps, device);
        var (timesteps, _) = ImageToImage.StrengthTimesteps(Scheduler, input.NumInferenceSteps, input.Strength);
        var effectiveBatch = batchSize * input.NumImagesPerPrompt;
        var latentTimestep = timesteps.narrow(0, 0, 1).repeat(effectiveBatch);

        var initImage = ImageProcessor.Preprocess(input.Image, height, width).to(ScalarType.Float32);

        using var ownedGenerator = input.NewSeededGenerator(device);
        var generator = input.Generator ?? ownedGenerator;
        var (latents, noise, imageLatents) = PrepareLatents(input, initImage, latentTimestep, effectiveBatch, height, width, dtype, device, generator);

        var maskCondition = MaskProcessor.Preprocess(input.MaskImage, height, width);
        var maskedImage = input.MaskedImageLatents ?? initImage * (maskCondition < 0.5);
        var (mask, maskedImageLatents) = PrepareMaskLatents(maskCondition, maskedImage, effectiveBatch, height, width, dtype, device, generator, doCfg);

        Func<Tensor, Tensor>? extendModelInput = null;
        Func<int, Tensor, Tensor>? afterStep = null;
        if (IsInpaintingUnet)
        {
            var channels = Vae.LatentChannels + mask.shape[1] + maskedImageLatents.shape[1];
            if (channels != Unet.InChannels)
                throw new ArgumentException(
                    $"The UNet takes {Unet.InChannels} input channels but latents ({Vae.LatentChannels}) + mask ({mask.shape[1]}) + masked image latents ({maskedImageLatents.shape[1]}) make {channels}.");
            extendModelInput = modelInput => cat([modelInput, mask, maskedImageLatents], 1);
        }
        else
        {
            afterStep = BlendKeptRegion(timesteps, doCfg ? mask.chunk(2)[0] : mask, imageLatents!, noise);
        }

        latents = DenoisingLoop.Run(Unet, Scheduler, latents, timesteps, Scheduler.TimestepValues.Count - (int)timesteps.shape[0], promptEmbeds, doCfg, input, generator, cancellationToken, extendModelInput, afterStep: afterStep);
        return Finish(latents, input.OutputType);
    }

    /// <summary>
    /// The 4-channel UNet's inpainting: after step i the kept region (mask 0) is reset to the image's latents noised to
    /// the next step's level with the initial noise (not noised after the last step); the repainted region keeps the step's result.
    /// </summary>
    private Func<int, Tensor, Tensor> BlendKeptRegion(Tensor timesteps, Tensor mask, Tensor imageLatents, Tensor noise)
    {
        var keep = 1 - mask;
        var last = (int)timesteps.shape[0] - 1;
        return (i, latents) =>
        {
            var initLatentsProper = i < last ? Scheduler.AddNoise(imageLatents, noise, timesteps[i + 1].reshape(1)) : imageLatents;
            return keep * initLatentsProper + mask * latents;
        };
    }

    /// <summary>The requested size, or the image's rounded down to a multiple of the VAE scale factor.</summary>
    private (int Height, int Width) OutputSize(StableDiffusionInpaintInput input)
    {
        if (input.Height is { } h && input.Width is { } w) return (h, w);
        var image = input.Image!;
        var shape = image.shape;
        (long imageHeight, long imageWidth) = (image.dtype, image.ndim) switch
        {
            (ScalarType.Byte, 2 or 3) => (shape[0], shape[1]),
            (_, 3) => (shape[1], shape[2]),
            (_, 4) when shape[1] == ImageProcessor.Options.VaeLatentChannels => (shape[2] * VaeScaleFactor, shape[3] * VaeScaleFactor),
            (_, 4) => (shape[2], shape[3]),
            _ => throw new ArgumentException($"Unexpected image shape [{string.Join(", ", shape)}]: give uint8 [H, W, 3] or float [3, H, W] / [B, 3, H, W].", nameof(input)),
        };
        var (defaultHeight, defaultWidth) = ImageProcessor.GetDefaultHeightWidth((int)imageHeight, (int)imageWidth);
        return (input.Height ?? defaultHeight, input.Width ?? defaultWidth);
    }

    /// <summary>
    /// diffusers' <c>prepare_latents</c> for inpainting. Draw order matters for seeds: the image's posterior sample
    /// first (only when strength &lt; 1 or the UNet has 4 channels), then the noise.
    /// </summary>
    /// <returns>The starting latents, the noise (for blending) and the image's latents (null when not needed).</returns>
    private (Tensor Latents, Tensor Noise, Tensor? ImageLatents) PrepareLatents(StableDiffusionInpaintInput input, Tensor image, Tensor timestep,
        int batchSize, int height, int width, ScalarType dtype, Device device, Generator? generator)
    {
        var isStrengthMax = input.Strength == 1.0;
        Tensor? imageLatents = null;
        if (!IsInpaintingUnet || (input.Latents is null && !isStrengthMax))
        {
            image = image.to(dtype, device);
            var encoded = image.shape[1] == ImageProcessor.Options.VaeLatentChannels ? image : ImageToImage.EncodeImage(Vae, image, generator, dtype);
            imageLatents = ImageToImage.ExpandToBatch(encoded, batchSize, "images");
        }

        var shape = new long[] { batchSize, Vae.LatentChannels, height / VaeScaleFactor, width / VaeScaleFactor };
        if (input.Latents is { } given)
        {
            if (!given.shape.SequenceEqual(shape))
                throw new ArgumentException($"Unexpected latents shape [{string.Join(", ", given.shape)}]; expected [{string.Join(", ", shape)}].", nameof(input));
            var noise = given.to(dtype, device);
            return (noise * Scheduler.InitNoiseSigma, noise, imageLatents);
        }
        var drawn = LatentNoise.RandnTensor(shape, dtype, device, generator);
        // At full strength the image contributes nothing to the start: pure noise at the scheduler's initial level.
        var latents = isStrengthMax ? drawn * Scheduler.InitNoiseSigma : Scheduler.AddNoise(imageLatents!, drawn, timestep);
        return (latents, drawn, imageLatents);
    }

    /// <summary>
    /// diffusers' <c>prepare_mask_latents</c>: the mask at latent size (nearest) and the masked image's latents (a
    /// posterior sample, drawn after the noise), both repeated to the batch and doubled for guidance.
    /// </summary>
    private (Tensor Mask, Tensor MaskedImageLatents) PrepareMaskLatents(Tensor mask, Tensor maskedImage, int batchSize, int height, int width,
        ScalarType dtype, Device device, Generator? generator, bool doCfg)
    {
        mask = nn.functional.interpolate(mask, size: [height / VaeScaleFactor, width / VaeScaleFactor], mode: InterpolationMode.Nearest).to(dtype, device);
        maskedImage = maskedImage.to(dtype, device);
        var maskedImageLatents = maskedImage.shape[1] == ImageProcessor.Options.VaeLatentChannels
            ? maskedImage
            : ImageToImage.EncodeImage(Vae, maskedImage, generator, dtype);

        mask = ImageToImage.ExpandToBatch(mask, batchSize, "masks");
        maskedImageLatents = ImageToImage.ExpandToBatch(maskedImageLatents, batchSize, "masked images");
        return doCfg ? (cat([mask, mask]), cat([maskedImageLatents, maskedImageLatents])) : (mask, maskedImageLatents);
    }
}
