using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusionXL;

/// <summary>
/// Text-to-image with Stable Diffusion XL (Podell et al., 2023): two CLIP text encoders, a UNet conditioned also on
/// the pooled text embedding and on size/crop "time ids", denoised under classifier-free guidance and decoded by the VAE.
/// With <see cref="StableDiffusionXLCommonInput.DenoisingEnd"/> it stops early and hands its latents to
/// <see cref="StableDiffusionXLImg2ImgPipeline"/> (the refiner) to finish.
/// </summary>
public sealed class StableDiffusionXLPipeline : StableDiffusionXLPipelineBase
{
    public StableDiffusionXLPipeline(AutoencoderKL vae, CLIPTextModel? textEncoder, CLIPTextModelWithProjection textEncoder2,
        CLIPTokenizer? tokenizer, CLIPTokenizer tokenizer2, UNet2DConditionModel unet, SchedulerMixin scheduler,
        bool forceZerosForEmptyPrompt = true, ModelConfig? modelIndex = null)
        : base(vae, textEncoder, textEncoder2, tokenizer, tokenizer2, unet, scheduler, forceZerosForEmptyPrompt, modelIndex)
    {
    }

    public override string ClassName => "StableDiffusionXLPipeline";

    public static new StableDiffusionXLPipeline FromPretrained(string directory, LoadOptions? options = null)
    {
        var index = ModelIndex.Load(directory);
        return ComponentSet.LoadAll(index, options, RequiredComponents, c => new StableDiffusionXLPipeline(
            c.Get<AutoencoderKL>("vae"), c.GetOptional<CLIPTextModel>("text_encoder"), c.Get<CLIPTextModelWithProjection>("text_encoder_2"),
            c.GetOptional<CLIPTokenizer>("tokenizer"), c.Get<CLIPTokenizer>("tokenizer_2"), c.Get<UNet2DConditionModel>("unet"),
            c.Get<SchedulerMixin>("scheduler"), index.Config.GetBool("force_zeros_for_empty_prompt", true), index.Config), OptionalComponents);
    }

    public PipelineOutput Generate(StableDiffusionXLInput input, CancellationToken cancellationToken = default)
    {
        var (height, width) = PipelineChecks.OutputSize(input.Height, input.Width, Unet, VaeScaleFactor);
        var batchSize = CheckCommonInputs(input);
        var doCfg = Guidance.DoClassifierFreeGuidance(input.GuidanceScale, Unet);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = Unet.Device;
        // encode_prompt casts the embeddings to text_encoder_2's dtype, and the time ids follow them.
        var addTimeIds = GetAddTimeIds(input.OriginalSize ?? (height, width), input.CropsCoordsTopLeft, input.TargetSize ?? (height, width), TextEncoder2.DType);
        var negativeAddTimeIds = input.NegativeOriginalSize is { } negativeOriginal && input.NegativeTargetSize is { } negativeTarget
            ? GetAddTimeIds(negativeOriginal, input.NegativeCropsCoordsTopLeft, negativeTarget, TextEncoder2.DType)
            : addTimeIds;

        var embeds = EncodeCheckedPrompt(input, doCfg);
        Scheduler.SetTimesteps(input.NumInferenceSteps, device);

        using var ownedGenerator = input.NewSeededGenerator(device);
        var generator = input.Generator ?? ownedGenerator;
        var latentShape = new long[] { batchSize * input.NumImagesPerPrompt, Unet.InChannels, height / VaeScaleFactor, width / VaeScaleFactor };
        var latents = LatentNoise.Prepare(latentShape, embeds.PromptEmbeds.dtype, device, generator, input.Latents, Scheduler.InitNoiseSigma);

        var promptEmbeds = embeds.PromptEmbeds;
        var addTextEmbeds = embeds.PooledPromptEmbeds;
        if (doCfg)
        {
            promptEmbeds = cat([embeds.NegativePromptEmbeds!, promptEmbeds]);
            addTextEmbeds = cat([embeds.NegativePooledPromptEmbeds!, addTextEmbeds]);
            addTimeIds = cat([negativeAddTimeIds, addTimeIds]);
        }
        // diffusers repeats the [negative; positive] pair as a whole, so with several images per call and distinct
        // negative time ids the rows alternate instead of following the [uncond…; cond…] batch. Kept for parity.
        addTimeIds = addTimeIds.to(device).repeat(batchSize * input.NumImagesPerPrompt, 1);

        var timesteps = CutAtDenoisingEnd(Scheduler.Timesteps, input.DenoisingEnd);
        latents = DenoisingLoop.Run(Unet, Scheduler, latents, timesteps, 0, promptEmbeds, doCfg, input, generator, cancellationToken,
            unetExtras: AddedConditions(addTextEmbeds, addTimeIds));

        var output = input.OutputType == OutputType.Latent
            ? new PipelineOutput(null, latents.MoveToOuterDisposeScope())
            : new PipelineOutput(DecodeLatents(latents).MoveToOuterDisposeScope(), null);
        MaybeFreeModelHooks();
        return output;
    }

    /// <summary>
    /// diffusers' <c>_get_add_time_ids</c>: the micro-conditioning row [original H, W, crop top, left, target H, W] as a
    /// [1, 6] tensor, after checking that it and text_encoder_2's projection fill the UNet's add_embedding exactly.
    /// </summary>
    public Tensor GetAddTimeIds((int Height, int Width) originalSize, (int Top, int Left) cropsCoordsTopLeft, (int Height, int Width) targetSize, ScalarType dtype)
    {
        double[] ids = [originalSize.Height, originalSize.Width, cropsCoordsTopLeft.Top, cropsCoordsTopLeft.Left, targetSize.Height, targetSize.Width];
        var passed = PassedAddEmbedDim(ids.Length);
        if (passed != ExpectedAddEmbedDim)
            throw new InvalidOperationException(
                $"Model expects an added time embedding vector of length {ExpectedAddEmbedDim}, but a vector of {passed} was created. " +
                $"The model has an incorrect config: check the UNet's addition_time_embed_dim ({Unet.AdditionTimeEmbedDim}) and text_encoder_2's projection_dim ({TextEncoder2.TextConfig.ProjectionDim}).");
        return tensor(ids, dtype).view(1, -1);
    }
}
