using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using DiffusersSharp.Images;
using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Pipelines.StableDiffusionXL;
using DiffusersSharp.Runtime;
using DiffusersSharp.Schedulers;

namespace DiffusersSharp.Cli;

/// <summary><c>diffuse generate</c>: text-to-image with the pipeline class the model folder names, writing PNGs.</summary>
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
        var prompt2 = new Option<string[]>("--prompt-2")
        {
            Description = "SDXL: prompt for the second text encoder, one per --prompt (default: the --prompt).",
            AllowMultipleArgumentsPerToken = false,
        };
        var negative2 = new Option<string?>("--negative-prompt-2") { Description = "SDXL: negative prompt for the second text encoder (default: --negative-prompt). As in diffusers, without --negative-prompt SDXL uses zeros as the negative and ignores this." };
        var originalSize = new Option<string?>("--original-size") { Description = "SDXL micro-conditioning: H,W of the picture the image should seem taken from (default: the output size)." };
        var targetSize = new Option<string?>("--target-size") { Description = "SDXL micro-conditioning: H,W the image should seem made for (default: the output size)." };
        var crops = new Option<string?>("--crops-coords-top-left") { Description = "SDXL micro-conditioning: TOP,LEFT of the crop the image should seem cut at (default: 0,0)." };
        var steps = new Option<int>("--steps") { Description = "Number of denoising steps (num_inference_steps).", DefaultValueFactory = _ => 50 };
        var guidance = new Option<double?>("--guidance", "-g") { Description = "Classifier-free guidance scale; 1 or less turns guidance off (default: the pipeline's, 7.5 for SD, 5 for SDXL)." };
        var rescale = new Option<double>("--guidance-rescale") { Description = "Guidance rescale factor in [0, 1] (Lin et al. 2023).", DefaultValueFactory = _ => 0.0 };
        var clipSkip = new Option<int?>("--clip-skip") { Description = "Use the text encoder's hidden state this many layers before the last." };
        var width = new Option<int?>("--width", "-W") { Description = "Image width in pixels, a multiple of 8 (default: the model's)." };
        var height = new Option<int?>("--height", "-H") { Description = "Image height in pixels, a multiple of 8 (default: the model's)." };
        var seed = new Option<long?>("--seed", "-s") { Description = "Seed of the CPU generator; the same seed gives diffusers' picture. Random if omitted (printed)." };
        var numImages = new Option<int>("--num-images", "-k") { Description = "Images per prompt.", DefaultValueFactory = _ => 1 };
        var eta = new Option<double>("--eta") { Description = "DDIM's eta (noise added at each step); other schedulers ignore it.", DefaultValueFactory = _ => 0.0 };
        var scheduler = new Option<string?>("--scheduler") { Description = "Scheduler class to swap in, e.g. EulerDiscreteScheduler (keeps the model's scheduler config, as diffusers' from_config)." };
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
        foreach (var o in new Option[] { prompt, negative, prompt2, negative2, originalSize, targetSize, crops, steps, guidance, rescale, clipSkip, width, height, seed, numImages, eta, scheduler, schedulerOption, output })
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

            // Everything is read and checked once, before any weights load; each pipeline type then gets its input record.
            var sdxlOnly = new Option[] { prompt2, negative2, originalSize, targetSize, crops }.Where(o => result.GetResult(o) is { Implicit: false }).ToList();
            var className = ModelIndex.Load(modelDir).ClassName;
            if (sdxlOnly.Count > 0 && className != "StableDiffusionXLPipeline")
                throw new ArgumentException($"{string.Join(", ", sdxlOnly.Select(o => o.Name))} only apply to SDXL models; {modelDir} holds a {className}.");
            var prompts = result.GetValue(prompt)!;
            var negativePrompt = result.GetValue(negative) is { } n ? new[] { n } : null;
            var prompts2 = result.GetValue(prompt2) is { Length: > 0 } p2 ? p2 : null;
            var negativePrompt2 = result.GetValue(negative2) is { } n2 ? new[] { n2 } : null;
            var originalSizeValue = ParsePair(result.GetValue(originalSize), originalSize.Name, "H,W");
            var targetSizeValue = ParsePair(result.GetValue(targetSize), targetSize.Name, "H,W");
            var cropsValue = ParsePair(result.GetValue(crops), crops.Name, "TOP,LEFT") ?? (0, 0);
            var stepCount = result.GetValue(steps);
            var guidanceScale = result.GetValue(guidance);
            var guidanceRescale = result.GetValue(rescale);
            var clipSkipValue = result.GetValue(clipSkip);
            var widthValue = result.GetValue(width);
            var heightValue = result.GetValue(height);
            var imagesPerPrompt = result.GetValue(numImages);
            var etaValue = result.GetValue(eta);

            using var pipeline = DiffusionPipeline.FromPretrained(modelDir, options);
            Func<StepEndCallback, PipelineOutput> generate = pipeline switch
            {
                StableDiffusionPipeline sd => callback => sd.Generate(new StableDiffusionInput
                {
                    Prompt = prompts,
                    NegativePrompt = negativePrompt,
                    NumInferenceSteps = stepCount,
                    GuidanceScale = guidanceScale ?? new StableDiffusionInput().GuidanceScale,
                    GuidanceRescale = guidanceRescale,
                    ClipSkip = clipSkipValue,
                    Width = widthValue,
                    Height = heightValue,
                    Seed = actualSeed,
                    NumImagesPerPrompt = imagesPerPrompt,
                    Eta = etaValue,
                    CallbackOnStepEnd = callback,
                }),
                StableDiffusionXLPipeline xl => callback => xl.Generate(new StableDiffusionXLInput
                {
                    Prompt = prompts,
                    Prompt2 = prompts2,
                    NegativePrompt = negativePrompt,
                    NegativePrompt2 = negativePrompt2,
                    OriginalSize = originalSizeValue,
                    TargetSize = targetSizeValue,
                    CropsCoordsTopLeft = cropsValue,
                    NumInferenceSteps = stepCount,
                    GuidanceScale = guidanceScale ?? new StableDiffusionXLInput().GuidanceScale,
                    GuidanceRescale = guidanceRescale,
                    ClipSkip = clipSkipValue,
                    Width = widthValue,
                    Height = heightValue,
                    Seed = actualSeed,
                    NumImagesPerPrompt = imagesPerPrompt,
                    Eta = etaValue,
                    CallbackOnStepEnd = callback,
                }),
                _ => throw new NotSupportedException($"{modelDir} holds a {pipeline.ClassName}; 'generate' runs text-to-image pipelines."),
            };
            SchedulerSwap.Apply((ISchedulerPipeline)pipeline, result.GetValue(scheduler), result.GetValue(schedulerOption)!);
            using var images = ProgressReporter.Run(stepCount, generate);
            foreach (var path in ImageWriter.WriteAll(images.Images!, outputPath))
                Console.WriteLine(path);
            if (result.GetValue(seed) is null) Console.Error.WriteLine($"seed: {actualSeed} (pass --seed {actualSeed} to draw this picture again)");
            return 0;
        }));
        return command;
    }

    /// <summary>Two integers written "A,B" (e.g. H,W), or null when the option is absent.</summary>
    private static (int, int)? ParsePair(string? text, string option, string form)
    {
        if (text is null) return null;
        var parts = text.Split(',');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var a)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var b))
            return (a, b);
        throw new ArgumentException($"{option} takes {form}, two non-negative integers, got '{text}'.");
    }
}

/// <summary>Swaps a pipeline's scheduler the way diffusers' <c>X.from_config(pipe.scheduler.config)</c> does, with key overrides.</summary>
internal static class SchedulerSwap
{
    public static void Apply(ISchedulerPipeline pipeline, string? className, IReadOnlyList<string> overrides)
    {
        if (className is null && overrides.Count == 0) return;
        var config = pipeline.Scheduler.Config.Clone();
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
