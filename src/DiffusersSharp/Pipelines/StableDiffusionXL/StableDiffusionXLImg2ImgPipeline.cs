using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusionXL;

/// <summary>
/// Image-to-image with Stable Diffusion XL, and the SDXL refiner: the image is encoded by the VAE and noised to the
/// point of the schedule <see cref="StableDiffusionXLImg2ImgInput.Strength"/> asks for, then denoised as in text-to-image.
/// As a refiner it takes a base pipeline's latents with <see cref="StableDiffusionXLImg2ImgInput.DenoisingStart"/> and
/// runs the rest of the same schedule without adding noise. Refiner checkpoints have no text_encoder/tokenizer and
/// condition on an aesthetic score instead of the target size (<c>requires_aesthetics_score</c>).
/// </summary>
public sealed class StableDiffusionXLImg2ImgPipeline : StableDiffusionXLPipelineBase
{
    /// <param name="requiresAestheticsScore">Time ids carry the aesthetic score in place of the target size (the SDXL refiner's UNet).</param>
    public StableDiffusionXLImg2ImgPipeline(AutoencoderKL vae, CLIPTextModel? textEncoder, CLIPTextModelWithProjection textEncoder2,
        CLIPTokenizer? tokenizer, CLIPTokenizer tokenizer2, UNet2DConditionModel unet, SchedulerMixin scheduler,
        bool requiresAestheticsScore = false, bool forceZerosForEmptyPrompt = true, ModelConfig? modelIndex = null)
        : base(vae, textEncoder, textEncoder2, tokenizer, tokenizer2, unet, scheduler, forceZerosForEmptyPrompt, modelIndex)
    {
        RequiresAestheticsScore = requiresAestheticsScore;
        RegisterToConfig("requires_aesthetics_score", requiresAestheticsScore);
    }

    public override string ClassName => "StableDiffusionXLImg2ImgPipeline";

    public bool RequiresAestheticsScore { get; }

    /// <summary>Opens a refiner folder, or a base SDXL folder to use its weights for image-to-image.</summary>
    public static new StableDiffusionXLImg2ImgPipeline FromPretrained(string directory, LoadOptions? options = null)
    {
        var index = ModelIndex.Load(directory);
        return ComponentSet.LoadAll(index, options, RequiredComponents, c => new StableDiffusionXLImg2ImgPipeline(
            c.Get<AutoencoderKL>("vae"), c.GetOptional<CLIPTextModel>("text_encoder"), c.Get<CLIPTextModelWithProjection>("text_encoder_2"),
            c.GetOptional<CLIPTokenizer>("tokenizer"), c.Get<CLIPTokenizer>("tokenizer_2"), c.Get<UNet2DConditionModel>("unet"),
            c.Get<SchedulerMixin>("scheduler"), index.Config.GetBool("requires_aesthetics_score", false),
            index.Config.GetBool("force_zeros_for_empty_prompt", true), index.Config), OptionalComponents);
    }

