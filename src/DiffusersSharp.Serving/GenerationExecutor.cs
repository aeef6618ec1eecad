using DiffusersSharp.Images;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.ControlNet;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Pipelines.StableDiffusionXL;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace DiffusersSharp.Serving;

/// <summary>
/// Runs validated requests: leases the pipeline, sets a fresh scheduler, calls the pipeline with step progress and
/// cancellation (checked at every denoising step), and PNG-encodes the pictures. Requests with one
/// <see cref="ResolvedRequest.BatchKey"/> run as one call, each with its own initial noise drawn from its own seed
/// exactly as the pipeline would draw it alone, so a batched job gets the pictures it would get alone. A call that runs
/// out of memory is retried once per request with attention slicing and VAE tiling; a batch that fails otherwise is
/// retried one request at a time, so a bad request fails alone. A queue worker (local or remote) calls this.
/// </summary>
public sealed class GenerationExecutor
{
    private readonly PipelineManager _manager;
    private readonly IServingMetrics _metrics;
    private readonly IGenerationFaultInjector? _faults;
    private readonly ILogger _logger;

    /// <param name="options">Where metrics go (<see cref="ServingOptions.Metrics"/>) and the fault injector, if any.</param>
    public GenerationExecutor(PipelineManager manager, ServingOptions options, ILogger? logger = null)
    {
        _manager = manager;
        _metrics = options.Metrics;
        _faults = options.FaultInjector;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    }

    /// <summary>Runs one request; throws <see cref="GenerationFailedException"/> when it fails and <see cref="OperationCanceledException"/> when cancelled.</summary>
    public async Task<GenerationOutput> RunAsync(ResolvedRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var outcome = (await RunBatchAsync([new GenerationItem(request, progress)], cancellationToken).ConfigureAwait(false))[0];
        return outcome.Output ?? throw outcome.Error!;
    }

    /// <summary>
    /// Runs requests that share a <see cref="ResolvedRequest.BatchKey"/> (or a single request) and returns each one's
    /// outcome in order. Cancelling stops the call within one denoising step and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public async Task<IReadOnlyList<GenerationOutcome>> RunBatchAsync(IReadOnlyList<GenerationItem> items, CancellationToken cancellationToken = default)
    {
        if (items.Count == 0) return [];
        var first = items[0].Request;
        if (items.Count > 1 && (first.BatchKey is null || items.Any(i => i.Request.BatchKey != first.BatchKey)))
            throw new ArgumentException("Only requests with one batch key run together.", nameof(items));
        var seeds = items.Select(i => i.Request.Seed ?? Random.Shared.NextInt64(0, 1L << 53)).ToArray();
        var key = new PipelineKey(first.Model.Name, first.Task, first.DType, first.Device, first.ControlNet?.Name);
        using var lease = await _manager.AcquireAsync(key, cancellationToken).ConfigureAwait(false);
        using var hold = await lease.LockAsync(cancellationToken).ConfigureAwait(false);
        return await Task.Run(() => Run(lease.Pipeline, items, seeds, cancellationToken), CancellationToken.None).ConfigureAwait(false);
    }

    private IReadOnlyList<GenerationOutcome> Run(DiffusionPipeline pipeline, IReadOnlyList<GenerationItem> items, long[] seeds, CancellationToken cancellationToken)
    {
        var model = items[0].Request.Model.Name;
        try
        {
            var outputs = Call(pipeline, items, seeds, memorySaving: false, cancellationToken);
            _metrics.BatchRun(model, items.Count);
            return outputs.Select(o => new GenerationOutcome(o, null)).ToArray();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (OutOfMemory.IsOutOfMemory(e))
        {
            _metrics.OutOfMemoryFallback(model, items.Count);
            _logger.LogWarning("Out of memory running {Jobs} job(s) on {Model} ({Message}); retrying one at a time with attention slicing and VAE tiling",
                items.Count, model, e.Message);
            return OneByOne(pipeline, items, seeds, memorySaving: true, cancellationToken);
        }
        catch (Exception e) when (items.Count > 1)
        {
            _logger.LogWarning(e, "A batch of {Jobs} jobs on {Model} failed; running them one at a time", items.Count, model);
            return OneByOne(pipeline, items, seeds, memorySaving: false, cancellationToken);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "A generation on {Model} failed", model);
            return [new GenerationOutcome(null, Failure(e))];
        }
    }

    private IReadOnlyList<GenerationOutcome> OneByOne(DiffusionPipeline pipeline, IReadOnlyList<GenerationItem> items, long[] seeds, bool memorySaving,
        CancellationToken cancellationToken)
    {
        if (memorySaving)
        {
            pipeline.EnableAttentionSlicing();
            pipeline.EnableVaeTiling();
        }
        try
        {
            var outcomes = new GenerationOutcome[items.Count];
            for (var i = 0; i < items.Count; i++)
            {
                try
                {
                    outcomes[i] = new GenerationOutcome(Call(pipeline, [items[i]], [seeds[i]], memorySaving, cancellationToken)[0], null);
                    _metrics.BatchRun(items[i].Request.Model.Name, 1);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }
                catch (Exception e) when (memorySaving && OutOfMemory.IsOutOfMemory(e))
                {
                    _logger.LogError("Out of memory again with attention slicing and VAE tiling on {Model}: {Message}", items[i].Request.Model.Name, e.Message);
                    outcomes[i] = new GenerationOutcome(null, new GenerationFailedException(
                        $"Out of memory, even with attention slicing and VAE tiling: ask for a smaller width × height or fewer images. ({e.Message})", inner: e));
                }
                catch (Exception e)
                {
                    _logger.LogWarning(e, "A generation on {Model} failed", items[i].Request.Model.Name);
                    outcomes[i] = new GenerationOutcome(null, Failure(e));
                }
            }
            return outcomes;
        }
        finally
        {
            if (memorySaving)
            {
                pipeline.DisableAttentionSlicing();
                pipeline.DisableVaeTiling();
            }
        }
    }

