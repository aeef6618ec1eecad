using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusion;

/// <summary>
/// Image-to-image with Stable Diffusion 1.x/2.x (SDEdit, Meng et al., 2022): encode the image with the VAE, noise its
/// latents to the level <c>strength</c> picks, and denoise from there under the prompt. Opens any Stable Diffusion
/// text-to-image folder, as diffusers' <c>AutoPipelineForImage2Image</c> does.
/// </summary>
public sealed class StableDiffusionImg2ImgPipeline : StableDiffusionPipelineBase
{
    public StableDiffusionImg2ImgPipeline(AutoencoderKL vae, CLIPTextModel textEncoder, CLIPTokenizer tokenizer,
        UNet2DConditionModel unet, SchedulerMixin scheduler, ModelConfig? modelIndex = null)
        : this(vae, textEncoder, tokenizer, unet, scheduler, modelIndex, shareModels: false)
    {
    }

    private StableDiffusionImg2ImgPipeline(AutoencoderKL vae, CLIPTextModel textEncoder, CLIPTokenizer tokenizer,
        UNet2DConditionModel unet, SchedulerMixin scheduler, ModelConfig? modelIndex, bool shareModels)
        : base(vae, textEncoder, tokenizer, unet, scheduler, modelIndex, shareModels)
    {
        if (unet.InChannels != vae.LatentChannels)
            throw new ArgumentException(
                $"The UNet takes {unet.InChannels} input channels but the VAE makes {vae.LatentChannels}-channel latents: an inpainting UNet needs StableDiffusionInpaintPipeline.");
    }

    public override string ClassName => "StableDiffusionImg2ImgPipeline";

    /// <summary>Opens a Stable Diffusion folder (text-to-image or image-to-image) for image-to-image.</summary>
    public static new StableDiffusionImg2ImgPipeline FromPretrained(string directory, LoadOptions? options = null) =>
        Load(directory, options, (vae, textEncoder, tokenizer, unet, scheduler, index) => new StableDiffusionImg2ImgPipeline(vae, textEncoder, tokenizer, unet, scheduler, index));

    /// <summary>
    /// diffusers' <c>from_pipe</c>: an image-to-image pipeline on another pipeline's models, without loading them again.
    /// The models stay <paramref name="source"/>'s (dispose this pipeline first; it never frees them); the scheduler is a
    /// copy of <paramref name="source"/>'s, so swapping or stepping one leaves the other as it was.
    /// </summary>
    public static StableDiffusionImg2ImgPipeline FromPipe(StableDiffusionPipelineBase source) =>
        new(source.Vae, source.TextEncoder, source.Tokenizer, source.Unet, source.CopyScheduler(), modelIndex: null, shareModels: true);

    public PipelineOutput Generate(StableDiffusionImg2ImgInput input, CancellationToken cancellationToken = default)
    {
        if (input.Image is null) throw new ArgumentException("image is required for image-to-image: give the picture to start from.", nameof(input));
        PipelineChecks.Strength(input.Strength, input.NumInferenceSteps);
        var batchSize = CheckCommonInputs(input);
        var doCfg = Guidance.DoClassifierFreeGuidance(input.GuidanceScale, Unet);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = Unet.Device;
        var promptEmbeds = EncodePrompt(input, doCfg);
        var image = ImageProcessor.Preprocess(input.Image);

        Scheduler.SetTimesteps(input.NumInferenceSteps, device);
        var (timesteps, _) = ImageToImage.StrengthTimesteps(Scheduler, input.NumInferenceSteps, input.Strength);
        var effectiveBatch = batchSize * input.NumImagesPerPrompt;
        var latentTimestep = timesteps.narrow(0, 0, 1).repeat(effectiveBatch);

        using var ownedGenerator = input.NewSeededGenerator(device);
        var generator = input.Generator ?? ownedGenerator;
        var latents = PrepareLatents(image, latentTimestep, effectiveBatch, promptEmbeds.dtype, device, generator);

        latents = DenoisingLoop.Run(Unet, Scheduler, latents, timesteps, Scheduler.TimestepValues.Count - (int)timesteps.shape[0], promptEmbeds, doCfg, input, generator, cancellationToken);
        return Finish(latents, input.OutputType);
    }

    /// <summary>
    /// diffusers' <c>prepare_latents</c>: the image's latents (one posterior sample for the whole image batch), repeated
    /// to the batch, then noised to <paramref name="timestep"/> with a second draw.
    /// </summary>
    private Tensor PrepareLatents(Tensor image, Tensor timestep, int batchSize, ScalarType dtype, Device device, Generator? generator)
    {
        image = image.to(dtype, device);
        var imageLatents = image.shape[1] == ImageProcessor.Options.VaeLatentChannels
            ? image
            : ImageToImage.EncodeImage(Vae, image, generator, dtype);
        var initLatents = ImageToImage.ExpandToBatch(imageLatents, batchSize, "images");
        var noise = LatentNoise.RandnTensor(initLatents.shape, dtype, device, generator);
        return Scheduler.AddNoise(initLatents, noise, timestep);
    }
}
