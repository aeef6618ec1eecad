using DiffusersSharp.Images;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusion;

/// <summary>
/// What the Stable Diffusion 1.x/2.x pipelines (text-to-image, image-to-image, inpainting, ControlNet) share: the five
/// components, loading, prompt encoding for classifier-free guidance and decoding.
/// </summary>
public abstract class StableDiffusionPipelineBase : DiffusionPipeline
{
    /// <summary>The model_index.json classes whose folders every Stable Diffusion pipeline can open.</summary>
    private static readonly string[] FamilyClasses = ["StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline"];

    /// <param name="shareModels">
    /// True when the models and tokenizer belong to another pipeline (<c>FromPipe</c>): this one uses them but leaves
    /// disposing them to their owner. The scheduler is always this pipeline's own.
    /// </param>
    private protected StableDiffusionPipelineBase(AutoencoderKL vae, CLIPTextModel textEncoder, CLIPTokenizer tokenizer,
        UNet2DConditionModel unet, SchedulerMixin scheduler, ModelConfig? modelIndex, bool shareModels)
        : base(scheduler, modelIndex)
    {
        Vae = vae;
        TextEncoder = textEncoder;
        Tokenizer = tokenizer;
        Unet = unet;
        ImageProcessor = new VaeImageProcessor(new VaeImageProcessorOptions { VaeScaleFactor = vae.VaeScaleFactor });
        Action<string, object> register = shareModels ? RegisterShared : Register;
        register("vae", vae);
        register("text_encoder", textEncoder);
        register("tokenizer", tokenizer);
        register("unet", unet);
    }

    public AutoencoderKL Vae { get; }
    public CLIPTextModel TextEncoder { get; }
    public CLIPTokenizer Tokenizer { get; }
    public UNet2DConditionModel Unet { get; }

    public int VaeScaleFactor => Vae.VaeScaleFactor;

    public VaeImageProcessor ImageProcessor { get; }

    /// <summary>Loads a Stable Diffusion folder's five components (of any of the family's pipeline classes) and builds a pipeline of them.</summary>
    private protected static TPipeline Load<TPipeline>(string directory, LoadOptions? options,
        Func<AutoencoderKL, CLIPTextModel, CLIPTokenizer, UNet2DConditionModel, SchedulerMixin, ModelConfig, TPipeline> build)
    {
        var index = ModelIndex.Load(directory);
        if (!FamilyClasses.Contains(index.ClassName))
            throw new NotSupportedException($"{directory} holds a {index.ClassName}, not a Stable Diffusion 1.x/2.x pipeline ({string.Join(", ", FamilyClasses)}).");
        return ComponentSet.LoadAll(index, options, ["vae", "text_encoder", "tokenizer", "unet", "scheduler"], c => build(
            c.Get<AutoencoderKL>("vae"), c.Get<CLIPTextModel>("text_encoder"), c.Get<CLIPTokenizer>("tokenizer"),
            c.Get<UNet2DConditionModel>("unet"), c.Get<SchedulerMixin>("scheduler"), index.Config));
    }

    /// <summary>A copy of this pipeline's scheduler for a pipeline made from it: same class and config, its own state.</summary>
    internal SchedulerMixin CopyScheduler() => SchedulerFactory.FromConfig(Scheduler.ClassName, Scheduler.Config);

    /// <summary>The checks every call shares; returns the prompt batch size.</summary>
    private protected int CheckCommonInputs(StableDiffusionInputBase input) => PipelineChecks.CommonInputs(input, TextEncoder.TextConfig.NumHiddenLayers);

    /// <summary>Prompt embeddings for the UNet: [uncond; cond] with guidance, as diffusers concatenates them.</summary>
    private protected Tensor EncodePrompt(StableDiffusionInputBase input, bool doCfg)
    {
        var (promptEmbeds, negativeEmbeds) = PromptEncoding.EncodePrompt(Tokenizer, TextEncoder, input.Prompt, input.NegativePrompt,
            input.PromptEmbeds, input.NegativePromptEmbeds, input.NumImagesPerPrompt, doCfg, input.ClipSkip, Unet.Device, Unet.DType);
        return doCfg ? cat([negativeEmbeds!, promptEmbeds]) : promptEmbeds;
    }

    /// <summary>The call's result: the latents as they are, or decoded and postprocessed to [B, H, W, 3] in [0, 1].</summary>
    /// <remarks>Call from the call's outermost dispose scope: the result moves out of it.</remarks>
    private protected PipelineOutput Finish(Tensor latents, OutputType outputType)
    {
        var output = outputType == OutputType.Latent
            ? new PipelineOutput(null, latents.MoveToOuterDisposeScope())
            : new PipelineOutput(ImageProcessor.Postprocess(Vae.Decode(latents.to(Vae.DType) / Vae.ScalingFactor)).MoveToOuterDisposeScope(), null);
        MaybeFreeModelHooks();
        return output;
    }
}
