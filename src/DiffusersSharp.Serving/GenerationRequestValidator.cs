using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusersSharp.Images;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Schedulers;
using SixLabors.ImageSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Serving;

/// <summary>
/// Checks a request completely before any work starts and fills in the defaults, the way diffusers' pipelines would
/// (their <c>check_inputs</c> and more: limits, images, scheduler options). Every problem is reported, under diffusers'
/// parameter name with what is allowed, in one <see cref="RequestValidationException"/>.
/// </summary>
public sealed class GenerationRequestValidator
{
    private const int MaxSchedulerOptions = 32;
    private const int MaxMicroConditioningSize = 16384;

    private readonly ModelCatalog _catalog;
    private readonly ServingOptions _options;
    private readonly ValidationLimits _limits;
    private readonly ConcurrentDictionary<string, bool> _stochastic = new(StringComparer.Ordinal);

    public GenerationRequestValidator(ModelCatalog catalog, ServingOptions options)
    {
        _catalog = catalog;
        _options = options;
        _limits = options.Limits;
    }

    /// <summary>The request with its defaults, or a <see cref="RequestValidationException"/> naming every bad field.</summary>
    public ResolvedRequest Validate(GenerationRequest request)
    {
        var errors = new Errors();
        var model = ResolveModel(request, errors);
        var task = request.Task ?? (request.MaskImage is not null ? PipelineTask.Inpainting
            : request.ControlImage is not null ? PipelineTask.ControlNet
            : request.Image is not null ? PipelineTask.ImageToImage
            : PipelineTask.TextToImage);
        if (model is not null && !model.Tasks.Contains(task))
            errors.Add("task", $"model '{model.Name}' runs {string.Join(", ", model.Tasks.Select(TaskName))}, not {TaskName(task)}.");

        CheckPrompt(request.Prompt, "prompt", required: true, errors);
        CheckPrompt(request.NegativePrompt, "negative_prompt", required: false, errors);

        var steps = request.NumInferenceSteps ?? 50;
        if (steps < 1 || steps > _limits.MaxSteps)
            errors.Add("num_inference_steps", $"must be in [1, {_limits.MaxSteps}], got {steps}.");

        var defaultGuidance = model?.Kind == ModelKind.StableDiffusionXL ? 5.0 : 7.5;
        var guidance = request.GuidanceScale ?? defaultGuidance;
        if (!double.IsFinite(guidance) || guidance < 0 || guidance > _limits.MaxGuidanceScale)
            errors.Add("guidance_scale", $"must be a number in [0, {_limits.MaxGuidanceScale}], got {guidance}.");
        var rescale = request.GuidanceRescale ?? 0;
        if (!double.IsFinite(rescale) || rescale < 0 || rescale > 1)
            errors.Add("guidance_rescale", $"must be in [0, 1], got {rescale}.");
        if (request.ClipSkip is { } clipSkip && model is not null && (clipSkip < 0 || clipSkip >= model.TextEncoderLayers))
            errors.Add("clip_skip", $"must be in [0, {model.TextEncoderLayers - 1}] for model '{model.Name}' ({model.TextEncoderLayers} text encoder layers), got {clipSkip}.");

        var images = request.NumImagesPerPrompt ?? 1;
        if (images < 1 || images > _limits.MaxImagesPerPrompt)
            errors.Add("num_images_per_prompt", $"must be in [1, {_limits.MaxImagesPerPrompt}], got {images}.");
        if (request.Seed is < 0)
            errors.Add("seed", $"must be in [0, {long.MaxValue}], got {request.Seed}.");

        // Inputs each task needs, and refuses.
        var image = task is PipelineTask.ImageToImage or PipelineTask.Inpainting
            ? CheckImage(request.Image, "image", required: true, TaskName(task), errors)
            : Refuse(request.Image is not null, "image", task, errors);
        var mask = task == PipelineTask.Inpainting
            ? CheckImage(request.MaskImage, "mask_image", required: true, TaskName(task), errors)
            : Refuse(request.MaskImage is not null, "mask_image", task, errors);
        var control = task == PipelineTask.ControlNet
            ? CheckImage(request.ControlImage, "control_image", required: true, TaskName(task), errors)
            : Refuse(request.ControlImage is not null, "control_image", task, errors);
        if (image is { } i && mask is { } m && i != m)
            errors.Add("mask_image", $"must have the image's size {i.Width}x{i.Height}, got {m.Width}x{m.Height}.");

        var vsf = model?.VaeScaleFactor ?? 8;
        var (width, height) = ResolveSize(request, task, model, image, control, vsf, errors);

        var strength = request.Strength ?? (task == PipelineTask.Inpainting ? 1.0 : 0.8);
        if (task is PipelineTask.ImageToImage or PipelineTask.Inpainting)
        {
            if (!double.IsFinite(strength) || strength <= 0 || strength > 1)
                errors.Add("strength", $"must be in (0, 1], got {strength}.");
            else if (steps >= 1 && (int)(steps * strength) < 1)
                errors.Add("strength", $"strength {strength} × num_inference_steps {steps} leaves no denoising step: their product must be at least 1.");
        }
        else if (request.Strength is not null)
            errors.Add("strength", "only image-to-image and inpainting take strength.");

        var controlNet = CheckControlNet(request, task, model, errors);

        var micro = CheckMicroConditioning(request, model, errors);

        var scheduler = ResolveScheduler(request, model, steps, errors);

        errors.ThrowIfAny();
        var stochastic = IsStochastic(model!, scheduler!);
        var resolved = new ResolvedRequest
        {
            Request = request,
            Model = model!,
            ControlNet = controlNet,
            Task = task,
            DType = _options.DType,
            Device = _options.Device,
            Prompt = request.Prompt!,
            NegativePrompt = request.NegativePrompt,
            NumInferenceSteps = steps,
            GuidanceScale = guidance,
            GuidanceRescale = rescale,
            ClipSkip = request.ClipSkip,
            Width = width,
            Height = height,
            NumImagesPerPrompt = images,
            Seed = request.Seed,
            Scheduler = scheduler!,
            SchedulerIsStochastic = stochastic,
            Strength = strength,
            ControlNetConditioningScale = request.ControlNetConditioningScale ?? 1.0,
            ControlGuidanceStart = request.ControlGuidanceStart ?? 0.0,
            ControlGuidanceEnd = request.ControlGuidanceEnd ?? 1.0,
            OriginalSize = micro.Original,
            TargetSize = micro.Target,
            CropsCoordsTopLeft = micro.Crops,
        };
        return resolved with { BatchKey = BatchKeyOf(resolved), CacheKey = CacheKeyOf(resolved) };
    }

