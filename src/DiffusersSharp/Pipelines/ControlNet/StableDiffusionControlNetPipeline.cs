using DiffusersSharp.Images;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.ControlNet;

/// <summary>
/// Text-to-image with Stable Diffusion 1.x/2.x steered by one or more ControlNets (Zhang et al., 2023): at every step
/// each ControlNet looks at the noisy latents, the prompt and its control image (edges, depth, pose, …) and hands the
/// UNet residuals for its skip connections and mid block; several nets' residuals are summed.
/// </summary>
public sealed class StableDiffusionControlNetPipeline : StableDiffusionPipelineBase
{
    private static readonly string[] StableDiffusionComponents = ["vae", "text_encoder", "tokenizer", "unet", "scheduler"];

    private readonly ModelMixin _controlNet;

    public StableDiffusionControlNetPipeline(AutoencoderKL vae, CLIPTextModel textEncoder, CLIPTokenizer tokenizer,
        UNet2DConditionModel unet, ControlNetModel controlNet, SchedulerMixin scheduler, ModelConfig? modelIndex = null)
        : this(vae, textEncoder, tokenizer, unet, controlNet, [controlNet], scheduler, modelIndex, shareModels: false)
    {
    }

    public StableDiffusionControlNetPipeline(AutoencoderKL vae, CLIPTextModel textEncoder, CLIPTokenizer tokenizer,
        UNet2DConditionModel unet, MultiControlNetModel controlNet, SchedulerMixin scheduler, ModelConfig? modelIndex = null)
        : this(vae, textEncoder, tokenizer, unet, controlNet, controlNet.Nets, scheduler, modelIndex, shareModels: false)
    {
    }

    private StableDiffusionControlNetPipeline(AutoencoderKL vae, CLIPTextModel textEncoder, CLIPTokenizer tokenizer,
        UNet2DConditionModel unet, ModelMixin controlNet, IReadOnlyList<ControlNetModel> nets, SchedulerMixin scheduler, ModelConfig? modelIndex,
        bool shareModels)
        : base(vae, textEncoder, tokenizer, unet, scheduler, modelIndex, shareModels)
    {
        CheckNetsMatch(unet, nets);
        _controlNet = controlNet;
        ControlNets = nets;
        // diffusers' control_image_processor: RGB, kept in [0, 1].
        ControlImageProcessor = new VaeImageProcessor(new VaeImageProcessorOptions { VaeScaleFactor = vae.VaeScaleFactor, DoConvertRgb = true, DoNormalize = false });
        if (shareModels) RegisterShared("controlnet", controlNet);
        else Register("controlnet", controlNet);
    }

    public override string ClassName => "StableDiffusionControlNetPipeline";

    /// <summary>
    /// A ControlNet's residuals are added to the UNet's skip connections, so its blocks, text width and input channels
    /// must be the UNet's; diffusers finds out only deep inside the first step.
    /// </summary>
    private static void CheckNetsMatch(UNet2DConditionModel unet, IReadOnlyList<ControlNetModel> nets)
    {
        for (var i = 0; i < nets.Count; i++)
        {
            var net = nets[i];
            var blocks = net.Config.GetIntArray("block_out_channels") ?? [320, 640, 1280, 1280];
            var cross = net.Config.GetInt("cross_attention_dim", 1280);
            if (!blocks.SequenceEqual(unet.BlockOutChannels) || cross != unet.CrossAttentionDim[0] || net.InChannels != unet.InChannels)
                throw new ArgumentException(
                    $"ControlNet {i} does not match the UNet: its block_out_channels [{string.Join(", ", blocks)}], cross_attention_dim {cross} and in_channels {net.InChannels} " +
                    $"must equal the UNet's [{string.Join(", ", unet.BlockOutChannels)}], {unet.CrossAttentionDim[0]} and {unet.InChannels}.");
        }
    }

    /// <summary>The ControlNets in call order (one, or the nets of a <see cref="MultiControlNetModel"/>).</summary>
    public IReadOnlyList<ControlNetModel> ControlNets { get; }

    public VaeImageProcessor ControlImageProcessor { get; }

    /// <summary>
    /// diffusers' <c>StableDiffusionControlNetPipeline.from_pipe(pipe, controlnet=net)</c>: a ControlNet pipeline on
    /// another Stable Diffusion pipeline's models and a loaded ControlNet, without loading anything again. The models
    /// and the ControlNet stay their owners' (dispose this pipeline first; it never frees them); the scheduler is a copy
    /// of <paramref name="source"/>'s.
    /// </summary>
    public static StableDiffusionControlNetPipeline FromPipe(StableDiffusionPipelineBase source, ModelMixin controlNet)
    {
        IReadOnlyList<ControlNetModel> nets = controlNet switch
        {
            ControlNetModel single => [single],
            MultiControlNetModel multi => multi.Nets,
            _ => throw new NotSupportedException($"A {controlNet.ClassName} cannot be the controlnet of a StableDiffusionControlNetPipeline."),
        };
        return new(source.Vae, source.TextEncoder, source.Tokenizer, source.Unet, controlNet, nets, source.CopyScheduler(), modelIndex: null, shareModels: true);
    }

