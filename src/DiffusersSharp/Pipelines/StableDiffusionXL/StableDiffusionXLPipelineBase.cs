using System.Text.Json.Nodes;
using DiffusersSharp.Images;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusionXL;

/// <summary>
/// What SDXL's text-to-image and image-to-image pipelines share (diffusers copies it between the two): the components,
/// <c>encode_prompt</c> with both CLIP text encoders, SDXL's added conditions for the shared
/// <see cref="DenoisingLoop"/>, the <c>denoising_end</c> cut-off and the VAE decode.
/// </summary>
public abstract class StableDiffusionXLPipelineBase : DiffusionPipeline
{
    protected override string ModelCpuOffloadSeq => "text_encoder->text_encoder_2->image_encoder->unet->vae";

    /// <param name="textEncoder">Null (with <paramref name="tokenizer"/>) for the SDXL refiner, which has text_encoder_2 only.</param>
    /// <param name="forceZerosForEmptyPrompt">Without a negative prompt, use zeros as the unconditional embeddings (SDXL's training).</param>
    protected StableDiffusionXLPipelineBase(AutoencoderKL vae, CLIPTextModel? textEncoder, CLIPTextModelWithProjection textEncoder2,
        CLIPTokenizer? tokenizer, CLIPTokenizer tokenizer2, UNet2DConditionModel unet, SchedulerMixin scheduler,
        bool forceZerosForEmptyPrompt, ModelConfig? modelIndex)
        : base(scheduler, modelIndex)
    {
        if ((textEncoder is null) != (tokenizer is null))
            throw new ArgumentException("text_encoder and tokenizer go together: give both, or neither (as the SDXL refiner does).");
        if (unet.AdditionEmbedType != "text_time")
            throw new ArgumentException(
                $"The UNet has addition_embed_type {unet.AdditionEmbedType ?? "null"}; SDXL pipelines need an SDXL UNet (addition_embed_type \"text_time\").");
        Vae = vae;
        TextEncoder = textEncoder;
        TextEncoder2 = textEncoder2;
        Tokenizer = tokenizer;
        Tokenizer2 = tokenizer2;
        Unet = unet;
        ForceZerosForEmptyPrompt = forceZerosForEmptyPrompt;
        ImageProcessor = new VaeImageProcessor(new VaeImageProcessorOptions { VaeScaleFactor = vae.VaeScaleFactor, VaeLatentChannels = vae.LatentChannels });
        Register("vae", vae);
        RegisterOptional("text_encoder", textEncoder);
        Register("text_encoder_2", textEncoder2);
        RegisterOptional("tokenizer", tokenizer);
        Register("tokenizer_2", tokenizer2);
        Register("unet", unet);
        RegisterToConfig("force_zeros_for_empty_prompt", forceZerosForEmptyPrompt);
    }

    public AutoencoderKL Vae { get; }
    public CLIPTextModel? TextEncoder { get; }
    public CLIPTextModelWithProjection TextEncoder2 { get; }
    public CLIPTokenizer? Tokenizer { get; }
    public CLIPTokenizer Tokenizer2 { get; }
    public UNet2DConditionModel Unet { get; }
    public bool ForceZerosForEmptyPrompt { get; }

    public int VaeScaleFactor => Vae.VaeScaleFactor;

    public VaeImageProcessor ImageProcessor { get; }

    /// <summary>Names of the components <see cref="DiffusionPipeline.ComponentSet.LoadAll"/> must find, and those it may.</summary>
    protected static IReadOnlyList<string> RequiredComponents { get; } = ["vae", "text_encoder_2", "tokenizer_2", "unet", "scheduler"];
    protected static IReadOnlyList<string> OptionalComponents { get; } = ["text_encoder", "tokenizer"];

    private void RegisterOptional(string name, object? component)
    {
        if (component is null) RegisterToConfig(name, new JsonArray(null, null));
        else Register(name, component);
    }

    /// <summary>
    /// diffusers' SDXL <c>encode_prompt</c>: each text encoder's penultimate hidden state (or <c>clip_skip</c> layers
    /// earlier) concatenated on the feature axis, and text_encoder_2's projected pooled output; with guidance, the same
    /// for the negative prompts, or zeros when there is none and <see cref="ForceZerosForEmptyPrompt"/> is set.
    /// Embeddings given in <paramref name="input"/> are used instead of encoding. Everything is repeated
    /// <see cref="StableDiffusionXLCommonInput.NumImagesPerPrompt"/> times, each prompt's copies together.
    /// </summary>
    public StableDiffusionXLPromptEmbeds EncodePrompt(StableDiffusionXLCommonInput input, bool doClassifierFreeGuidance)
    {
        CheckCommonInputs(input);
        return EncodeCheckedPrompt(input, doClassifierFreeGuidance);
    }

    /// <summary><see cref="EncodePrompt"/> for inputs <see cref="CheckCommonInputs"/> has passed.</summary>
    protected StableDiffusionXLPromptEmbeds EncodeCheckedPrompt(StableDiffusionXLCommonInput input, bool doClassifierFreeGuidance)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = Unet.Device;
        var k = input.NumImagesPerPrompt;
        var batch = input.Prompt?.Count ?? (int)input.PromptEmbeds!.shape[0];