    private ModelInfo? ResolveModel(GenerationRequest request, Errors errors)
    {
        var name = request.Model ?? _options.DefaultModel;
        if (name is null)
        {
            errors.Add("model", $"is required: this service has no default model. Available: {string.Join(", ", _catalog.Names())}.");
            return null;
        }
        try
        {
            var model = _catalog.Resolve(name, "model");
            if (model.Kind == ModelKind.ControlNet)
            {
                errors.Add("model", $"'{name}' is a ControlNet: give a Stable Diffusion model as model and '{name}' as controlnet.");
                return null;
            }
            return model;
        }
        catch (RequestValidationException e)
        {
            errors.AddAll(e);
            return null;
        }
    }

    private void CheckPrompt(string? prompt, string field, bool required, Errors errors)
    {
        if (prompt is null)
        {
            if (required) errors.Add(field, "is required (an empty string asks for an unconditional picture).");
            return;
        }
        if (prompt.Length > _limits.MaxPromptLength)
            errors.Add(field, $"may have at most {_limits.MaxPromptLength} characters, got {prompt.Length}.");
    }

    private static (int Width, int Height)? Refuse(bool given, string field, PipelineTask task, Errors errors)
    {
        if (given) errors.Add(field, $"{TaskName(task)} takes no {field}.");
        return null;
    }

