using System.CommandLine;
using DiffusersSharp.Images;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Runtime;

namespace DiffusersSharp.Cli;

/// <summary><c>diffuse img2img</c>: image-to-image, writing PNGs the size of the input image.</summary>
internal static class Img2ImgCommand
{
    public static Command Create()
    {
        var generation = new GenerationOptions(defaultSize: null);
        var image = new Option<string>("--image", "-i") { Description = "Image to start from (PNG, JPEG, ...); sized down to a multiple of 8 if needed.", Required = true };
        var strength = new Option<double>("--strength")
        {
            Description = "How much to change the image, in [0, 1]: only the last strength × steps steps run (1 ignores the image).",
            DefaultValueFactory = _ => 0.8,
        };

        var command = new Command("img2img", "Transform an image under text prompts (image-to-image, SDEdit).");
        generation.AddTo(command);
        command.Options.Add(image);
        command.Options.Add(strength);

        command.SetAction(result => CliErrors.Run(() =>
        {
            NativeRuntime.EnsureLoaded();
            using var picture = ImageIO.LoadRgb(result.GetValue(image)!);
            var input = new StableDiffusionImg2ImgInput { Image = picture, Strength = result.GetValue(strength) };
            return generation.Run(result, StableDiffusionImg2ImgPipeline.FromPretrained, (pipeline, arguments) => pipeline.Generate(arguments.ApplyTo(input)));
        }));
        return command;
    }
}