    /// <summary>Opens a saved ControlNet pipeline folder (model_index.json with a <c>controlnet</c> component).</summary>
    public static new StableDiffusionControlNetPipeline FromPretrained(string directory, LoadOptions? options = null)
    {
        var index = ModelIndex.Load(directory);
        return ComponentSet.LoadAll(index, options, [.. StableDiffusionComponents, "controlnet"], c => Build(c, c.Get<ModelMixin>("controlnet"), index.Config));
    }

    /// <summary>
    /// A Stable Diffusion folder plus ControlNet folders, as diffusers'
    /// <c>StableDiffusionControlNetPipeline.from_pretrained(sd, controlnet=[ControlNetModel.from_pretrained(cn), …])</c>.
    /// </summary>
    public static StableDiffusionControlNetPipeline FromPretrained(string stableDiffusionDirectory, IReadOnlyList<string> controlNetDirectories, LoadOptions? options = null)
    {
        if (controlNetDirectories.Count == 0)
            throw new ArgumentException("Give at least one ControlNet folder.", nameof(controlNetDirectories));
        var index = ModelIndex.Load(stableDiffusionDirectory);
        return ComponentSet.LoadAll(index, options, StableDiffusionComponents, c =>
        {
            var nets = new List<ControlNetModel>();
            try
            {
                foreach (var dir in controlNetDirectories) nets.Add(ControlNetModel.FromPretrained(dir, options));
                return Build(c, nets.Count == 1 ? nets[0] : new MultiControlNetModel(nets), index.Config);
            }
            catch
            {
                foreach (var net in nets) net.Dispose();
                throw;
            }
        });
    }

    private static StableDiffusionControlNetPipeline Build(ComponentSet c, ModelMixin controlNet, ModelConfig modelIndex)
    {
        var (vae, textEncoder, tokenizer, unet, scheduler) = (c.Get<AutoencoderKL>("vae"), c.Get<CLIPTextModel>("text_encoder"),
            c.Get<CLIPTokenizer>("tokenizer"), c.Get<UNet2DConditionModel>("unet"), c.Get<SchedulerMixin>("scheduler"));
        return controlNet switch
        {
            ControlNetModel single => new StableDiffusionControlNetPipeline(vae, textEncoder, tokenizer, unet, single, scheduler, modelIndex),
            MultiControlNetModel multi => new StableDiffusionControlNetPipeline(vae, textEncoder, tokenizer, unet, multi, scheduler, modelIndex),
            _ => throw new NotSupportedException($"A {controlNet.ClassName} cannot be the controlnet of a StableDiffusionControlNetPipeline."),
        };
    }

    public PipelineOutput Generate(StableDiffusionControlNetInput input, CancellationToken cancellationToken = default)
    {
        var batchSize = CheckInputs(input);
        var nets = ControlNets.Count;
        var scales = PerNet(input.ControlNetConditioningScale, "controlnet_conditioning_scale");
        var starts = PerNet(input.ControlGuidanceStart, "control_guidance_start");
        var ends = PerNet(input.ControlGuidanceEnd, "control_guidance_end");
        var doCfg = Guidance.DoClassifierFreeGuidance(input.GuidanceScale, Unet);
        // Shuffle-style (globally pooled) ControlNets always run in guess mode, as in diffusers.
        var guessMode = input.GuessMode || ControlNets[0].GlobalPoolConditions;

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = Unet.Device;
        var promptEmbeds = EncodePrompt(input, doCfg);

        var images = new Tensor[nets];
        for (var k = 0; k < nets; k++)
            images[k] = PrepareImage(input.ControlImages[k], input.Width, input.Height, batchSize, input.NumImagesPerPrompt,
                device, ControlNets[k].DType, doCfg && !guessMode);
        var (height, width) = ((int)images[0].shape[^2], (int)images[0].shape[^1]);
        if (images.Any(image => image.shape[^2] != height || image.shape[^1] != width))
            throw new ArgumentException("The control images of the ControlNets have different sizes after preprocessing; give height and width, or images of one size.");
        PipelineChecks.Size(height, width, VaeScaleFactor);

        Scheduler.SetTimesteps(input.NumInferenceSteps, device);
        var timesteps = Scheduler.Timesteps;
        var total = (int)timesteps.shape[0];

        using var ownedGenerator = input.NewSeededGenerator(device);
        var generator = input.Generator ?? ownedGenerator;
        var latentShape = new long[] { batchSize * input.NumImagesPerPrompt, Unet.InChannels, height / VaeScaleFactor, width / VaeScaleFactor };
        var latents = LatentNoise.Prepare(latentShape, promptEmbeds.dtype, device, generator, input.Latents, Scheduler.InitNoiseSigma);

        // In guess mode with guidance the ControlNets see only the conditional half; the unconditional half gets no residuals.
        var conditionalOnly = guessMode && doCfg;
        UNet2DConditionExtras ControlResiduals(int i, Tensor t, Tensor stepLatents, Tensor modelInput)
        {
            var controlInput = conditionalOnly ? Scheduler.ScaleModelInput(stepLatents, t) : modelInput;
            var controlEmbeds = conditionalOnly ? promptEmbeds.chunk(2)[1] : promptEmbeds;
            // diffusers' controlnet_keep: a net whose [start, end] window does not cover this step still runs, at scale 0.
            var stepScales = Enumerable.Range(0, nets)
                .Select(k => scales[k] * (i / (double)total < starts[k] || (i + 1) / (double)total > ends[k] ? 0.0 : 1.0)).ToArray();
            // The step's dispose scope frees the residuals once the UNet has used them.
            var control = _controlNet is MultiControlNetModel multi
                ? multi.Forward(controlInput, t, controlEmbeds, images, stepScales, guessMode)
                : ControlNets[0].Forward(controlInput, t, controlEmbeds, images[0], stepScales[0], guessMode);
            var down = control.DownBlockResSamples;
            var mid = control.MidBlockResSample;
            if (conditionalOnly)
            {
                down = down.Select(d => cat([zeros_like(d), d])).ToArray();
                mid = cat([zeros_like(mid), mid]);
            }
            return new UNet2DConditionExtras { DownBlockAdditionalResiduals = down, MidBlockAdditionalResidual = mid };
        }

        latents = DenoisingLoop.Run(Unet, Scheduler, latents, timesteps, 0, promptEmbeds, doCfg, input, generator, cancellationToken, unetExtras: ControlResiduals);
        return Finish(latents, input.OutputType);
    }