    private static GenerationFailedException Failure(Exception e) =>
        e as GenerationFailedException ?? new GenerationFailedException($"The generation failed: {e.Message}", inner: e);

    /// <summary>One pipeline call for the items; returns each item's PNGs.</summary>
    private GenerationOutput[] Call(DiffusionPipeline pipeline, IReadOnlyList<GenerationItem> items, long[] seeds, bool memorySaving, CancellationToken cancellationToken)
    {
        var r = items[0].Request;
        _faults?.BeforePipelineCall(new GenerationAttempt(r.Model.Name, r.Task, items.Select(i => i.Request.Prompt).ToArray(), memorySaving, cancellationToken));
        pipeline.SetScheduler(r.Scheduler.Create(r.Model.SchedulerConfig));
        void OnStepEnd(StepEndArgs args)
        {
            var progress = new GenerationProgress(args.Step + 1, args.TotalSteps);
            foreach (var item in items) item.Progress?.Report(progress);
            cancellationToken.ThrowIfCancellationRequested();
        }

        using var scope = NewDisposeScope();
        var prompts = items.Select(i => i.Request.Prompt).ToArray();
        // One negative prompt per prompt ("" where a request has none, as Stable Diffusion reads a missing one; SDXL
        // batches only requests that all have one or all lack it); none at all when no request has one.
        IReadOnlyList<string>? negatives = items.All(i => i.Request.NegativePrompt is null) ? null : items.Select(i => i.Request.NegativePrompt ?? "").ToArray();
        var latents = items.Count > 1 ? BatchNoise(pipeline, r, seeds) : null;
        using var output = pipeline switch
        {
            StableDiffusionPipeline sd => sd.Generate(Common(new StableDiffusionInput { Width = r.Width, Height = r.Height, Latents = latents }), cancellationToken),
            StableDiffusionXLPipeline xl => xl.Generate(Common(new StableDiffusionXLInput
            {
                Width = r.Width, Height = r.Height, Latents = latents,
                OriginalSize = r.OriginalSize, TargetSize = r.TargetSize, CropsCoordsTopLeft = r.CropsCoordsTopLeft,
            }), cancellationToken),
            StableDiffusionImg2ImgPipeline img2img => img2img.Generate(Common(new StableDiffusionImg2ImgInput
            {
                Image = ImageIO.DecodeRgb(r.Request.Image!), Strength = r.Strength,
            }), cancellationToken),
            StableDiffusionInpaintPipeline inpaint => inpaint.Generate(Common(new StableDiffusionInpaintInput
            {
                Image = ImageIO.DecodeRgb(r.Request.Image!), MaskImage = ImageIO.DecodeGray(r.Request.MaskImage!),
                Width = r.Width, Height = r.Height, Strength = r.Strength,
            }), cancellationToken),
            StableDiffusionControlNetPipeline controlNet => controlNet.Generate(Common(new StableDiffusionControlNetInput
            {
                ControlImages = [[ImageIO.DecodeRgb(r.Request.ControlImage!)]],
                Width = r.Width, Height = r.Height,
                ControlNetConditioningScale = [r.ControlNetConditioningScale],
                ControlGuidanceStart = [r.ControlGuidanceStart],
                ControlGuidanceEnd = [r.ControlGuidanceEnd],
            }), cancellationToken),
            _ => throw new NotSupportedException($"{pipeline.ClassName} cannot run {r.Task}."),
        };
        using var pixels = VaeImageProcessor.ToUint8(output.Images!);
        var perRequest = r.NumImagesPerPrompt;
        return items.Select((_, j) => new GenerationOutput(
            Enumerable.Range(j * perRequest, perRequest).Select(k =>
            {
                using var image = pixels[k];
                return ImageIO.EncodePng(image);
            }).ToArray(), seeds[j])).ToArray();

        T Common<T>(T input) where T : StableDiffusionInputBase => input with
        {
            Prompt = prompts,
            NegativePrompt = negatives,
            NumInferenceSteps = r.NumInferenceSteps,
            GuidanceScale = r.GuidanceScale,
            GuidanceRescale = r.GuidanceRescale,
            ClipSkip = r.ClipSkip,
            NumImagesPerPrompt = r.NumImagesPerPrompt,
            Seed = seeds[0],
            CallbackOnStepEnd = OnStepEnd,
        };
    }

    /// <summary>
    /// The initial latents of a batch: each request's own draw from a CPU generator seeded with its seed, of the shape,
    /// dtype and device the pipeline would draw alone (diffusers' <c>prepare_latents</c>), stacked in request order.
    /// </summary>
    private static Tensor BatchNoise(DiffusionPipeline pipeline, ResolvedRequest r, long[] seeds)
    {
        var (unet, vsf, dtype) = pipeline switch
        {
            StableDiffusionXLPipeline xl => (xl.Unet, xl.VaeScaleFactor, xl.TextEncoder2.DType),
            StableDiffusionPipelineBase sd => (sd.Unet, sd.VaeScaleFactor, sd.Unet.DType),
            _ => throw new NotSupportedException($"{pipeline.ClassName} does not batch."),
        };
        var shape = new long[] { r.NumImagesPerPrompt, unet.InChannels, r.Height / vsf, r.Width / vsf };
        var draws = seeds.Select(seed =>
        {
            using var generator = new Generator((ulong)seed);
            return LatentNoise.RandnTensor(shape, dtype, unet.Device, generator);
        }).ToArray();
        return cat(draws);
    }
}