    /// <summary>
    /// Reads the image's header first and refuses oversized images before decoding a pixel (a 100000×100000 PNG is
    /// a few kilobytes); then decodes it as the pipeline will, to refuse corrupt data. Returns its size.
    /// </summary>
    private (int Width, int Height)? CheckImage(byte[]? data, string field, bool required, string task, Errors errors)
    {
        if (data is null)
        {
            if (required) errors.Add(field, $"is required for {task}.");
            return null;
        }
        if (data.Length == 0)
        {
            errors.Add(field, "is empty: give PNG or JPEG bytes.");
            return null;
        }
        if (data.Length > _limits.MaxInputImageBytes)
        {
            errors.Add(field, $"may have at most {_limits.MaxInputImageBytes} bytes, got {data.Length}.");
            return null;
        }
        IImageInfo? header;
        try
        {
            header = Image.Identify(data);
        }
        catch (Exception e) when (e is ImageFormatException or NotSupportedException or InvalidDataException)
        {
            header = null;
        }
        if (header is null)
        {
            errors.Add(field, "is not an image this service reads (PNG, JPEG, BMP, GIF, TIFF, WebP).");
            return null;
        }
        if (header.Width <= 0 || header.Height <= 0 || (long)header.Width * header.Height > _limits.MaxInputImagePixels)
        {
            errors.Add(field, $"is {header.Width}x{header.Height}; at most {_limits.MaxInputImagePixels} pixels are allowed.");
            return null;
        }
        try
        {
            using var decoded = ImageIO.DecodeRgb(data);
            return ((int)decoded.shape[1], (int)decoded.shape[0]);
        }
        catch (Exception e) when (e is InvalidDataException or ImageFormatException or NotSupportedException)
        {
            errors.Add(field, $"cannot be decoded: {e.Message}");
            return null;
        }
    }

    private (int Width, int Height) ResolveSize(GenerationRequest request, PipelineTask task, ModelInfo? model,
        (int Width, int Height)? image, (int Width, int Height)? control, int vsf, Errors errors)
    {
        if (task == PipelineTask.ImageToImage)
        {
            if (request.Width is not null) errors.Add("width", "image-to-image keeps the image's size: resize the image instead.");
            if (request.Height is not null) errors.Add("height", "image-to-image keeps the image's size: resize the image instead.");
        }
        // The size an input image gives: its own, rounded down to a multiple of the VAE scale factor, as the pipelines do.
        var fromImage = task switch
        {
            PipelineTask.ImageToImage or PipelineTask.Inpainting => image,
            PipelineTask.ControlNet => control,
            _ => null,
        };
        int Default(int? sample, string field)
        {
            if (fromImage is not null) return 0;
            if (sample is { } s) return s * vsf;
            if (model is not null && task == PipelineTask.TextToImage) errors.Add(field, $"is required: model '{model.Name}' has no default size.");
            return 0;
        }
        var width = task == PipelineTask.ImageToImage ? null : request.Width;
        var height = task == PipelineTask.ImageToImage ? null : request.Height;
        var w = width ?? (fromImage is { } fw ? fw.Width / vsf * vsf : Default(model?.SampleSize?.Width, "width"));
        var h = height ?? (fromImage is { } fh ? fh.Height / vsf * vsf : Default(model?.SampleSize?.Height, "height"));
        // diffusers' text-to-image pipelines ask for multiples of 8 whatever the VAE; the others for its scale factor.
        var (multiple, why) = task == PipelineTask.TextToImage
            ? (PipelineChecks.TextToImageSizeMultiple, "for text-to-image")
            : (vsf, "the VAE scale factor");
        var sizeOk = true;
        foreach (var (field, value, given) in new[] { ("width", w, width is not null), ("height", h, height is not null) })
        {
            if (given && (value < multiple || value % multiple != 0))
            {
                errors.Add(field, $"must be a positive multiple of {multiple} ({why}, as diffusers' check_inputs requires), got {value}.");
                sizeOk = false;
            }
            else if (!given && fromImage is not null && value < vsf)
            {
                errors.Add(task == PipelineTask.ControlNet ? "control_image" : "image", $"must be at least {vsf}x{vsf} pixels.");
                sizeOk = false;
            }
            else if (!given && fromImage is null && value > 0 && value % multiple != 0)
            {
                errors.Add(field, $"is required: model '{model!.Name}' defaults to {value}, which is not a multiple of {multiple} ({why}).");
                sizeOk = false;
            }
        }
        if (sizeOk && (long)w * h > _limits.MaxPixels)
            errors.Add(width is null && fromImage is not null ? (task == PipelineTask.ControlNet ? "control_image" : "image") : "width",
                $"width × height = {w}x{h} = {(long)w * h} pixels; at most {_limits.MaxPixels} are allowed.");
        return (w, h);
    }

