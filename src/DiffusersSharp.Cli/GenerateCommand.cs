using System.CommandLine;
using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
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
        var generation = new GenerationOptions();
        var (width, height) = GenerationOptions.SizeOptions("the model's");

        var command = new Command("generate", "Generate images from text prompts (text-to-image).");
        generation.AddTo(command);
        command.Options.Add(width);
        command.Options.Add(height);

        command.SetAction(result => CliErrors.Run(() =>
        {
            NativeRuntime.EnsureLoaded();
            var input = new StableDiffusionInput { Width = result.GetValue(width), Height = result.GetValue(height) };
            return generation.Run(result, Open, input, (pipeline, i) => pipeline.Generate(i));
        }));
        return command;
    }

    private static StableDiffusionPipeline Open(string modelDir, LoadOptions options)
    {
        var pipeline = DiffusionPipeline.FromPretrained(modelDir, options);
        if (pipeline is StableDiffusionPipeline sd) return sd;
        pipeline.Dispose();
        throw new NotSupportedException($"{modelDir} holds a {pipeline.ClassName}; 'generate' runs text-to-image pipelines (see 'diffuse img2img' and 'diffuse inpaint').");
    }
}

/// <summary>Swaps a pipeline's scheduler the way diffusers' <c>X.from_config(pipe.scheduler.config)</c> does, with key overrides.</summary>
internal static class SchedulerSwap
{
    public static void Apply(StableDiffusionPipelineBase pipeline, string? className, IReadOnlyList<string> overrides)
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