    /// <summary>
    /// diffusers' <c>prepare_image</c>: preprocess (resize, RGB, [0, 1]), repeat one image for the whole batch or each
    /// prompt's image for its images, and double the batch for classifier-free guidance.
    /// </summary>
    private Tensor PrepareImage(IReadOnlyList<Tensor> image, int? width, int? height, int batchSize, int numImagesPerPrompt,
        Device device, ScalarType dtype, bool doubleForGuidance)
    {
        using var scope = NewDisposeScope();
        var processed = ControlImageProcessor.Preprocess(image, height, width).to(ScalarType.Float32);
        var imageBatch = processed.shape[0];
        if (imageBatch != 1 && imageBatch != batchSize)
            throw new ArgumentException($"A ControlNet got {imageBatch} control images for {batchSize} prompts: give one image, or one per prompt.");
        var repeatBy = imageBatch == 1 ? batchSize * numImagesPerPrompt : numImagesPerPrompt;
        processed = processed.repeat_interleave(repeatBy, dim: 0).to(dtype, device);
        if (doubleForGuidance) processed = cat([processed, processed]);
        return processed.MoveToOuterDisposeScope();
    }

    /// <summary>A per-net setting given once for every net, or once per net.</summary>
    private double[] PerNet(IReadOnlyList<double> values, string name) => values.Count switch
    {
        1 => Enumerable.Repeat(values[0], ControlNets.Count).ToArray(),
        var n when n == ControlNets.Count => values.ToArray(),
        var n => throw new ArgumentException($"{name} has {n} values for {ControlNets.Count} ControlNets: give one, or one per ControlNet."),
    };

    /// <summary>diffusers' <c>check_inputs</c>; returns the prompt batch size.</summary>
    private int CheckInputs(StableDiffusionControlNetInput input)
    {
        // diffusers would silently round an explicit size down to a multiple of 8; we refuse it, as the SD pipeline does.
        PipelineChecks.Size(input.Height ?? VaeScaleFactor, input.Width ?? VaeScaleFactor, VaeScaleFactor);
        var batch = CheckCommonInputs(input);

        if (input.ControlImages.Count != ControlNets.Count)
            throw new ArgumentException($"Got control images for {input.ControlImages.Count} ControlNets, but the pipeline has {ControlNets.Count}: give one entry per ControlNet.");
        if (input.ControlImages.Any(images => images.Count == 0))
            throw new ArgumentException("Every ControlNet needs a control image.");
        foreach (var scale in input.ControlNetConditioningScale)
            if (!double.IsFinite(scale))
                throw new ArgumentOutOfRangeException(nameof(input), scale, $"controlnet_conditioning_scale must be finite, got {scale}.");
        var starts = PerNet(input.ControlGuidanceStart, "control_guidance_start");
        var ends = PerNet(input.ControlGuidanceEnd, "control_guidance_end");
        for (var k = 0; k < starts.Length; k++)
        {
            if (!(starts[k] < ends[k]))
                throw new ArgumentException($"control guidance start: {starts[k]} cannot be larger or equal to control guidance end: {ends[k]}.");
            if (starts[k] < 0.0)
                throw new ArgumentException($"control guidance start: {starts[k]} can't be smaller than 0.");
            if (ends[k] > 1.0)
                throw new ArgumentException($"control guidance end: {ends[k]} can't be larger than 1.0.");
        }
        return batch;
    }
}