    private ModelInfo? CheckControlNet(GenerationRequest request, PipelineTask task, ModelInfo? model, Errors errors)
    {
        if (task != PipelineTask.ControlNet)
        {
            if (request.ControlNet is not null) errors.Add("controlnet", $"{TaskName(task)} takes no controlnet.");
            if (request.ControlNetConditioningScale is not null) errors.Add("controlnet_conditioning_scale", $"{TaskName(task)} takes no controlnet_conditioning_scale.");
            if (request.ControlGuidanceStart is not null) errors.Add("control_guidance_start", $"{TaskName(task)} takes no control_guidance_start.");
            if (request.ControlGuidanceEnd is not null) errors.Add("control_guidance_end", $"{TaskName(task)} takes no control_guidance_end.");
            return null;
        }
        var scale = request.ControlNetConditioningScale ?? 1.0;
        if (!double.IsFinite(scale) || scale < 0 || scale > _limits.MaxControlNetConditioningScale)
            errors.Add("controlnet_conditioning_scale", $"must be in [0, {_limits.MaxControlNetConditioningScale}], got {scale}.");
        var start = request.ControlGuidanceStart ?? 0.0;
        var end = request.ControlGuidanceEnd ?? 1.0;
        var rangeOk = true;
        if (!double.IsFinite(start) || start < 0 || start >= 1)
        {
            errors.Add("control_guidance_start", $"must be in [0, 1), got {start}.");
            rangeOk = false;
        }
        if (!double.IsFinite(end) || end <= 0 || end > 1)
        {
            errors.Add("control_guidance_end", $"must be in (0, 1], got {end}.");
            rangeOk = false;
        }
        if (rangeOk && start >= end)
            errors.Add("control_guidance_start", $"must be below control_guidance_end ({end}), got {start}.");

        if (request.ControlNet is null)
        {
            errors.Add("controlnet", "is required for controlnet: name a ControlNet model folder.");
            return null;
        }
        ModelInfo net;
        try
        {
            net = _catalog.Resolve(request.ControlNet, "controlnet");
        }
        catch (RequestValidationException e)
        {
            errors.AddAll(e);
            return null;
        }
        if (net.Kind != ModelKind.ControlNet)
        {
            errors.Add("controlnet", $"'{net.Name}' is not a ControlNetModel folder.");
            return null;
        }
        if (model is not null && (!net.BlockOutChannels.SequenceEqual(model.BlockOutChannels) || net.CrossAttentionDim != model.CrossAttentionDim || net.InChannels != model.InChannels))
            errors.Add("controlnet", $"'{net.Name}' does not fit model '{model.Name}': its block_out_channels, cross_attention_dim and in_channels must be the UNet's.");
        return net;
    }

    private static ((int, int)? Original, (int, int)? Target, (int, int) Crops) CheckMicroConditioning(GenerationRequest request, ModelInfo? model, Errors errors)
    {
        (int, int)? Pair(int[]? value, string field, int min)
        {
            if (value is null) return null;
            if (model is not null && model.Kind != ModelKind.StableDiffusionXL)
            {
                errors.Add(field, $"only SDXL models take {field}; model '{model.Name}' is not one.");
                return null;
            }
            if (value.Length != 2)
            {
                errors.Add(field, $"must be 2 integers [{(field == "crops_coords_top_left" ? "top, left" : "height, width")}], got {value.Length}.");
                return null;
            }
            if (value.Any(v => v < min || v > MaxMicroConditioningSize))
            {
                errors.Add(field, $"values must be in [{min}, {MaxMicroConditioningSize}], got [{value[0]}, {value[1]}].");
                return null;
            }
            return (value[0], value[1]);
        }
        return (Pair(request.OriginalSize, "original_size", 1), Pair(request.TargetSize, "target_size", 1),
            Pair(request.CropsCoordsTopLeft, "crops_coords_top_left", 0) ?? (0, 0));
    }

