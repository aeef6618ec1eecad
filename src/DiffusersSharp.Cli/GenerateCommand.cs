using System.CommandLine;
using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Runtime;

namespace DiffusersSharp.Cli;

/// <summary><c>diffuse generate</c>: text-to-image, writing PNGs.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var generation = new GenerationOptions("the model's");
        var command = new Command("generate", "Generate images from text prompts (text-to-image).");
        generation.AddTo(command);

        command.SetAction(result => CliErrors.Run(() =>
        {
            NativeRuntime.EnsureLoaded();
            return generation.Run(result, Open, (pipeline, arguments) =>
                pipeline.Generate(arguments.ApplyTo(new StableDiffusionInput { Width = arguments.Width, Height = arguments.Height })));
        }));
        return command;
    }

    private static StableDiffusionPipeline Open(string modelDir, LoadOptions options)
    {
        var pipeline = DiffusionPipeline.FromPretrained(modelDir, options);
        if (pipeline is StableDiffusionPipeline sd) return sd;
        pipeline.Dispose();
        throw new NotSupportedException($"{modelDir} holds a {pipeline.ClassName}; 'generate' runs text-to-image pipelines (see 'diffuse img2img', 'diffuse inpaint' and 'diffuse controlnet').");
    }
}