        var promptEmbeds = input.PromptEmbeds;
        var pooled = input.PooledPromptEmbeds;
        if (promptEmbeds is null)
        {
            var prompt = input.Prompt!;
            var (embeds, encodedPooled) = EncodeWithBothEncoders(prompt, input.Prompt2 ?? prompt, maxLength: null, input.ClipSkip ?? 0);
            promptEmbeds = embeds;
            pooled ??= encodedPooled;
        }

        var negative = input.NegativePromptEmbeds;
        var negativePooled = input.NegativePooledPromptEmbeds;
        if (doClassifierFreeGuidance && negative is null)
        {
            // diffusers zeroes out when negative_prompt is absent, even if negative_prompt_2 is given.
            if (input.NegativePrompt is null && ForceZerosForEmptyPrompt)
            {
                negative = zeros_like(promptEmbeds);
                negativePooled = zeros_like(pooled!);
            }
            else
            {
                var negativePrompt = PerPrompt(input.NegativePrompt ?? [""], batch);
                var negativePrompt2 = PerPrompt(input.NegativePrompt2 ?? negativePrompt, batch);
                // diffusers takes the negatives' penultimate layer whatever clip_skip says.
                var (embeds, encodedPooled) = EncodeWithBothEncoders(negativePrompt, negativePrompt2, (int)promptEmbeds.shape[1], clipSkip: 0);
                negative = embeds;
                negativePooled ??= encodedPooled;
            }
        }

