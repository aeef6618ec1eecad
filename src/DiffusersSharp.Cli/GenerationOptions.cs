using System.CommandLine;
using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;

namespace DiffusersSharp.Cli;

/// <summary>
/// The options every image-generating command (generate, img2img, inpaint, controlnet) shares: model and device,
/// prompts, sampling, the output size where the command takes one, seed, scheduler and output; and the run they share:
/// open the model, swap the scheduler, generate with a progress bar on stderr, write the PNGs and print their names on
/// stdout.
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
    private readonly Option<double?> _guidance = new("--guidance", "-g") { Description = "Classifier-free guidance scale; 1 or less turns guidance off (default: the pipeline's, e.g. 7.5 for Stable Diffusion, 5 for SDXL)." };
    private readonly Option<double> _rescale = new("--guidance-rescale") { Description = "Guidance rescale factor in [0, 1] (Lin et al. 2023).", DefaultValueFactory = _ => 0.0 };
    private readonly Option<int?> _clipSkip = new("--clip-skip") { Description = "Use the text encoder's hidden state this many layers before the last." };
    private readonly Option<int?>? _width;
    private readonly Option<int?>? _height;
    private readonly Option<long?> _seed = new("--seed", "-s") { Description = "Seed of the CPU generator; the same seed gives diffusers' picture. Random if omitted (printed)." };
    private readonly Option<string> _generatorDevice = new("--generator-device")
    {
        Description = "Where the seeded generator draws: cpu (default; diffusers' choice, the same picture for a seed on every device) or device (the --device's own generator: no copy, but other pictures).",
        DefaultValueFactory = _ => "cpu",
    };
    private readonly Option<int> _numImages = new("--num-images", "-k") { Description = "Images per prompt.", DefaultValueFactory = _ => 1 };
    private readonly Option<double> _eta = new("--eta") { Description = "DDIM's eta (noise added at each step); other schedulers ignore it.", DefaultValueFactory = _ => 0.0 };
    private readonly Option<string?> _scheduler = new("--scheduler")
    {
        Description = "Scheduler to swap in: a diffusers class name (EulerDiscreteScheduler) or a short name (euler-a, dpm++2m-karras, unipc, lcm, ...; " +
            "see 'diffuse schedulers'). Keeps the model's scheduler config, as diffusers' from_config.",
    };
    private readonly Option<string[]> _schedulerOptions = new("--scheduler-option")
    {
        Description = "Override one scheduler config key, KEY=VALUE with a JSON value (e.g. use_karras_sigmas=true). Repeatable.",
        DefaultValueFactory = _ => [],
    };
    private readonly Option<string> _output = new("--output", "-o")
    {
        Description = "PNG file to write; several images become FILE-0.png, FILE-1.png, ... (all images of the first prompt, then the next).",
        DefaultValueFactory = _ => "out.png",
    };

    /// <param name="defaultSize">
    /// Where the output size comes from when --width/--height are omitted, for their help text; null for a command
    /// without them (the output takes its input image's size).
    /// </param>
    public GenerationOptions(string? defaultSize)
    {
        if (defaultSize is null) return;
        _width = new("--width", "-W") { Description = $"Image width in pixels, a multiple of 8 (default: {defaultSize})." };
        _height = new("--height", "-H") { Description = $"Image height in pixels, a multiple of 8 (default: {defaultSize})." };
    }

    public void AddTo(Command command)
    {
        _common.AddTo(command);
        Option?[] options = [_prompt, _negative, _steps, _guidance, _rescale, _clipSkip, _width, _height, _seed, _generatorDevice, _numImages, _eta, _scheduler, _schedulerOptions, _output];
        foreach (var option in options.OfType<Option>())
            command.Options.Add(option);
    }

    /// <summary>
    /// Runs one command: checks --output, opens the model, swaps the scheduler, generates with a progress bar, writes
    /// the PNGs and prints their paths on stdout and, for a random seed, the seed on stderr.
    /// </summary>
    /// <param name="open">Opens the model folder as the command's pipeline.</param>
    /// <param name="generate">Runs the pipeline on the command's input, with the shared arguments applied to it.</param>
    public int Run<TPipeline>(ParseResult result, Func<string, LoadOptions, TPipeline> open, Func<TPipeline, GenerationArguments, PipelineOutput> generate)
        where TPipeline : DiffusionPipeline
    {
        var outputPath = result.GetValue(_output)!;
        if (!outputPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--output must name a .png file, got '{outputPath}'.");
        var options = _common.LoadOptions(result);
        var modelDir = _common.ResolveModel(result);
        var givenSeed = result.GetValue(_seed);
        var arguments = new GenerationArguments
        {
            Prompt = result.GetValue(_prompt)!,
            NegativePrompt = result.GetValue(_negative) is { } n ? [n] : null,
            Steps = result.GetValue(_steps),
            Guidance = result.GetValue(_guidance),
            GuidanceRescale = result.GetValue(_rescale),
            ClipSkip = result.GetValue(_clipSkip),
            Width = _width is null ? null : result.GetValue(_width),
            Height = _height is null ? null : result.GetValue(_height),
            Seed = givenSeed ?? Random.Shared.NextInt64(0, int.MaxValue),
            GeneratorDevice = ParseGeneratorDevice(result.GetValue(_generatorDevice)!),
            NumImages = result.GetValue(_numImages),
            Eta = result.GetValue(_eta),
        };

        using var pipeline = open(modelDir, options);
        SchedulerSwap.Apply(pipeline, result.GetValue(_scheduler), result.GetValue(_schedulerOptions)!);
        using var images = ProgressReporter.Run(arguments.Steps, callback => generate(pipeline, arguments with { Callback = callback }));
        foreach (var path in ImageWriter.WriteAll(images.Images!, outputPath))
            Console.WriteLine(path);
        if (givenSeed is null) Console.Error.WriteLine($"seed: {arguments.Seed} (pass --seed {arguments.Seed} to draw this picture again)");
        return 0;
    }

    private static GeneratorDevice ParseGeneratorDevice(string value) => value.ToLowerInvariant() switch
    {
        "cpu" => GeneratorDevice.Cpu,
        "device" => GeneratorDevice.Device,
        _ => throw new ArgumentException($"Unknown --generator-device '{value}': use cpu or device."),
    };
}
