using DiffusersSharp.Images;
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
public sealed class StableDiffusionPipeline : DiffusionPipeline, ISchedulerPipeline
{
    public StableDiffusionPipeline(AutoencoderKL vae, CLIPTextModel textEncoder, CLIPTokenizer tokenizer,
        UNet2DConditionModel unet, SchedulerMixin scheduler, ModelConfig? modelIndex = null)
        : base(modelIndex)
    {
        Vae = vae;
        TextEncoder = textEncoder;
        Tokenizer = tokenizer;
        Unet = unet;
        Scheduler = scheduler;
        ImageProcessor = new VaeImageProcessor(new VaeImageProcessorOptions { VaeScaleFactor = vae.VaeScaleFactor });
        Register("vae", vae);
        Register("text_encoder", textEncoder);
        Register("tokenizer", tokenizer);
        Register("unet", unet);
        Register("scheduler", scheduler);
    }

    public override string ClassName => "StableDiffusionPipeline";

    public AutoencoderKL Vae { get; }
    public CLIPTextModel TextEncoder { get; }
    public CLIPTokenizer Tokenizer { get; }
    public UNet2DConditionModel Unet { get; }
    public SchedulerMixin Scheduler { get; private set; }

    public int VaeScaleFactor => Vae.VaeScaleFactor;

    public VaeImageProcessor ImageProcessor { get; }

    private int DefaultSize(int? sampleSize, string name) =>
        sampleSize is { } s ? s * VaeScaleFactor : throw new ArgumentException($"The UNet's config has no sample_size: give {name} explicitly.");

    public static new StableDiffusionPipeline FromPretrained(string directory, LoadOptions? options = null)
    {
        var index = ModelIndex.Load(directory);
        return ComponentSet.LoadAll(index, options, ["vae", "text_encoder", "tokenizer", "unet", "scheduler"], c => new StableDiffusionPipeline(
            c.Get<AutoencoderKL>("vae"), c.Get<CLIPTextModel>("text_encoder"), c.Get<CLIPTokenizer>("tokenizer"),
            c.Get<UNet2DConditionModel>("unet"), c.Get<SchedulerMixin>("scheduler"), index.Config));
    }

    /// <summary>Replaces the scheduler (the old one is disposed), as assigning <c>pipe.scheduler</c> does in diffusers.</summary>
    public void SetScheduler(SchedulerMixin scheduler)
    {
        if (ReferenceEquals(scheduler, Scheduler)) return;
        Scheduler.Dispose();
        Scheduler = scheduler;
        Register("scheduler", scheduler);
    }

    public PipelineOutput Generate(StableDiffusionInput input, CancellationToken cancellationToken = default)
    {
        var height = input.Height ?? DefaultSize(Unet.SampleSize?.Height, "height");
        var width = input.Width ?? DefaultSize(Unet.SampleSize?.Width, "width");
        var batchSize = CheckInputs(input, height, width);
        var doCfg = input.GuidanceScale > 1.0 && Unet.TimeCondProjDim is null;

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = Unet.Device;
        var (promptEmbeds, negativeEmbeds) = PromptEncoding.EncodePrompt(Tokenizer, TextEncoder, input.Prompt, input.NegativePrompt,
            input.PromptEmbeds, input.NegativePromptEmbeds, input.NumImagesPerPrompt, doCfg, input.ClipSkip, device, Unet.DType);
        if (doCfg) promptEmbeds = cat([negativeEmbeds!, promptEmbeds]);

        Scheduler.SetTimesteps(input.NumInferenceSteps, device);
        var timesteps = Scheduler.Timesteps;

        using var ownedGenerator = input.Generator is null && input.Seed is { } seed ? new Generator((ulong)seed) : null;
        var generator = input.Generator ?? ownedGenerator;
        var latentShape = new long[] { batchSize * input.NumImagesPerPrompt, Unet.InChannels, height / VaeScaleFactor, width / VaeScaleFactor };
        var latents = LatentNoise.Prepare(latentShape, promptEmbeds.dtype, device, generator, input.Latents, Scheduler.InitNoiseSigma);

        var total = (int)timesteps.shape[0];
        for (var i = 0; i < total; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            var t = timesteps[i];
            var modelInput = Scheduler.ScaleModelInput(doCfg ? cat([latents, latents]) : latents, t);
            var noisePred = Unet.Forward(modelInput, t, promptEmbeds);
            if (doCfg) noisePred = Guidance.Apply(noisePred, input.GuidanceScale, input.GuidanceRescale);
            var next = Scheduler.Step(noisePred, t, latents, generator, input.Eta).PrevSample;
            next = StepEnd.Invoke(input.CallbackOnStepEnd, i, total, t, next);
            next.MoveToOuterDisposeScope();
            latents.Dispose();
            latents = next;
        }

        if (input.OutputType == OutputType.Latent)
            return new PipelineOutput(null, latents.MoveToOuterDisposeScope());
        var images = ImageProcessor.Postprocess(Vae.Decode(latents.to(Vae.DType) / Vae.ScalingFactor));
        return new PipelineOutput(images.MoveToOuterDisposeScope(), null);
    }

    /// <summary>diffusers' <c>check_inputs</c>; returns the prompt batch size.</summary>
    private int CheckInputs(StableDiffusionInput input, int height, int width)
    {
        PipelineChecks.Size(height, width, VaeScaleFactor);
        PipelineChecks.Common(input.NumInferenceSteps, input.GuidanceScale, input.NumImagesPerPrompt, input.GuidanceRescale, input.ClipSkip, TextEncoder.TextConfig.NumHiddenLayers);
        return PipelineChecks.PromptBatchSize(input.Prompt, input.NegativePrompt, input.PromptEmbeds, input.NegativePromptEmbeds);
    }
}