        var dtype = TextEncoder2.DType;
        return new StableDiffusionXLPromptEmbeds(
            PromptEncoding.RepeatPerPrompt(promptEmbeds.to(dtype, device), k).MoveToOuterDisposeScope(),
            negative is null ? null : PromptEncoding.RepeatPerPrompt(negative.to(dtype, device), k).MoveToOuterDisposeScope(),
            PromptEncoding.RepeatPerPrompt(pooled!.to(device), k).MoveToOuterDisposeScope(),
            negative is null ? null : PromptEncoding.RepeatPerPrompt(negativePooled!.to(device), k).MoveToOuterDisposeScope());
    }

    private static IReadOnlyList<string> PerPrompt(IReadOnlyList<string> texts, int batch) =>
        texts.Count == 1 && batch > 1 ? Enumerable.Repeat(texts[0], batch).ToArray() : texts;

    /// <summary>
    /// Encodes <paramref name="texts"/> with text_encoder and <paramref name="texts2"/> with text_encoder_2. Without
    /// text_encoder (the refiner) diffusers zips the two prompt lists with the one encoder present, so text_encoder_2
    /// gets <paramref name="texts"/> and <paramref name="texts2"/> goes unused.
    /// </summary>
    private (Tensor Embeds, Tensor Pooled) EncodeWithBothEncoders(IReadOnlyList<string> texts, IReadOnlyList<string> texts2, int? maxLength, int clipSkip)
    {
        var hidden = new List<Tensor>();
        if (TextEncoder is not null)
        {
            using var ids = Tokenizer!.CallTensor(texts, maxLength ?? Tokenizer.ModelMaxLength);
            using var output = TextEncoder.Forward(ids, outputHiddenStates: true);
            hidden.Add(Penultimate(output.HiddenStates!, clipSkip));
        }
        using var ids2 = Tokenizer2.CallTensor(TextEncoder is null ? texts : texts2, maxLength ?? Tokenizer2.ModelMaxLength);
        using var output2 = TextEncoder2.Forward(ids2, outputHiddenStates: true);
        hidden.Add(Penultimate(output2.HiddenStates!, clipSkip));
        return (cat(hidden, -1), output2.TextEmbeds.alias());
    }

    /// <summary>SDXL always conditions on the penultimate layer: <c>hidden_states[-(clip_skip + 2)]</c>, before the final layer norm.</summary>
    private static Tensor Penultimate(IReadOnlyList<Tensor> hiddenStates, int clipSkip) => hiddenStates[hiddenStates.Count - (clipSkip + 2)].alias();

    /// <summary>The input width <c>add_embedding</c> gets from <paramref name="timeIdCount"/> time ids and the pooled text embedding.</summary>
    protected int PassedAddEmbedDim(int timeIdCount) => Unet.AdditionTimeEmbedDim!.Value * timeIdCount + TextEncoder2.TextConfig.ProjectionDim;

    /// <summary>The width <c>add_embedding</c> expects (its linear_1 in_features).</summary>
    protected int ExpectedAddEmbedDim => Unet.ProjectionClassEmbeddingsInputDim!.Value;

    /// <summary>Checks shared by both pipelines' <c>check_inputs</c>; returns the prompt batch size.</summary>
    protected int CheckCommonInputs(StableDiffusionXLCommonInput input)
    {
        var layers = Math.Min(TextEncoder?.TextConfig.NumHiddenLayers ?? int.MaxValue, TextEncoder2.TextConfig.NumHiddenLayers);
        var batch = PipelineChecks.CommonInputs(input, layers);
        if (input.Prompt2 is not null && input.PromptEmbeds is not null)
            throw new ArgumentException("Give either prompt_2 or prompt_embeds, not both.");
        if (input.NegativePrompt2 is not null && input.NegativePromptEmbeds is not null)
            throw new ArgumentException("Give either negative_prompt_2 or negative_prompt_embeds, not both.");
        // diffusers only broadcasts a single string for prompt_2; a list of another length fails in torch.cat.
        if (input.Prompt2 is { } prompt2 && prompt2.Count != batch)
            throw new ArgumentException($"prompt_2 has {prompt2.Count} entries but prompt has {batch}: give one prompt_2 per prompt.");
        if (input.NegativePrompt2 is { } negative2 && negative2.Count != 1 && negative2.Count != batch)
            throw new ArgumentException($"negative_prompt_2 has {negative2.Count} entries but prompt has {batch}: give one, or one per prompt.");
        if (input.PromptEmbeds is not null && input.PooledPromptEmbeds is null)
            throw new ArgumentException("prompt_embeds need pooled_prompt_embeds too, from the same text_encoder_2.");
        if (input.NegativePromptEmbeds is not null && input.NegativePooledPromptEmbeds is null)
            throw new ArgumentException("negative_prompt_embeds need negative_pooled_prompt_embeds too, from the same text_encoder_2.");
        CheckFraction(input.DenoisingEnd, "denoising_end");
        return batch;
    }

    /// <summary>
    /// denoising_start / denoising_end must lie strictly between 0 and 1. diffusers silently ignores other values
    /// (and still skips adding noise for any denoising_start), which only hides a mistake, so they are refused here.
    /// </summary>
    protected static void CheckFraction(double? value, string name)
    {
        if (value is { } v && !(v > 0 && v < 1))
            throw new ArgumentOutOfRangeException(name, v, $"{name} must be a fraction of the schedule strictly between 0 and 1, got {v}.");
    }

    /// <summary>
    /// The timestep that splits the schedule at <paramref name="fraction"/> of the way from pure noise:
    /// <c>int(round(T - fraction·T))</c> with T = num_train_timesteps, Python's round (half to even).
    /// </summary>
    protected int DiscreteTimestepCutoff(double fraction)
    {
        var trainTimesteps = Scheduler.Config.GetInt("num_train_timesteps", 1000);
        return (int)Math.Round(trainTimesteps - fraction * trainTimesteps, MidpointRounding.ToEven);
    }

    /// <summary>diffusers' <c>denoising_end</c>: keeps the leading timesteps at or above the cut-off.</summary>
    protected Tensor CutAtDenoisingEnd(Tensor timesteps, double? denoisingEnd)
    {
        if (denoisingEnd is not { } end) return timesteps;
        var kept = (int)timesteps.ge(DiscreteTimestepCutoff(end)).sum().item<long>();
        return timesteps[..kept];
    }

    /// <summary>
    /// SDXL's added conditions (pooled text embeddings and time ids, [uncond; cond] with guidance) as the UNet's extra
    /// arguments at every step of <see cref="DenoisingLoop.Run"/>.
    /// </summary>
    protected static Func<int, Tensor, Tensor, Tensor, UNet2DConditionExtras> AddedConditions(Tensor addTextEmbeds, Tensor addTimeIds)
    {
        var extras = new UNet2DConditionExtras { AddedCondKwargs = new AddedCondKwargs(addTextEmbeds, addTimeIds) };
        return (_, _, _, _) => extras;
    }

    /// <summary>
    /// Latents → images [B, H, W, 3] in [0, 1]: undoes the latent normalisation (<c>latents_mean</c>/<c>latents_std</c>
    /// when the VAE config has both, else the scaling factor) and decodes. A float16 VAE with <c>force_upcast</c> runs in
    /// float32 for the decode, as it overflows in float16, and goes back to float16 afterwards (diffusers' upcast_vae).
    /// </summary>
    protected Tensor DecodeLatents(Tensor latents)
    {
        using var scope = NewDisposeScope();
        var needsUpcasting = Vae.DType == ScalarType.Float16 && Vae.ForceUpcast;
        if (needsUpcasting) Vae.MoveTo(null, ScalarType.Float32);
        try
        {
            latents = latents.to(Vae.DType);
            if (Vae.LatentsMean is { } mean && Vae.LatentsStd is { } std)
                latents = latents * LatentStatistic(std, latents) / Vae.ScalingFactor + LatentStatistic(mean, latents);
            else
                latents = latents / Vae.ScalingFactor;
            return ImageProcessor.Postprocess(Vae.Decode(latents)).MoveToOuterDisposeScope();
        }
        finally
        {
            if (needsUpcasting) Vae.MoveTo(null, ScalarType.Float16);
        }
    }

    /// <summary>A per-channel VAE latent statistic as [1, C, 1, 1] on <paramref name="like"/>'s device and dtype.</summary>
    protected static Tensor LatentStatistic(IReadOnlyList<double> values, Tensor like) =>
        tensor(values.ToArray(), ScalarType.Float32).view(1, -1, 1, 1).to(like.dtype, like.device);
}
