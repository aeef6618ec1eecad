using System.CommandLine;
using DiffusersSharp.Images;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Runtime;

namespace DiffusersSharp.Cli;

/// <summary><c>diffuse inpaint</c>: repaint the white part of a mask, writing PNGs.</summary>
internal static class InpaintCommand
{
    public static Command Create()
    {
        var generation = new GenerationOptions("the image's, rounded down to a multiple of 8");
        var image = new Option<string>("--image", "-i") { Description = "Image to repaint (PNG, JPEG, ...).", Required = true };
        var mask = new Option<string>("--mask") { Description = "Mask of the image's size: white is repainted, black kept (read as grayscale, split at 50%).", Required = true };
        var strength = new Option<double>("--strength")
        {
            Description = "How much to change the masked region, in [0, 1]; at 1 it starts from pure noise.",
            DefaultValueFactory = _ => 1.0,
        };

        var command = new Command("inpaint", "Repaint the masked part of an image under text prompts (an inpainting model, or any Stable Diffusion model by latent blending).");
        generation.AddTo(command);
        command.Options.Add(image);
        command.Options.Add(mask);
        command.Options.Add(strength);

        command.SetAction(result => CliErrors.Run(() =>
        {
            NativeRuntime.EnsureLoaded();
            var imagePath = result.GetValue(image)!;
            var maskPath = result.GetValue(mask)!;
            using var picture = ImageIO.LoadRgb(imagePath);
            using var maskPicture = ImageIO.LoadGray(maskPath);
            if (picture.shape[0] != maskPicture.shape[0] || picture.shape[1] != maskPicture.shape[1])
                throw new ArgumentException(
                    $"--mask {maskPath} is {maskPicture.shape[1]}x{maskPicture.shape[0]} but --image {imagePath} is {picture.shape[1]}x{picture.shape[0]}: the mask must have the image's size.");
            var input = new StableDiffusionInpaintInput { Image = picture, MaskImage = maskPicture, Strength = result.GetValue(strength) };
            return generation.Run(result, StableDiffusionInpaintPipeline.FromPretrained, (pipeline, arguments) =>
                pipeline.Generate(arguments.ApplyTo(input with { Width = arguments.Width, Height = arguments.Height })));
        }));
        return command;
    }
}