    private static SchedulerSpec? ResolveScheduler(GenerationRequest request, ModelInfo? model, int steps, Errors errors)
    {
        string className;
        var overrides = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        if (request.Scheduler is { } name)
        {
            if (SchedulerAliases.Find(name) is { } alias)
            {
                className = alias.ClassName;
                foreach (var (key, value) in alias.Options) overrides[key] = value.DeepClone();
            }
            else if (SchedulerFactory.KnownClassNames.Contains(name))
                className = name;
            else
            {
                errors.Add("scheduler", $"unknown scheduler '{(name.Length > 64 ? name[..64] : name)}'. Give a short name ({string.Join(", ", SchedulerAliases.All.Select(a => a.Name))}) or a class ({string.Join(", ", SchedulerFactory.KnownClassNames)}).");
                return null;
            }
        }
        else if (model is not null)
            className = model.SchedulerClassName;
        else
            return null;

        var options = request.SchedulerOptions ?? new Dictionary<string, JsonElement>();
        if (options.Count > MaxSchedulerOptions)
        {
            errors.Add("scheduler_options", $"may have at most {MaxSchedulerOptions} keys, got {options.Count}.");
            return null;
        }
        var known = KnownKeys(className);
        var ok = true;
        foreach (var (key, value) in options)
        {
            if (!known.Contains(key))
            {
                errors.Add("scheduler_options", $"{className} has no option '{(key.Length > 64 ? key[..64] : key)}'. Its options: {string.Join(", ", known.Order(StringComparer.Ordinal))}.");
                ok = false;
                continue;
            }
            overrides[key] = JsonNode.Parse(value.GetRawText());
        }
        if (!ok || model is null) return ok ? new SchedulerSpec(className, overrides) : null;
        var spec = new SchedulerSpec(className, overrides);
        // Building the scheduler and its timesteps is cheap and finds every bad value (types, unknown algorithm names, ...).
        try
        {
            using var scope = NewDisposeScope();
            using var scheduler = spec.Create(model.SchedulerConfig);
            if (steps >= 1) scheduler.SetTimesteps(steps);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException or FormatException
                                      or InvalidCastException or InvalidDataException or KeyNotFoundException or OverflowException)
        {
            errors.Add(options.Count > 0 ? "scheduler_options" : "scheduler", $"{className} cannot run {steps} steps with these options: {e.Message}");
            return null;
        }
        return spec;
    }

    /// <summary>The config keys a scheduler class takes: those it fills with defaults from an empty config.</summary>
    private static HashSet<string> KnownKeys(string className)
    {
        using var scheduler = SchedulerFactory.FromConfig(className, new DiffusersSharp.Loading.ModelConfig());
        return scheduler.Config["_use_default_values"] is JsonArray keys
            ? keys.Select(k => k!.GetValue<string>()).ToHashSet(StringComparer.Ordinal)
            : [];
    }

