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
        var generation = new GenerationOptions("the model's");
        var rescale = new Option<double>("--guidance-rescale") { Description = "Guidance rescale factor in [0, 1] (Lin et al. 2023).", DefaultValueFactory = _ => 0.0 };

        var command = new Command("generate", "Generate images from text prompts (text-to-image).");
        common.AddTo(command);
        generation.AddTo(command);
        command.Options.Add(rescale);

        command.SetAction(result => CliErrors.Run(() =>
        {
            NativeRuntime.EnsureLoaded();
            generation.OutputPath(result);
            var options = common.LoadOptions(result);
            var modelDir = common.ResolveModel(result);
            var seed = generation.ResolveSeed(result);

            using var pipeline = DiffusionPipeline.FromPretrained(modelDir, options);
            if (pipeline is not StableDiffusionPipeline sd)
                throw new NotSupportedException($"{modelDir} holds a {pipeline.ClassName}; 'generate' runs text-to-image pipelines.");
            SchedulerSwap.Apply(sd.Scheduler, sd.SetScheduler, result.GetValue(generation.Scheduler), result.GetValue(generation.SchedulerOverrides)!);

            var input = new StableDiffusionInput
            {
                Prompt = result.GetValue(generation.Prompt)!,
                NegativePrompt = result.GetValue(generation.NegativePrompt) is { } n ? [n] : null,
                NumInferenceSteps = result.GetValue(generation.Steps),
                GuidanceScale = result.GetValue(generation.Guidance),
                GuidanceRescale = result.GetValue(rescale),
                ClipSkip = result.GetValue(generation.ClipSkip),
                Width = result.GetValue(generation.Width),
                Height = result.GetValue(generation.Height),
                Seed = seed,
                NumImagesPerPrompt = result.GetValue(generation.NumImages),
                Eta = result.GetValue(generation.Eta),
            };
            using var images = ProgressReporter.Run(input.NumInferenceSteps, callback => sd.Generate(input with { CallbackOnStepEnd = callback }));
            return generation.Finish(result, images.Images!, seed);
        }));
        return command;
    }
}

/// <summary>Swaps a pipeline's scheduler the way diffusers' <c>X.from_config(pipe.scheduler.config)</c> does, with key overrides.</summary>
internal static class SchedulerSwap
{
    public static void Apply(SchedulerMixin current, Action<SchedulerMixin> setScheduler, string? className, IReadOnlyList<string> overrides)
    {
        if (className is null && overrides.Count == 0) return;
        var config = current.Config.Clone();
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
        setScheduler(SchedulerFactory.FromConfig(className ?? current.ClassName, config));
    }
}
