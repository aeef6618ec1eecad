using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusion;

/// <summary>
/// Text-to-image with Stable Diffusion 1.x/2.x (Rombach et al., 2022): encode the prompt with CLIP, denoise random
/// latents with the UNet under classifier-free guidance, step by step with the scheduler, and decode with the VAE.
/// </summary>
public sealed class StableDiffusionPipeline : StableDiffusionPipelineBase
{
    public StableDiffusionPipeline(AutoencoderKL vae, CLIPTextModel textEncoder, CLIPTokenizer tokenizer,
        UNet2DConditionModel unet, SchedulerMixin scheduler, ModelConfig? modelIndex = null)
        : base(vae, textEncoder, tokenizer, unet, scheduler, modelIndex, shareModels: false)
    {
    }

    private StableDiffusionPipeline(StableDiffusionPipelineBase source)
        : base(source.Vae, source.TextEncoder, source.Tokenizer, source.Unet, source.CopyScheduler(), modelIndex: null, shareModels: true)
    {
    }

    public override string ClassName => "StableDiffusionPipeline";

    public static new StableDiffusionPipeline FromPretrained(string directory, LoadOptions? options = null) =>
        Load(directory, options, (vae, textEncoder, tokenizer, unet, scheduler, index) => new StableDiffusionPipeline(vae, textEncoder, tokenizer, unet, scheduler, index));

    /// <summary>
    /// diffusers' <c>from_pipe</c>: a text-to-image pipeline on another pipeline's models (e.g. an image-to-image or
    /// inpainting pipeline's), without loading them again. The models stay <paramref name="source"/>'s (dispose this
    /// pipeline first; it never frees them); the scheduler is a copy of <paramref name="source"/>'s.
    /// </summary>
    public static StableDiffusionPipeline FromPipe(StableDiffusionPipelineBase source) => new(source);

    public PipelineOutput Generate(StableDiffusionInput input, CancellationToken cancellationToken = default)
    {
        var (height, width) = PipelineChecks.OutputSize(input.Height, input.Width, Unet, VaeScaleFactor);
        var batchSize = CheckCommonInputs(input);
        var doCfg = Guidance.DoClassifierFreeGuidance(input.GuidanceScale, Unet);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = Unet.Device;
        var promptEmbeds = EncodePrompt(input, doCfg);

        Scheduler.SetTimesteps(input.NumInferenceSteps, device);

        using var ownedGenerator = input.NewSeededGenerator(device);
        var generator = input.Generator ?? ownedGenerator;
        var latentShape = new long[] { batchSize * input.NumImagesPerPrompt, Unet.InChannels, height / VaeScaleFactor, width / VaeScaleFactor };
        var latents = LatentNoise.Prepare(latentShape, promptEmbeds.dtype, device, generator, input.Latents, Scheduler.InitNoiseSigma);

        latents = DenoisingLoop.Run(Unet, Scheduler, latents, Scheduler.Timesteps, 0, promptEmbeds, doCfg, input, generator, cancellationToken);
        return Finish(latents, input.OutputType);
    }
}