    public PipelineOutput Generate(StableDiffusionXLImg2ImgInput input, CancellationToken cancellationToken = default)
    {
        var batchSize = CheckInputs(input);
        CheckAddEmbedDim();
        var doCfg = Guidance.DoClassifierFreeGuidance(input.GuidanceScale, Unet);
        var imagesPerCall = batchSize * input.NumImagesPerPrompt;

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = Unet.Device;
        var embeds = EncodeCheckedPrompt(input, doCfg);
        var dtype = embeds.PromptEmbeds.dtype;
        var image = ImageProcessor.Preprocess(input.Image!);

        Scheduler.SetTimesteps(input.NumInferenceSteps, device);
        var (timesteps, _) = GetTimesteps(input.NumInferenceSteps, input.Strength, input.DenoisingStart);
        // GetTimesteps returns the schedule's tail; denoising_end may then cut its end.
        var firstStep = Scheduler.TimestepValues.Count - (int)timesteps.shape[0];
        var latentTimestep = timesteps[..1].repeat(imagesPerCall);

        using var ownedGenerator = input.NewSeededGenerator(device);
        var generator = input.Generator ?? ownedGenerator;
        // A refiner continuing from denoising_start gets latents that still hold their noise.
        var latents = input.Latents is { } given
            ? given.to(dtype, device)
            : PrepareLatents(image, latentTimestep, imagesPerCall, dtype, device, generator, addNoise: input.DenoisingStart is null);

        var height = (int)latents.shape[^2] * VaeScaleFactor;
        var width = (int)latents.shape[^1] * VaeScaleFactor;
        var originalSize = input.OriginalSize ?? (height, width);
        var targetSize = input.TargetSize ?? (height, width);
        var (addTimeIds, addNegativeTimeIds) = GetAddTimeIds(originalSize, input.CropsCoordsTopLeft, targetSize,
            input.AestheticScore, input.NegativeAestheticScore, input.NegativeOriginalSize ?? originalSize,
            input.NegativeCropsCoordsTopLeft, input.NegativeTargetSize ?? targetSize, dtype);
        addTimeIds = addTimeIds.repeat(imagesPerCall, 1);

        var promptEmbeds = embeds.PromptEmbeds;
        var addTextEmbeds = embeds.PooledPromptEmbeds;
        if (doCfg)
        {
            promptEmbeds = cat([embeds.NegativePromptEmbeds!, promptEmbeds]);
            addTextEmbeds = cat([embeds.NegativePooledPromptEmbeds!, addTextEmbeds]);
            addTimeIds = cat([addNegativeTimeIds.repeat(imagesPerCall, 1), addTimeIds]);
        }
        addTimeIds = addTimeIds.to(device);

        timesteps = CutAtDenoisingEnd(timesteps, input.DenoisingEnd);
        latents = DenoisingLoop.Run(Unet, Scheduler, latents, timesteps, firstStep, promptEmbeds, doCfg, input, generator, cancellationToken,
            unetExtras: AddedConditions(addTextEmbeds, addTimeIds));

        var output = input.OutputType == OutputType.Latent
            ? new PipelineOutput(null, latents.MoveToOuterDisposeScope())
            : new PipelineOutput(DecodeLatents(latents).MoveToOuterDisposeScope(), null);
        MaybeFreeModelHooks();
        return output;
    }

    /// <summary>
    /// diffusers' <c>get_timesteps</c>, after <see cref="SchedulerMixin.SetTimesteps"/>: the tail of the schedule to run
    /// and its step count, with the scheduler's begin index set to where the tail starts.
    /// Without <paramref name="denoisingStart"/> the last <c>int(steps · strength)</c> steps run, as in every
    /// image-to-image pipeline (<see cref="ImageToImage.StrengthTimesteps"/>); with it, the timesteps below its
    /// discrete cut-off (the ones a base pipeline with the same <c>denoising_end</c> left undone).
    /// </summary>
    public (Tensor Timesteps, int NumInferenceSteps) GetTimesteps(int numInferenceSteps, double strength, double? denoisingStart)
    {
        if (denoisingStart is not { } start)
            return ImageToImage.StrengthTimesteps(Scheduler, numInferenceSteps, strength);

        var all = Scheduler.Timesteps;
        var count = (int)all.lt(DiscreteTimestepCutoff(start)).sum().item<long>();
        // A second-order scheduler repeats every timestep but the first, so an even count would start between the
        // two evaluations of one step; diffusers takes one more to start on a whole step.
        if (Scheduler.Order == 2 && count % 2 == 0) count++;
        var first = (int)all.shape[0] - count;
        Scheduler.SetBeginIndex(first);
        return (all[first..], count);
    }

    /// <summary>
    /// diffusers' <c>_get_add_time_ids</c> for image-to-image: [original H, W, crop top, left] followed by the aesthetic
    /// score (<see cref="RequiresAestheticsScore"/>) or the target H, W; as [1, 5|6] rows for the prompt and the negative prompt.
    /// </summary>
    public (Tensor AddTimeIds, Tensor AddNegativeTimeIds) GetAddTimeIds((int Height, int Width) originalSize, (int Top, int Left) cropsCoordsTopLeft,
        (int Height, int Width) targetSize, double aestheticScore, double negativeAestheticScore, (int Height, int Width) negativeOriginalSize,
        (int Top, int Left) negativeCropsCoordsTopLeft, (int Height, int Width) negativeTargetSize, ScalarType dtype)
    {
        CheckAddEmbedDim();
        double[] ids, negativeIds;
        if (RequiresAestheticsScore)
        {
            ids = [originalSize.Height, originalSize.Width, cropsCoordsTopLeft.Top, cropsCoordsTopLeft.Left, aestheticScore];
            negativeIds = [negativeOriginalSize.Height, negativeOriginalSize.Width, negativeCropsCoordsTopLeft.Top, negativeCropsCoordsTopLeft.Left, negativeAestheticScore];
        }
        else
        {
            // diffusers builds the negative row with the positive crop coordinates here (not negative_crops_coords_top_left).
            ids = [originalSize.Height, originalSize.Width, cropsCoordsTopLeft.Top, cropsCoordsTopLeft.Left, targetSize.Height, targetSize.Width];
            negativeIds = [negativeOriginalSize.Height, negativeOriginalSize.Width, cropsCoordsTopLeft.Top, cropsCoordsTopLeft.Left, negativeTargetSize.Height, negativeTargetSize.Width];
        }
        return (tensor(ids, dtype).view(1, -1), tensor(negativeIds, dtype).view(1, -1));
    }

