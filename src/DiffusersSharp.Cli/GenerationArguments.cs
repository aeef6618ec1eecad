using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;

namespace DiffusersSharp.Cli;

/// <summary>The values of <see cref="GenerationOptions"/> for one run, with the seed resolved and the progress callback.</summary>
internal sealed record GenerationArguments
{
    public required IReadOnlyList<string> Prompt { get; init; }
    public IReadOnlyList<string>? NegativePrompt { get; init; }
    public required int Steps { get; init; }
    /// <summary>Null where --guidance was omitted: the pipeline's default applies.</summary>
    public double? Guidance { get; init; }
    public double GuidanceRescale { get; init; }
    public int? ClipSkip { get; init; }
    /// <summary>Null where omitted or where the command has no --width/--height.</summary>
    public int? Width { get; init; }
    public int? Height { get; init; }
    public required long Seed { get; init; }
    public GeneratorDevice GeneratorDevice { get; init; }
    public required int NumImages { get; init; }
    public double Eta { get; init; }
    public StepEndCallback? Callback { get; init; }

    /// <summary><paramref name="input"/> with the shared arguments set; the command's own stay as it set them.</summary>
    public T ApplyTo<T>(T input) where T : StableDiffusionInputBase
    {
        StableDiffusionInputBase applied = input with
        {
            Prompt = Prompt,
            NegativePrompt = NegativePrompt,
            NumInferenceSteps = Steps,
            GuidanceScale = Guidance ?? input.GuidanceScale,
            GuidanceRescale = GuidanceRescale,
            ClipSkip = ClipSkip,
            Seed = Seed,
            GeneratorDevice = GeneratorDevice,
            NumImagesPerPrompt = NumImages,
            Eta = Eta,
            CallbackOnStepEnd = Callback,
        };
        return (T)applied;
    }
}
