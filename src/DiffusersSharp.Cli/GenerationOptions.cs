using System.CommandLine;
using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;

namespace DiffusersSharp.Cli;

/// <summary>
/// The options every Stable Diffusion command (generate, img2img, inpaint) shares: model and device, prompts, sampling,
/// seed, scheduler and output; and the run they share: open the model, swap the scheduler, generate with a progress bar
/// on stderr, write the PNGs and print their names on stdout.
/// </summary>
internal sealed class GenerationOptions
{
    private readonly CommonOptions _common = new();
    private readonly Option<string[]> _prompt = new("--prompt", "-p")
    {
        Description = "Text prompt. Repeat to run several prompts as one batch.",
        Required = true,
        AllowMultipleArgumentsPerToken = false,
    };
    private readonly Option<string?> _negative = new("--negative-prompt", "-n") { Description = "What the image should not show; applies to every prompt." };
    private readonly Option<int> _steps = new("--steps") { Description = "Number of denoising steps (num_inference_steps).", DefaultValueFactory = _ => 50 };
    private readonly Option<double> _guidance = new("--guidance", "-g") { Description = "Classifier-free guidance scale; 1 or less turns guidance off.", DefaultValueFactory = _ => 7.5 };
    private readonly Option<double> _rescale = new("--guidance-rescale") { Description = "Guidance rescale factor in [0, 1] (Lin et al. 2023).", DefaultValueFactory = _ => 0.0 };
    private readonly Option<int?> _clipSkip = new("--clip-skip") { Description = "Use the text encoder's hidden state this many layers before the last." };
    private readonly Option<long?> _seed = new("--seed", "-s") { Description = "Seed of the CPU generator; the same seed gives diffusers' picture. Random if omitted (printed)." };
    private readonly Option<int> _numImages = new("--num-images", "-k") { Description = "Images per prompt.", DefaultValueFactory = _ => 1 };
    private readonly Option<double> _eta = new("--eta") { Description = "DDIM's eta (noise added at each step); other schedulers ignore it.", DefaultValueFactory = _ => 0.0 };
    private readonly Option<string?> _scheduler = new("--scheduler") { Description = "Scheduler class to swap in, e.g. EulerDiscreteScheduler (keeps the model's scheduler config, as diffusers' from_config)." };
    private readonly Option<string[]> _schedulerOption = new("--scheduler-option")
    {
        Description = "Override one scheduler config key, KEY=VALUE with a JSON value (e.g. use_karras_sigmas=true). Repeatable.",
        DefaultValueFactory = _ => [],
    };
    private readonly Option<string> _output = new("--output", "-o")
    {
        Description = "PNG file to write; several images become FILE-0.png, FILE-1.png, ... (all images of the first prompt, then the next).",
        DefaultValueFactory = _ => "out.png",
    };

    public void AddTo(Command command)
    {
        _common.AddTo(command);
        foreach (var o in new Option[] { _prompt, _negative, _steps, _guidance, _rescale, _clipSkip, _seed, _numImages, _eta, _scheduler, _schedulerOption, _output })
            command.Options.Add(o);
    }

    /// <summary>--width / --height: output size in pixels, a multiple of 8.</summary>
    public static (Option<int?> Width, Option<int?> Height) SizeOptions(string defaultFrom) =>
        (new Option<int?>("--width", "-W") { Description = $"Image width in pixels, a multiple of 8 (default: {defaultFrom})." },
         new Option<int?>("--height", "-H") { Description = $"Image height in pixels, a multiple of 8 (default: {defaultFrom})." });

    /// <summary>Runs one command: <paramref name="input"/> carries its own arguments, the shared ones are filled in here.</summary>
    /// <param name="open">Opens the model folder as the command's pipeline.</param>
    public int Run<TPipeline, TInput>(ParseResult result, Func<string, LoadOptions, TPipeline> open, TInput input, Func<TPipeline, TInput, PipelineOutput> generate)
        where TPipeline : StableDiffusionPipelineBase
        where TInput : StableDiffusionInputBase
    {
        var outputPath = result.GetValue(_output)!;
        if (!outputPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--output must name a .png file, got '{outputPath}'.");
        var options = _common.LoadOptions(result);
        var modelDir = _common.ResolveModel(result);
        var seed = result.GetValue(_seed) ?? Random.Shared.NextInt64(0, int.MaxValue);

        using var pipeline = open(modelDir, options);
        SchedulerSwap.Apply(pipeline, result.GetValue(_scheduler), result.GetValue(_schedulerOption)!);

        StableDiffusionInputBase filled = input with
        {
            Prompt = result.GetValue(_prompt)!,
            NegativePrompt = result.GetValue(_negative) is { } n ? [n] : null,
            NumInferenceSteps = result.GetValue(_steps),
            GuidanceScale = result.GetValue(_guidance),
            GuidanceRescale = result.GetValue(_rescale),
            ClipSkip = result.GetValue(_clipSkip),
            Seed = seed,
            NumImagesPerPrompt = result.GetValue(_numImages),
            Eta = result.GetValue(_eta),
        };
        using var images = ProgressReporter.Run(filled.NumInferenceSteps, callback => generate(pipeline, (TInput)(filled with { CallbackOnStepEnd = callback })));
        foreach (var path in ImageWriter.WriteAll(images.Images!, outputPath))
            Console.WriteLine(path);
        if (result.GetValue(_seed) is null) Console.Error.WriteLine($"seed: {seed} (pass --seed {seed} to draw this picture again)");
        return 0;
    }
}