    /// <summary>
    /// The time ids (5 with the aesthetic score, else 6) and text_encoder_2's projection must fill the UNet's
    /// add_embedding. diffusers tells which way to set requires_aesthetics_score when they are one time id apart, but
    /// with the two advices swapped; these messages say what actually fixes it.
    /// </summary>
    private void CheckAddEmbedDim()
    {
        var passed = PassedAddEmbedDim(RequiresAestheticsScore ? 5 : 6);
        var expected = ExpectedAddEmbedDim;
        if (passed == expected) return;
        var prefix = $"Model expects an added time embedding vector of length {expected}, but a vector of {passed} was created.";
        var timeDim = Unet.AdditionTimeEmbedDim!.Value;
        if (RequiresAestheticsScore && expected - passed == timeDim)
            throw new InvalidOperationException($"{prefix} This UNet takes the target size, not an aesthetic score: set requires_aesthetics_score to false.");
        if (!RequiresAestheticsScore && passed - expected == timeDim)
            throw new InvalidOperationException($"{prefix} This UNet takes an aesthetic score (an SDXL refiner): set requires_aesthetics_score to true.");
        throw new InvalidOperationException(
            $"{prefix} The model has an incorrect config: check the UNet's addition_time_embed_dim ({timeDim}) and text_encoder_2's projection_dim ({TextEncoder2.TextConfig.ProjectionDim}).");
    }

    /// <summary>
    /// diffusers' <c>prepare_latents</c>: the image's latents (sampled from the VAE posterior with the generator and
    /// normalised; latents given as the image are taken as they are), repeated to the batch, then noised to
    /// <paramref name="timestep"/> with the generator's next draw unless the refiner continues a base pipeline.
    /// The encoding is SDXL's own rather than <see cref="ImageToImage.EncodeImage"/>: it upcasts a force_upcast VAE and
    /// casts the sample to the pipeline's dtype before normalising, where Stable Diffusion 1.x/2.x scales first.
    /// </summary>
    private Tensor PrepareLatents(Tensor image, Tensor timestep, int imagesPerCall, ScalarType dtype, Device device, Generator? generator, bool addNoise)
    {
        image = image.to(dtype, device);
        Tensor initLatents;
        if (image.shape[1] == Vae.LatentChannels)
        {
            initLatents = image;
        }
        else
        {
            // force_upcast: the encode runs in float32 and the VAE is then cast to the pipeline's dtype, as diffusers does.
            if (Vae.ForceUpcast)
            {
                image = image.to(ScalarType.Float32);
                Vae.MoveTo(null, ScalarType.Float32);
            }
            try
            {
                using var posterior = Vae.Encode(image);
                initLatents = posterior.Sample(generator).to(dtype);
            }
            finally
            {
                if (Vae.ForceUpcast) Vae.MoveTo(null, dtype);
            }
            initLatents = Vae.LatentsMean is { } mean && Vae.LatentsStd is { } std
                ? (initLatents - LatentStatistic(mean, initLatents)) * Vae.ScalingFactor / LatentStatistic(std, initLatents)
                : Vae.ScalingFactor * initLatents;
        }

        initLatents = ImageToImage.ExpandToBatch(initLatents, imagesPerCall, "images");

        if (!addNoise) return initLatents;
        var noise = LatentNoise.RandnTensor(initLatents.shape, dtype, device, generator);
        return Scheduler.AddNoise(initLatents, noise, timestep);
    }

    /// <summary>diffusers' <c>check_inputs</c> for image-to-image; returns the prompt batch size.</summary>
    private int CheckInputs(StableDiffusionXLImg2ImgInput input)
    {
        var batchSize = CheckCommonInputs(input);
        if (input.Image is null)
            throw new ArgumentException("image is required: the picture (or latents) to start from.");
        // Strength is ignored with denoising_start, but diffusers still checks its range.
        PipelineChecks.Strength(input.Strength, input.DenoisingStart is null ? input.NumInferenceSteps : null);
        CheckFraction(input.DenoisingStart, "denoising_start");
        if (input.DenoisingStart is { } start && input.DenoisingEnd is { } end && start >= end)
            throw new ArgumentException($"denoising_start ({start}) must be smaller than denoising_end ({end}).");
        return batchSize;
    }
}
