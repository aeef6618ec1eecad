using System.Text.Json.Serialization;

namespace DiffusersSharp.Serving;

/// <summary>The task a request asks for; chosen from the inputs when not given (mask → inpaint, image → img2img, control image → ControlNet).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PipelineTask>))]
public enum PipelineTask
{
    [JsonStringEnumMemberName("text-to-image")] TextToImage,
    [JsonStringEnumMemberName("image-to-image")] ImageToImage,
    [JsonStringEnumMemberName("inpainting")] Inpainting,
    [JsonStringEnumMemberName("controlnet")] ControlNet,
}

/// <summary>
/// One generation of any task, as the service takes it. Over HTTP the fields carry diffusers' own <c>__call__</c>
/// argument names; images are PNG/JPEG bytes (base64 in JSON). Null means the pipeline's own default.
/// </summary>
public sealed record GenerationRequest
{
    /// <summary>A model folder's name inside the service's models folder; the default model when null.</summary>
    [JsonPropertyName("model")] public string? Model { get; init; }
    [JsonPropertyName("task")] public PipelineTask? Task { get; init; }
    [JsonPropertyName("prompt")] public string? Prompt { get; init; }
    [JsonPropertyName("negative_prompt")] public string? NegativePrompt { get; init; }
    [JsonPropertyName("num_inference_steps")] public int? NumInferenceSteps { get; init; }
    [JsonPropertyName("guidance_scale")] public double? GuidanceScale { get; init; }
    [JsonPropertyName("guidance_rescale")] public double? GuidanceRescale { get; init; }
    [JsonPropertyName("clip_skip")] public int? ClipSkip { get; init; }
    [JsonPropertyName("width")] public int? Width { get; init; }
    [JsonPropertyName("height")] public int? Height { get; init; }
    [JsonPropertyName("num_images_per_prompt")] public int? NumImagesPerPrompt { get; init; }
    /// <summary>Seed of diffusers' CPU generator; a request with a seed is deterministic (and cacheable).</summary>
    [JsonPropertyName("seed")] public long? Seed { get; init; }
    /// <summary>A scheduler class name or short alias (see <c>SchedulerAliases</c>); the model's own when null.</summary>
    [JsonPropertyName("scheduler")] public string? Scheduler { get; init; }
    /// <summary>Scheduler config overrides, diffusers' config keys (e.g. <c>use_karras_sigmas</c>).</summary>
    [JsonPropertyName("scheduler_options")] public IReadOnlyDictionary<string, System.Text.Json.JsonElement>? SchedulerOptions { get; init; }
    [JsonPropertyName("image")] public byte[]? Image { get; init; }
    [JsonPropertyName("mask_image")] public byte[]? MaskImage { get; init; }
    [JsonPropertyName("control_image")] public byte[]? ControlImage { get; init; }
    /// <summary>A ControlNetModel folder's name inside the models folder, for the <c>controlnet</c> task.</summary>
    [JsonPropertyName("controlnet")] public string? ControlNet { get; init; }
    [JsonPropertyName("strength")] public double? Strength { get; init; }
    [JsonPropertyName("controlnet_conditioning_scale")] public double? ControlNetConditioningScale { get; init; }
    [JsonPropertyName("control_guidance_start")] public double? ControlGuidanceStart { get; init; }
    [JsonPropertyName("control_guidance_end")] public double? ControlGuidanceEnd { get; init; }
    /// <summary>SDXL micro-conditioning, [height, width].</summary>
    [JsonPropertyName("original_size")] public int[]? OriginalSize { get; init; }
    [JsonPropertyName("target_size")] public int[]? TargetSize { get; init; }
    /// <summary>SDXL micro-conditioning, [top, left].</summary>
    [JsonPropertyName("crops_coords_top_left")] public int[]? CropsCoordsTopLeft { get; init; }
}