    /// <summary>
    /// Whether the scheduler draws from the generator while stepping: found by running it over a few steps on a tiny
    /// sample and seeing whether the generator moved. Remembered per model and scheduler.
    /// </summary>
    private bool IsStochastic(ModelInfo model, SchedulerSpec spec) =>
        _stochastic.GetOrAdd(model.Name + "\n" + spec.Canonical, _ =>
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            using var scheduler = spec.Create(model.SchedulerConfig);
            scheduler.SetTimesteps(4);
            using var generator = new Generator(0);
            var before = generator.get_state().clone();
            var sample = ones(1, 4, 2, 2);
            var timesteps = scheduler.Timesteps;
            for (var i = 0; i < timesteps.shape[0]; i++)
            {
                var t = timesteps[i];
                var input = scheduler.ScaleModelInput(sample, t);
                sample = scheduler.Step(input * 0.1, t, sample, generator).PrevSample;
            }
            return !before.eq(generator.get_state()).all().item<bool>();
        });

    private static string? BatchKeyOf(ResolvedRequest r)
    {
        if (r.Task != PipelineTask.TextToImage || r.SchedulerIsStochastic) return null;
        return string.Join("|", r.Model.Directory, r.DType?.ToString() ?? "float32", r.Device, r.Width, r.Height, r.NumInferenceSteps,
            r.NumImagesPerPrompt, r.GuidanceScale.ToString("R"), r.GuidanceRescale.ToString("R"), r.ClipSkip?.ToString() ?? "-",
            r.Scheduler.Canonical, r.Model.Kind == ModelKind.StableDiffusionXL && r.NegativePrompt is null ? "zero-negative" : "negative",
            r.OriginalSize?.ToString() ?? "-", r.TargetSize?.ToString() ?? "-", r.CropsCoordsTopLeft.ToString());
    }

    private static string? CacheKeyOf(ResolvedRequest r)
    {
        if (r.Seed is null) return null;
        static string? Hash(byte[]? data) => data is null ? null : Convert.ToHexString(SHA256.HashData(data));
        static JsonArray? Pair((int, int)? p) => p is { } v ? new JsonArray(v.Item1, v.Item2) : null;
        var options = new JsonObject();
        foreach (var (key, value) in r.Scheduler.Overrides) options[key] = value?.DeepClone();
        var canonical = new JsonObject
        {
            ["model"] = r.Model.Name,
            ["controlnet"] = r.ControlNet?.Name,
            ["dtype"] = r.DType?.ToString() ?? "float32",
            ["device"] = r.Device,
            ["task"] = r.Task.ToString(),
            ["prompt"] = r.Prompt,
            ["negative_prompt"] = r.NegativePrompt,
            ["num_inference_steps"] = r.NumInferenceSteps,
            ["guidance_scale"] = r.GuidanceScale,
            ["guidance_rescale"] = r.GuidanceRescale,
            ["clip_skip"] = r.ClipSkip,
            ["width"] = r.Width,
            ["height"] = r.Height,
            ["num_images_per_prompt"] = r.NumImagesPerPrompt,
            ["seed"] = r.Seed,
            ["scheduler"] = r.Scheduler.ClassName,
            ["scheduler_options"] = options,
            ["strength"] = r.Strength,
            ["controlnet_conditioning_scale"] = r.ControlNetConditioningScale,
            ["control_guidance_start"] = r.ControlGuidanceStart,
            ["control_guidance_end"] = r.ControlGuidanceEnd,
            ["original_size"] = Pair(r.OriginalSize),
            ["target_size"] = Pair(r.TargetSize),
            ["crops_coords_top_left"] = Pair(r.CropsCoordsTopLeft),
            ["image"] = Hash(r.Request.Image),
            ["mask_image"] = Hash(r.Request.MaskImage),
            ["control_image"] = Hash(r.Request.ControlImage),
        };
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToJsonString())));
    }

    private static string TaskName(PipelineTask task) => task switch
    {
        PipelineTask.TextToImage => "text-to-image",
        PipelineTask.ImageToImage => "image-to-image",
        PipelineTask.Inpainting => "inpainting",
        _ => "controlnet",
    };

    /// <summary>Field → messages, in the order found.</summary>
    private sealed class Errors
    {
        private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

        public void Add(string field, string message)
        {
            if (!_errors.TryGetValue(field, out var list)) _errors[field] = list = [];
            list.Add(message);
        }

        public void AddAll(RequestValidationException e)
        {
            foreach (var (field, messages) in e.Errors)
                foreach (var message in messages) Add(field, message);
        }

        public void ThrowIfAny()
        {
            if (_errors.Count > 0)
                throw new RequestValidationException(_errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal));
        }
    }
}
