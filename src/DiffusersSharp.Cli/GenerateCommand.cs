using System.CommandLine;
using System.Text.Json.Nodes;
using DiffusersSharp.Images;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Runtime;
using DiffusersSharp.Schedulers;

namespace DiffusersSharp.Cli;

/// <summary><c>diffuse generate</c>: text-to-image, writing PNGs.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        var prompt = new Option<string[]>("--prompt", "-p")
        {
            Description = "Text prompt. Repeat to run several prompts as one batch.",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var negative = new Option<string?>("--negative-prompt", "-n") { Description = "What the image should not show; applies to every prompt." };
        var steps = new Option<int>("--steps") { Description = "Number of denoising steps (num_inference_steps).", DefaultValueFactory = _ => 50 };
        var guidance = new Option<double>("--guidance", "-g") { Description = "Classifier-free guidance scale; 1 or less turns guidance off.", DefaultValueFactory = _ => 7.5 };
        var rescale = new Option<double>("--guidance-rescale") { Description = "Guidance rescale factor in [0, 1] (Lin et al. 2023).", DefaultValueFactory = _ => 0.0 };
        var clipSkip = new Option<int?>("--clip-skip") { Description = "Use the text encoder's hidden state this many layers before the last." };
        var width = new Option<int?>("--width", "-W") { Description = "Image width in pixels, a multiple of 8 (default: the model's)." };
        var height = new Option<int?>("--height", "-H") { Description = "Image height in pixels, a multiple of 8 (default: the model's)." };
        var seed = new Option<long?>("--seed", "-s") { Description = "Seed of the CPU generator; the same seed gives diffusers' picture. Random if omitted (printed)." };
        var numImages = new Option<int>("--num-images", "-k") { Description = "Images per prompt.", DefaultValueFactory = _ => 1 };
        var eta = new Option<double>("--eta") { Description = "DDIM's eta (noise added at each step); other schedulers ignore it.", DefaultValueFactory = _ => 0.0 };
        var scheduler = new Option<string?>("--scheduler") { Description = "Scheduler to swap in: a diffusers class name (EulerDiscreteScheduler) or a short name (euler-a, dpm++2m-karras, unipc, lcm, ...; see 'diffuse schedulers'). Keeps the model's scheduler config, as diffusers' from_config." };
        var schedulerOption = new Option<string[]>("--scheduler-option")
        {
            Description = "Override one scheduler config key, KEY=VALUE with a JSON value (e.g. use_karras_sigmas=true). Repeatable.",
            DefaultValueFactory = _ => [],
        };
        var output = new Option<string>("--output", "-o")
        {
            Description = "PNG file to write; several images become FILE-0.png, FILE-1.png, ... (all images of the first prompt, then the next).",
            DefaultValueFactory = _ => "out.png",
        };

        var command = new Command("generate", "Generate images from text prompts (text-to-image).");
        common.AddTo(command);
        foreach (var o in new Option[] { prompt, negative, steps, guidance, rescale, clipSkip, width, height, seed, numImages, eta, scheduler, schedulerOption, output })
            command.Options.Add(o);

        command.SetAction(result => CliErrors.Run(() =>
        {
            NativeRuntime.EnsureLoaded();
            var outputPath = result.GetValue(output)!;
            if (!outputPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"--output must name a .png file, got '{outputPath}'.");
            var options = common.LoadOptions(result);
            var modelDir = common.ResolveModel(result);
            var actualSeed = result.GetValue(seed) ?? Random.Shared.NextInt64(0, int.MaxValue);

            using var pipeline = DiffusionPipeline.FromPretrained(modelDir, options);
            if (pipeline is not StableDiffusionPipeline sd)
                throw new NotSupportedException($"{modelDir} holds a {pipeline.ClassName}; 'generate' runs text-to-image pipelines.");
            SchedulerSwap.Apply(sd, result.GetValue(scheduler), result.GetValue(schedulerOption)!);

            var prompts = result.GetValue(prompt)!;
            var input = new StableDiffusionInput
            {
                Prompt = prompts,
                NegativePrompt = result.GetValue(negative) is { } n ? [n] : null,
                NumInferenceSteps = result.GetValue(steps),
                GuidanceScale = result.GetValue(guidance),
                GuidanceRescale = result.GetValue(rescale),
                ClipSkip = result.GetValue(clipSkip),
                Width = result.GetValue(width),
                Height = result.GetValue(height),
                Seed = actualSeed,
                NumImagesPerPrompt = result.GetValue(numImages),
                Eta = result.GetValue(eta),
            };
            using var images = ProgressReporter.Run(input.NumInferenceSteps, callback => sd.Generate(input with { CallbackOnStepEnd = callback }));
            foreach (var path in ImageWriter.WriteAll(images.Images!, outputPath))
                Console.WriteLine(path);
            if (result.GetValue(seed) is null) Console.Error.WriteLine($"seed: {actualSeed} (pass --seed {actualSeed} to draw this picture again)");
            return 0;
        }));
        return command;
    }
}

/// <summary>Swaps a pipeline's scheduler the way diffusers' <c>X.from_config(pipe.scheduler.config)</c> does, with key overrides.</summary>
internal static class SchedulerSwap
{
    public static void Apply(StableDiffusionPipeline pipeline, string? className, IReadOnlyList<string> overrides)
    {
        if (className is null && overrides.Count == 0) return;
        var config = pipeline.Scheduler.Config.Clone();
        if (className is not null && SchedulerAliases.Find(className) is { } alias)
        {
            className = alias.ClassName;
            foreach (var (key, value) in alias.Options) config[key] = value;
        }
        foreach (var item in overrides)
        {
            var eq = item.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"--scheduler-option '{item}' must be KEY=VALUE.");
            var key = item[..eq];
            var text = item[(eq + 1)..];
            JsonNode? value;
            try
            {
                value = JsonNode.Parse(text);
            }
            catch (System.Text.Json.JsonException)
            {
                // Bare words such as karras or trailing are meant as strings.
                value = JsonValue.Create(text);
            }
            config[key] = value;
        }
        pipeline.SetScheduler(SchedulerFactory.FromConfig(className ?? pipeline.Scheduler.ClassName, config));
    }
}
