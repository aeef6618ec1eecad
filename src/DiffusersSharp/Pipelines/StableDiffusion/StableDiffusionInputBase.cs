using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusion;

/// <summary>
/// The call arguments every Stable Diffusion pipeline (1.x/2.x and XL) takes, named after diffusers' <c>__call__</c> arguments.
/// Give either <see cref="Prompt"/> or <see cref="PromptEmbeds"/>; a negative prompt list is one per prompt, or one for all.
/// Tensors stay the caller's.
/// </summary>
public abstract record StableDiffusionInputBase
{
    public IReadOnlyList<string>? Prompt { get; init; }
    public IReadOnlyList<string>? NegativePrompt { get; init; }
    public int NumInferenceSteps { get; init; } = 50;
    public double GuidanceScale { get; init; } = 7.5;
    public int NumImagesPerPrompt { get; init; } = 1;
    /// <summary>DDIM's η; other schedulers ignore it.</summary>
    public double Eta { get; init; }
    /// <summary>Seed of a generator, as <c>torch.Generator("cpu").manual_seed(seed)</c> (see <see cref="GeneratorDevice"/>); ignored when <see cref="Generator"/> is set.</summary>
    public long? Seed { get; init; }
    /// <summary>Where the generator seeded from <see cref="Seed"/> draws: the CPU (default, the same pictures on every device) or the pipeline's device.</summary>
    public GeneratorDevice GeneratorDevice { get; init; } = GeneratorDevice.Cpu;
    /// <summary>A generator the caller owns (e.g. one shared over several calls).</summary>
    public Generator? Generator { get; init; }
    public Tensor? PromptEmbeds { get; init; }
    public Tensor? NegativePromptEmbeds { get; init; }
    public OutputType OutputType { get; init; } = OutputType.Image;
    /// <summary>
    /// diffusers' <c>guidance_rescale</c> (Lin et al., 2023), in [0, 1]. diffusers' Stable Diffusion image-to-image,
    /// inpainting and ControlNet pipelines lack it; here every pipeline takes it, and the default 0 gives their results.
    /// </summary>
    public double GuidanceRescale { get; init; }
    /// <summary>Layers to skip from the end of the text encoder (diffusers' <c>clip_skip</c>).</summary>
    public int? ClipSkip { get; init; }
    public StepEndCallback? CallbackOnStepEnd { get; init; }

    /// <summary>
    /// The generator a call seeds from <see cref="Seed"/> (the call disposes it), or null when <see cref="Generator"/>
    /// or no seed is given, or when the draws come from the device's default generator (see below).
    /// </summary>
    /// <param name="device">The pipeline's device, where a <see cref="GeneratorDevice.Device"/> generator draws.</param>
    /// <remarks>
    /// TorchSharp 0.107 cannot make a generator object on CUDA (its native constructor always makes a CPU one, whose
    /// draws on a CUDA tensor fail), so a <see cref="GeneratorDevice.Device"/> seed on CUDA reseeds CUDA's default
    /// generators (<c>torch.cuda.manual_seed_all</c>) and the call draws with no generator object: the same numbers
    /// as a fresh <c>torch.Generator("cuda").manual_seed(seed)</c>, but shared by every call on the GPU at that time.
    /// </remarks>
    internal Generator? NewSeededGenerator(Device device)
    {
        if (Generator is not null || Seed is not { } seed) return null;
        if (GeneratorDevice == GeneratorDevice.Cpu || device.type == TorchSharp.DeviceType.CPU) return new Generator((ulong)seed, CPU);
        if (device.type != TorchSharp.DeviceType.CUDA)
            throw new NotSupportedException($"A seeded generator on {device} is not supported; use GeneratorDevice.Cpu.");
        cuda.manual_seed_all(seed);
        return null;
    }
}
