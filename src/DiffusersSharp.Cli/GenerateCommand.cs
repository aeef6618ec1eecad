using System.CommandLine;
using System.Globalization;
using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Pipelines.StableDiffusionXL;
using DiffusersSharp.Runtime;

namespace DiffusersSharp.Cli;

/// <summary><c>diffuse generate</c>: text-to-image with the pipeline class the model folder names (Stable Diffusion or SDXL), writing PNGs.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var generation = new GenerationOptions("the model's");
        var prompt2 = new Option<string[]>("--prompt-2")
        {
            Description = "SDXL: prompt for the second text encoder, one per --prompt (default: the --prompt).",
            AllowMultipleArgumentsPerToken = false,
        };
        var negative2 = new Option<string?>("--negative-prompt-2") { Description = "SDXL: negative prompt for the second text encoder (default: --negative-prompt). As in diffusers, without --negative-prompt SDXL uses zeros as the negative and ignores this." };
        var originalSize = new Option<string?>("--original-size") { Description = "SDXL micro-conditioning: H,W of the picture the image should seem taken from (default: the output size)." };
        var targetSize = new Option<string?>("--target-size") { Description = "SDXL micro-conditioning: H,W the image should seem made for (default: the output size)." };
        var crops = new Option<string?>("--crops-coords-top-left") { Description = "SDXL micro-conditioning: TOP,LEFT of the crop the image should seem cut at (default: 0,0)." };
        Option[] sdxlOptions = [prompt2, negative2, originalSize, targetSize, crops];

        var command = new Command("generate", "Generate images from text prompts (text-to-image).");
        generation.AddTo(command);
        foreach (var option in sdxlOptions)
            command.Options.Add(option);

        command.SetAction(result => CliErrors.Run(() =>
        {
            NativeRuntime.EnsureLoaded();
            // The SDXL options are read and checked before any weights load.
            var sdxlGiven = sdxlOptions.Where(o => result.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
            var sdxl = new StableDiffusionXLInput
            {
                Prompt2 = result.GetValue(prompt2) is { Length: > 0 } p2 ? p2 : null,
                NegativePrompt2 = result.GetValue(negative2) is { } n2 ? [n2] : null,
                OriginalSize = ParsePair(result.GetValue(originalSize), originalSize.Name, "H,W"),
                TargetSize = ParsePair(result.GetValue(targetSize), targetSize.Name, "H,W"),
                CropsCoordsTopLeft = ParsePair(result.GetValue(crops), crops.Name, "TOP,LEFT") ?? (0, 0),
            };
            return generation.Run(result, (modelDir, options) => Open(modelDir, options, sdxlGiven), (pipeline, arguments) =>
                pipeline is StableDiffusionXLPipeline xl
                    ? xl.Generate(arguments.ApplyTo(sdxl with { Width = arguments.Width, Height = arguments.Height }))
                    : ((StableDiffusionPipeline)pipeline).Generate(arguments.ApplyTo(new StableDiffusionInput { Width = arguments.Width, Height = arguments.Height })));
        }));
        return command;
    }

    /// <summary>Opens a text-to-image folder, refusing other pipeline classes and, outside SDXL, the SDXL options before loading.</summary>
    private static DiffusionPipeline Open(string modelDir, LoadOptions options, IReadOnlyList<string> sdxlOptionsGiven)
    {
        var className = ModelIndex.Load(modelDir).ClassName;
        if (className is not ("StableDiffusionPipeline" or "StableDiffusionXLPipeline"))
            throw new NotSupportedException(
                $"{modelDir} holds a {className}; 'generate' runs text-to-image pipelines (see 'diffuse img2img', 'diffuse inpaint' and 'diffuse controlnet').");
        if (sdxlOptionsGiven.Count > 0 && className != "StableDiffusionXLPipeline")
            throw new ArgumentException($"{string.Join(", ", sdxlOptionsGiven)} only apply to SDXL models; {modelDir} holds a {className}.");
        return DiffusionPipeline.FromPretrained(modelDir, options);
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
